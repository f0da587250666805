"""Tickets: list with filters and search, detail with the conversation, assign, change status, close.

Closing goes through TicketStore.change_status; the callbacks service picks up every closed ticket from
the database for the satisfaction callback. Phone numbers and names are masked unless the role may
see personal data (admin, operator), in the list, the detail and the transcript.
"""
from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote, urlencode

from aiohttp import web

from ground.store import audit
from admin.services import tickets as tq
from admin.common import actor, flash, form, redirect, render, role
from admin.keys import ENGINE, run_sync
from ground.roles import name_for, phone_for, sees_pii, text_for
from admin.security import requires
from ground.store import ALLOWED_TRANSITIONS, TicketStore, list_units
from ground.tables.tickets import REQUEST_TYPES, STATUSES
from ground.store.tickets import TicketStoreError

STATUS_LABELS = {"new": "新建", "dispatched": "已派单", "in_progress": "办理中", "closed": "已办结"}
TYPE_LABELS = {"consultation": "咨询", "help": "求助", "complaint": "投诉", "suggestion": "建议", "praise": "表扬"}


def _names(ticket) -> tuple[str, ...]:
    """The names known for a ticket: its contact and any name the dialogue collected (extra's *name* keys)."""
    names = [ticket.contact_name] if ticket.contact_name else []
    extra = ticket.extra if isinstance(ticket.extra, dict) else {}
    names += [v for k, v in extra.items() if "name" in str(k).lower() and isinstance(v, str) and v.strip()]
    return tuple(dict.fromkeys(names))


def _view(ticket, user_role: str) -> dict:
    """What the page shows of a ticket for this role."""
    names = _names(ticket)
    return {
        "t": ticket, "phone": phone_for(user_role, ticket.phone) or "", "name": name_for(user_role, ticket.contact_name) or "",
        "description": text_for(user_role, ticket.description, names),
        "address": text_for(user_role, ticket.address, names),
    }


@requires("tickets.read")
async def tickets_page(request: web.Request) -> web.Response:
    query = tq.TicketQuery.from_params(request.query)
    items, total = await run_sync(request.app, tq.find_tickets, request.app[ENGINE], query)
    choices = await run_sync(request.app, tq.filter_choices, request.app[ENGINE])
    params = {k: v for k, v in request.query.items() if k != "page" and v}
    return await render(request, "tickets.html", rows=[_view(t, role(request)) for t in items], total=total,
                        query=query, choices=choices, statuses=STATUSES, types=REQUEST_TYPES,
                        status_labels=STATUS_LABELS, type_labels=TYPE_LABELS, page_size=tq.PAGE_SIZE,
                        base=urlencode(params))


@requires("tickets.read")
async def ticket_page(request: web.Request) -> web.Response:
    store = TicketStore(request.app[ENGINE])
    ticket = await run_sync(request.app, store.get, request.match_info["no"])
    if ticket is None:
        raise web.HTTPNotFound()
    events = await run_sync(request.app, store.events, ticket.ticket_no)
    turns = await run_sync(request.app, tq.transcript, request.app[ENGINE], ticket.conversation_id)
    user_role = role(request)
    names = _names(ticket)
    shown_turns = [(t.speaker, text_for(user_role, t.text, names), t.at) for t in turns]
    # Operators' notes may quote the citizen: masked like the rest for roles without personal data.
    events = [replace(e, note=text_for(user_role, e.note, names) if e.note else e.note) for e in events]
    units = await run_sync(request.app, lambda: list_units(request.app[ENGINE]))
    # Who read a citizen's personal data or conversation, and when (issue 13, finding 5); no data itself.
    await run_sync(request.app, audit.record, request.app[ENGINE], actor(request), "ticket.read", ticket.ticket_no,
                   {"personal_data": sees_pii(user_role), "transcript_turns": len(turns)})
    return await render(request, "ticket.html", v=_view(ticket, user_role), events=events, turns=shown_turns,
                        units=units, next_statuses=sorted(ALLOWED_TRANSITIONS[ticket.status]),
                        status_labels=STATUS_LABELS, type_labels=TYPE_LABELS, pii=sees_pii(user_role))


@requires("tickets.write")
async def ticket_change(request: web.Request) -> web.Response:
    number = request.match_info["no"]
    data = await form(request)
    store = TicketStore(request.app[ENGINE])
    to_status = data.get("status", "")
    unit = data.get("assigned_unit", "").strip() or None
    note = data.get("note", "").strip() or None
    try:
        ticket = await run_sync(request.app, store.get, number)
        if ticket is None:
            raise web.HTTPNotFound()
        if to_status == ticket.status or not to_status:  # only (re)assign the unit
            if not unit:
                raise TicketStoreError("请选择状态或承办单位")
            await run_sync(request.app, lambda: store.assign(number, unit, actor(request), note))
            action, detail = "ticket.assign", {"from": ticket.assigned_unit, "unit": unit}
        else:
            await run_sync(request.app, lambda: store.change_status(number, to_status, actor(request), note, unit))
            action, detail = "ticket.status", {"from": ticket.status, "to": to_status, "unit": unit}
    except TicketStoreError as exc:
        await flash(request, f"操作失败：{exc}", "error")
    else:
        await run_sync(request.app, audit.record, request.app[ENGINE], actor(request), action, number, detail)
        await flash(request, "已办结，系统将安排满意度回访" if to_status == "closed" else "已更新工单")
    raise redirect(f"/tickets/{quote(number)}")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/tickets", tickets_page)
    app.router.add_get("/tickets/{no}", ticket_page)
    app.router.add_post("/tickets/{no}", ticket_change)
