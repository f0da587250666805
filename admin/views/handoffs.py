"""The operator workspace (issue 16): the live queue of handoffs, taking over a chat, phone pops, closing.

``/handoffs`` is the page; ``/api/handoffs/stream`` is its server-sent event stream (the queue, and the chats the
operator holds, polled every second; each tick also marks the operator present for the wait estimates). Claiming
is race-safe in the store (exactly one operator wins); taking over a chat pauses the bot through Rasa's HTTP API
and tells the citizen a person joined. An operator who leaves (button) or whose workspace stops pinging for
``operator_gone_s`` puts their chats back in the queue and the bot resumes.
"""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone
from typing import Any, AsyncIterator

from aiohttp import web
from aiohttp_sse import sse_response

from admin.common import actor, render, role
from admin.keys import CONFIG, ENGINE, run_sync
from admin.security import requires
from admin.services import handoffs as hv
from admin.services.conversation_control import (
    RESOLVED,
    ControlConfig,
    ControlError,
    ConversationControl,
    bot_event,
    released_sentence,
)
from bot.dispatch import suggest_unit
from bot.form_rules import options, validate
from bot.readback import ticket_filed
from ground.store import audit
from ground.store import handoffs as store
from ground.store.tickets import TicketDraft, TicketStore
from wechat.client import CustomerService

log = logging.getLogger(__name__)
CONTROL = web.AppKey("conversation_control", ConversationControl)
MAX_MESSAGE = 1000


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str))


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


def _live_chat(handoff: store.Handoff) -> bool:
    """The citizen is in a chat the operator takes over (not a phone call, not a call-back already filed)."""
    return not hv.is_phone(handoff) and handoff.outcome != "callback_ticket"


async def _handoff(request: web.Request) -> store.Handoff:
    try:
        handoff_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound()
    found = await run_sync(request.app, store.get, request.app[ENGINE], handoff_id)
    if found is None:
        raise web.HTTPNotFound(text=json.dumps({"error": "没有这个转人工记录"}), content_type="application/json")
    return found


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


async def _detail(request: web.Request, handoff: store.Handoff) -> dict[str, Any]:
    """The handoff with its transcript and the ticket form's first values."""
    user_role = role(request)
    data = hv.view(handoff, user_role, _now())
    tracker: dict[str, Any] = {}
    try:
        tracker = await request.app[CONTROL].tracker(handoff.conversation_id)
    except ControlError as exc:
        data["transcript_error"] = "对话记录暂时无法读取"
        log.warning("tracker of handoff %s: %s", handoff.id, exc)
    data["turns"] = hv.turns(tracker, user_role, hv.names_of(handoff.collected))
    data["prefill"] = hv.prefill(handoff, hv.slots_of(tracker)) if handoff.claimed_by == actor(request) else {}
    return data


async def _my_handoff(request: web.Request) -> store.Handoff:
    """The handoff of the URL, when this operator holds it; 409 (JSON, as `_error`) when someone else does."""
    handoff = await _handoff(request)
    if handoff.status != "claimed" or handoff.claimed_by != actor(request):
        holder = f"（{handoff.claimed_by}）" if handoff.claimed_by else ""
        raise web.HTTPConflict(text=json.dumps({"error": f"这个会话不在您手上{holder}，请刷新队列"}, ensure_ascii=False),
                               content_type="application/json")
    return handoff


@requires("handoffs")
async def workspace_page(request: web.Request) -> web.Response:
    return await render(request, "handoffs.html", form_options=options(), poll_s=request.app[CONFIG].workspace_poll_s)


@requires("handoffs")
async def handoff_detail(request: web.Request) -> web.Response:
    handoff = await _handoff(request)
    await run_sync(request.app, audit.record, request.app[ENGINE], actor(request), "handoff.read", str(handoff.id),
                   {"conversation": handoff.conversation_id})
    return _json(await _detail(request, handoff))


