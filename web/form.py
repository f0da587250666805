"""The self-service form (网络诉求自助填报) and the status page of the citizen web service.

- ``GET /form``, ``GET /status``: the pages (``web/static/form.html``, ``status.html``).
- ``GET /api/form/options``: request types, categories, districts and their streets.
- ``POST /api/requests``: JSON with the ticket's fields → 201 ``{ticket_no, message}``; 422 ``{errors:
  {field: Mandarin}}``; an ``Idempotency-Key`` header makes a double submit return the first ticket
  (``TicketStore.create_ticket`` is idempotent on conversation and request key). Tickets: channel ``web_form``.
- ``POST /api/status``: ``{ticket_no, phone}`` → the status sentence the bot says, only when both match.
- Per-client limits (429 in Mandarin): submissions and lookups per address, and failed lookups per
  ticket number (against guessing numbers).

``setup(app)`` registers all of it on the citizen page app.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Optional

from aiohttp import web

from bot.dispatch import suggest_unit
from bot.readback import ticket_filed
from bot.status import status_message
from ground.db import create_engine
from ground.settings import current
from ground.store.tickets import LOOKUP_WINDOW, TicketDraft, TicketStore, TooManyLookups
from bot.form_rules import options, validate
from web.limits import RateLimiter, client_key

log = logging.getLogger("web.form")

STATIC_DIR = Path(__file__).resolve().parent / "static"
CHANNEL = "web_form"
IDEMPOTENCY_RE = re.compile(r"^[A-Za-z0-9_-]{8,100}$")
TOO_MANY = "操作过于频繁，请稍后再试。如情况紧急请拨打12345热线。"
NOT_FOUND = "没有查到与这个编号和电话都匹配的工单，请核对后再试。"
TOO_MANY_LOOKUPS = "这个电话查询失败的次数太多了，为保护您的信息，请明天再查，或拨打12345热线。"


class FormService:
    """The store and the limits of the form and status endpoints."""

    def __init__(self, store_factory: Callable[[], TicketStore], clock: Callable[[], datetime] | None = None,
                 submits: RateLimiter | None = None, lookups: RateLimiter | None = None,
                 failed_per_ticket: RateLimiter | None = None) -> None:
        self._store_factory = store_factory
        self._store: Optional[TicketStore] = None
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.submits = submits or RateLimiter(5, 600)        # 5 requests per 10 minutes per client
        self.lookups = lookups or RateLimiter(10, 600)       # 10 status lookups per 10 minutes per client
        self.failed_per_ticket = failed_per_ticket or RateLimiter(5, 3600)  # 5 wrong phones per number per hour

    @property
    def store(self) -> TicketStore:
        if self._store is None:
            self._store = self._store_factory()
        return self._store


FORM_KEY = web.AppKey("form_service", FormService)


def _json(data: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _too_many(limiter: RateLimiter, key: str) -> web.Response:
    return _json({"error": TOO_MANY}, 429, {"Retry-After": str(limiter.retry_after(key))})


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


async def form_page(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "form.html", headers={"Cache-Control": "no-cache"})


async def status_page(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "status.html", headers={"Cache-Control": "no-cache"})


async def form_options(_: web.Request) -> web.Response:
    return _json(options(), headers={"Cache-Control": "max-age=300"})


async def create_request(request: web.Request) -> web.Response:
    service = request.app[FORM_KEY]
    client = client_key(request)
    key = request.headers.get("Idempotency-Key", "").strip()
    if key and not IDEMPOTENCY_RE.match(key):
        return _json({"error": "Idempotency-Key 格式不正确（8-100位字母、数字、-或_）。"}, 400)
    if service.submits.blocked(client):
        log.info("form submissions over the limit from %s", client)
        return _too_many(service.submits, client)
    body = await _body(request)
    if not isinstance(body, dict):
        return _json({"error": "请求格式不正确：需要 JSON 对象。", "errors": {}}, 400)
    clean, errors = validate(body, service.clock())
    if errors:
        return _json({"error": "请修改标出的内容后再提交。", "errors": errors}, 422)
    # one idempotency key = one ticket; without a key every submit is new
    request_key = key or uuid.uuid4().hex
    conversation = "web_form-" + hashlib.sha256(request_key.encode()).hexdigest()[:24]
    draft = TicketDraft(
        request_type=clean.request_type, description=clean.description, conversation_id=conversation,
        request_key=request_key, category=clean.category, district=clean.district, street=clean.street,
        address=clean.address, occurred_at=clean.occurred_at, contact_name=clean.contact_name,
        phone=clean.phone, confidential=clean.confidential, channel=CHANNEL,
        assigned_unit=suggest_unit(clean.category, clean.request_type, clean.district, clean.street),
    )
    try:
        ticket = await asyncio.to_thread(service.store.create_ticket, draft, "citizen:web_form")
    except Exception:
        log.exception("form request could not be stored")
        return _json({"error": "系统暂时无法登记，您填写的内容仍在页面上，请稍后再试或拨打12345热线。"}, 503)
    service.submits.hit(client)
    message = ticket_filed(ticket.ticket_no, ticket.request_type, ticket.confidential)
    message = message.replace("感谢您的来电，再见。", "感谢您的反映。")
    return _json({"ticket_no": ticket.ticket_no, "message": message}, 201)


async def ticket_status(request: web.Request) -> web.Response:
    service = request.app[FORM_KEY]
    client = client_key(request)
    if not service.lookups.hit(client):
        return _too_many(service.lookups, client)
    body = await _body(request)
    if not isinstance(body, dict):
        return _json({"error": "请求格式不正确：需要 JSON 对象。"}, 400)
    ticket_no, phone = str(body.get("ticket_no") or "").strip(), str(body.get("phone") or "").strip()
    errors = {}
    if not ticket_no:
        errors["ticket_no"] = "请填写工单编号。"
    if not phone:
        errors["phone"] = "请填写提交诉求时留的电话。"
    if errors:
        return _json({"error": "请填写工单编号和电话。", "errors": errors}, 422)
    number_key = re.sub(r"\D", "", ticket_no)[:14] or ticket_no[:20]
    if service.failed_per_ticket.blocked(number_key):
        return _too_many(service.failed_per_ticket, number_key)
    store = service.store
    try:
        ticket = await asyncio.to_thread(store.find_for_citizen, ticket_no, phone)
    except TooManyLookups:
        return _json({"error": TOO_MANY_LOOKUPS}, 429, {"Retry-After": str(int(LOOKUP_WINDOW.total_seconds()))})
    if ticket is None:
        service.failed_per_ticket.hit(number_key)
        return _json({"error": NOT_FOUND}, 404)
    events = await asyncio.to_thread(store.events, ticket.ticket_no)
    return _json({"ticket_no": ticket.ticket_no, "status": ticket.status, "text": status_message(ticket, events)})


def setup(app: web.Application, service: FormService | None = None, database_url: str | None = None) -> None:
    """Register the form and status pages and APIs on the citizen page app (tickets go to `database_url`'s store)."""
    if service is None:
        url = database_url or current().db.url
        service = FormService(lambda: TicketStore(create_engine(url)))
    app[FORM_KEY] = service

    async def _dispose(app: web.Application) -> AsyncIterator[None]:
        yield
        store = app[FORM_KEY]._store
        if store is not None:
            store.engine.dispose()

    app.cleanup_ctx.append(_dispose)
    app.router.add_get("/form", form_page)
    app.router.add_get("/status", status_page)
    app.router.add_get("/api/form/options", form_options)
    app.router.add_post("/api/requests", create_request)
    app.router.add_post("/api/status", ticket_status)