@requires("handoffs")
async def by_call(request: web.Request) -> web.Response:
    """The phone pop: the handoff of a call id (the HANDOFF_ID the dialplan set, or the call id ARI/AMI gives)."""
    call = request.match_info["call_id"].strip()
    if call.upper().startswith("HO") and call[2:].isdigit():  # as shown on the agent's phone (README)
        call = call[2:]
    found = None
    if call.isdigit():  # the handoff id the dialplan reads from the gateway's outcome
        found = await run_sync(request.app, store.get, request.app[ENGINE], int(call))
    if found is None:
        found = await run_sync(request.app, store.by_call, request.app[ENGINE], call)
    if found is None:
        return _error(404, f"没有找到通话 {call} 的转人工记录")
    return _json(hv.view(found, role(request), _now()))


@requires("handoffs")
async def claim(request: web.Request) -> web.Response:
    handoff = await _handoff(request)
    engine, operator, now = request.app[ENGINE], actor(request), _now()
    await run_sync(request.app, store.operator_seen, engine, operator, now)
    claimed = await run_sync(request.app, store.claim, engine, handoff.id, operator, now)
    if claimed is None:
        current = await run_sync(request.app, store.get, engine, handoff.id)
        who = f"已被{current.claimed_by}接入" if current and current.claimed_by else "已不在等待中"
        return _error(409, f"这个会话{who}")
    if _live_chat(claimed):
        try:
            await request.app[CONTROL].take_over(claimed.conversation_id, channel=claimed.channel)
        except ControlError as exc:
            log.warning("taking over handoff %s failed: %s; back in the queue", claimed.id, exc)
            await run_sync(request.app, store.release, engine, claimed.id, operator, _now())
            return _error(502, "对话服务暂时无法接管这个会话，已放回队列，请稍后再试")
    await run_sync(request.app, audit.record, engine, operator, "handoff.claim", str(claimed.id),
                   {"channel": claimed.channel})
    return _json(await _detail(request, claimed))


@requires("handoffs")
async def message(request: web.Request) -> web.Response:
    handoff = await _my_handoff(request)
    text = str((await _body(request)).get("text") or "").strip()
    if not text:
        return _error(422, "请输入要发送的内容")
    if len(text) > MAX_MESSAGE:
        return _error(422, f"一条消息请控制在{MAX_MESSAGE}字以内")
    if not _live_chat(handoff):
        return _error(409, "电话转接请直接在电话中与市民沟通")
    event = bot_event(text)
    event["metadata"] = {"operator": actor(request)}
    try:
        await request.app[CONTROL].append(handoff.conversation_id, [event])
    except ControlError as exc:
        log.warning("operator message for handoff %s not kept: %s", handoff.id, exc)
        return _error(502, "消息没有发出（对话服务暂时不可用），请重试")
    delivered = await request.app[CONTROL].push(handoff.conversation_id, [text], handoff.channel)
    return _json({"sent": True, "delivered": delivered}, 201)


async def _hand_back(app: web.Application, handoff: store.Handoff, text: str, keep_waiting: bool) -> bool:
    """Say `text` to the citizen and resume the bot (a chat only); False when Rasa refused."""
    if not _live_chat(handoff):
        return True
    try:
        await app[CONTROL].hand_back(handoff.conversation_id, text, keep_waiting=keep_waiting,
                                     channel=handoff.channel)
        return True
    except ControlError as exc:
        log.warning("handing back handoff %s failed: %s", handoff.id, exc)
        return False


@requires("handoffs")
async def release(request: web.Request) -> web.Response:
    handoff = await _my_handoff(request)
    try:
        released = await leave(request.app, handoff, actor(request))
    except store.HandoffError:
        return _error(409, "这个会话已不在您手上，请刷新队列")
    return _json(hv.view(released, role(request), _now()))


async def leave(app: web.Application, handoff: store.Handoff, operator: str) -> store.Handoff:
    """The operator left: the handoff waits again, the bot resumes and the citizen hears their place."""
    engine = app[ENGINE]
    released = await run_sync(app, store.release, engine, handoff.id, operator, _now())
    if _live_chat(released):
        position = await run_sync(app, store.queue_position, engine, released.id)
        wait_s = await run_sync(app, store.estimated_wait_s, engine, released.id, _now())
        await _hand_back(app, released, released_sentence(position, wait_s), keep_waiting=True)
    await run_sync(app, audit.record, engine, operator, "handoff.release", str(released.id), {})
    return released


@requires("handoffs")
async def file_ticket(request: web.Request) -> web.Response:
    """Finish with a ticket: the self-service form's rules, written with the operator as actor, channel kept."""
    handoff = await _my_handoff(request)
    body = await _body(request)
    clean, errors = validate(body, _now())
    if errors:
        return _json({"error": "请修改标出的内容后再提交", "errors": errors}, 422)
    operator, engine = actor(request), request.app[ENGINE]
    draft = TicketDraft(
        request_type=clean.request_type, description=clean.description, conversation_id=handoff.conversation_id,
        request_key=f"handoff-{handoff.id}", category=clean.category, district=clean.district,
        street=clean.street, address=clean.address, occurred_at=clean.occurred_at,
        contact_name=clean.contact_name, phone=clean.phone, confidential=clean.confidential,
        channel=handoff.channel,
        assigned_unit=suggest_unit(clean.category, clean.request_type, clean.district, clean.street),
    )
    ticket = await run_sync(request.app, TicketStore(engine).create_ticket, draft, operator)
    try:
        closed = await run_sync(request.app, lambda: store.close(engine, handoff.id, operator, "ticket", _now(),
                                                                 ticket_no=ticket.ticket_no))
    except store.HandoffError:  # released meanwhile (page gone too long): the ticket stands, the queue keeps it
        log.warning("handoff %s changed while its ticket %s was written", handoff.id, ticket.ticket_no)
        return _error(409, f"工单 {ticket.ticket_no} 已登记，但这个会话已不在您手上（已放回队列），请在队列中处理")
    said = ticket_filed(ticket.ticket_no, ticket.request_type, ticket.confidential)
    if _live_chat(closed):
        said = said.replace("感谢您的来电，再见。", "感谢您的反映，再见。")
    resumed = await _hand_back(request.app, closed, said, keep_waiting=False)
    await run_sync(request.app, audit.record, engine, operator, "handoff.ticket", str(closed.id),
                   {"ticket_no": ticket.ticket_no})
    return _json({"ticket_no": ticket.ticket_no, "said": said, "resumed": resumed,
                  "handoff": hv.view(closed, role(request), _now())}, 201)


@requires("handoffs")
async def resolve(request: web.Request) -> web.Response:
    """Finish without a ticket (answered, or nothing to file)."""
    handoff = await _my_handoff(request)
    note = str((await _body(request)).get("note") or "").strip()[:500] or None
    operator, engine = actor(request), request.app[ENGINE]
    try:
        closed = await run_sync(request.app, lambda: store.close(engine, handoff.id, operator, "resolved", _now(),
                                                                 note=note))
    except store.HandoffError:
        return _error(409, "这个会话已不在您手上，请刷新队列")
    resumed = await _hand_back(request.app, closed, RESOLVED, keep_waiting=False)
    await run_sync(request.app, audit.record, engine, operator, "handoff.resolve", str(closed.id), {})
    return _json({"resumed": resumed, "handoff": hv.view(closed, role(request), _now())})


@requires("handoffs")
async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``queue`` (the open handoffs, when they change) and ``turns`` (new messages of each
    chat this operator holds). Every tick marks the operator present."""
    app, operator, user_role = request.app, actor(request), role(request)
    async with sse_response(request) as sse:
        sse.ping_interval = 10
        try:
            await _stream_ticks(app, sse, operator, user_role)
        except ConnectionResetError:  # the page is gone; its presence lapses and the reaper takes over
            pass
    return sse


async def _stream_ticks(app: web.Application, sse, operator: str, user_role: str) -> None:
    engine, period = app[ENGINE], app[CONFIG].workspace_poll_s
    last_queue, seen_turns = None, {}
    while sse.is_connected():
        now = _now()
        await run_sync(app, store.operator_seen, engine, operator, now)
        queue = await run_sync(app, store.list_open, engine)
        views = [hv.view(h, user_role, now) for h in queue]
        signature = [(v["id"], v["status"], v["claimed_by"]) for v in views]
        if signature != last_queue:
            await sse.send(json.dumps({"items": views}, ensure_ascii=False), event="queue")
            last_queue = signature
        for handoff in queue:
            if handoff.claimed_by != operator or not _live_chat(handoff):
                continue
            try:
                tracker = await app[CONTROL].tracker(handoff.conversation_id)
            except ControlError:
                continue
            turns = hv.turns(tracker, user_role, hv.names_of(handoff.collected))
            if len(turns) != seen_turns.get(handoff.id):
                seen_turns[handoff.id] = len(turns)
                await sse.send(json.dumps({"id": handoff.id, "turns": turns}, ensure_ascii=False),
                               event="turns")
        await asyncio.sleep(period)


async def reap_gone_operators(app: web.Application) -> int:
    """Claimed chats whose operator's workspace stopped pinging go back to the queue, and live waits older than
    HANDOFF_ABANDON_MINUTES are marked abandoned (the citizen is gone). Returns how many chats went back."""
    config, engine = app[CONFIG], app[ENGINE]
    now = _now()
    await run_sync(app, store.mark_abandoned, engine, config.abandon_after, now)
    queue = await run_sync(app, store.list_open, engine)
    claimed = [h for h in queue if h.status == "claimed" and h.claimed_by]
    if not claimed:
        return 0
    present = await run_sync(app, hv.seen_operators, engine, now, config.operator_gone_s)
    released = 0
    for handoff in claimed:
        if handoff.claimed_by in present:
            continue
        try:
            await leave(app, handoff, handoff.claimed_by)
            released += 1
            log.info("handoff %s back in the queue: its operator's workspace is gone", handoff.id)
        except store.HandoffError:  # closed or released meanwhile (another console replica)
            continue
    return released


async def _workspace(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    wechat = config.settings.wechat
    app[CONTROL] = ConversationControl(ControlConfig(
        rasa_url=config.rasa_urls[0], rasa_token=config.rasa_auth_token(), push_url=config.push_url,
        push_token=config.web_push_token() if config.push_url else ""),
        wechat=CustomerService.from_settings(wechat) if wechat.can_push else None)

    async def reaper() -> None:
        while True:
            await asyncio.sleep(max(1.0, config.operator_gone_s / 4))
            try:
                await reap_gone_operators(app)
            except Exception:  # keep reaping: a database hiccup must not stop it for good
                log.exception("checking for gone operators failed")

    task = asyncio.create_task(reaper())
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    await app[CONTROL].close()


def add_routes(app: web.Application) -> None:
    app.cleanup_ctx.append(_workspace)
    app.router.add_get("/handoffs", workspace_page)
    app.router.add_get("/api/handoffs/stream", stream)
    app.router.add_get("/api/handoffs/call/{call_id}", by_call)
    app.router.add_get("/api/handoffs/{id}", handoff_detail)
    app.router.add_post("/api/handoffs/{id}/claim", claim)
    app.router.add_post("/api/handoffs/{id}/message", message)
    app.router.add_post("/api/handoffs/{id}/release", release)
    app.router.add_post("/api/handoffs/{id}/ticket", file_ticket)
    app.router.add_post("/api/handoffs/{id}/resolve", resolve)
