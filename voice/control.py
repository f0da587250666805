"""The gateway's control API: what the dialplan (or the callbacks service) tells us about a call, and
what the call's outcome was.

AudioSocket carries only the call's UUID, so the caller number (and any context, e.g. a satisfaction
survey) is registered by UUID before the dialplan runs ``AudioSocket(uuid,host:9092)``:

    POST /calls/{uuid}           JSON {"caller": "139...", "context": {...}}
                                 or form fields caller=...&k=v (Asterisk's CURL(url,data) posts a form;
                                 fields other than caller become the context)
    GET  /calls/{uuid}           JSON {"state", "outcome", "handoff_reason", "handoff_id", "caller" (masked)}
    GET  /calls/{uuid}/outcome   plain text for the dialplan: handoff | bot_hangup | silence |
                                 caller_hangup | error | active | unknown
    GET  /calls/{uuid}/handoff   plain text for the dialplan's HANDOFF_ID: the queued handoff's id, or empty
    GET  /health                 "ok"

Every ``/calls`` request needs the control secret (VOICE_CONTROL_TOKEN) in the ``X-Seat-Voice-Token`` header
(issue 13, finding 7): a forged registration would put another caller number or survey context into a call.
Not by address (a same-host proxy makes everyone local), not in the query string (access logs keep it).
The dialplan sends it with ``CURLOPT(httpheader)`` (README "Phone line").

Whatever ``context`` holds goes into the Rasa metadata of every message of that call.
"""
from __future__ import annotations

import hmac
import logging
import time
import uuid as uuidlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from aiohttp import web

from ground.masking import mask_phone
from ground.settings import VOICE_CONTROL_TOKEN_HEADER

log = logging.getLogger("voice.control")

MAX_CALLS = 10000
TTL_S = 3600.0
MAX_BODY = 16384


@dataclass
class CallRecord:
    """What we know about one call UUID."""
    caller: Optional[str] = None
    context: dict[str, Any] = field(default_factory=dict)
    state: str = "registered"  # registered | active | ended
    outcome: Optional[str] = None  # the session's end reason
    handoff_reason: Optional[str] = None
    handoff_id: Optional[int] = None  # the queued handoff: the dialplan sets HANDOFF_ID from it
    updated: float = 0.0


class CallRegistry:
    """UUID -> CallRecord, bounded in size and age."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, ttl_s: float = TTL_S,
                 max_calls: int = MAX_CALLS) -> None:
        self._calls: "OrderedDict[str, CallRecord]" = OrderedDict()
        self._clock, self._ttl, self._max = clock, ttl_s, max_calls

    def _prune(self) -> None:
        now = self._clock()
        while self._calls:
            key, record = next(iter(self._calls.items()))
            if len(self._calls) > self._max or now - record.updated > self._ttl:
                del self._calls[key]
            else:
                break

    def get(self, call_id: str) -> Optional[CallRecord]:
        self._prune()
        return self._calls.get(call_id)

    def upsert(self, call_id: str, **changes: Any) -> CallRecord:
        record = self._calls.pop(call_id, None) or CallRecord()
        for key, value in changes.items():
            setattr(record, key, value)
        record.updated = self._clock()
        self._calls[call_id] = record  # most recently touched last
        self._prune()
        return record

    def __len__(self) -> int:
        return len(self._calls)


REGISTRY_KEY = web.AppKey("registry", CallRegistry)
TOKEN_KEY = web.AppKey("control_token", str)


@web.middleware
async def require_token(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    """Everything but /health needs the control secret in the X-Seat-Voice-Token header."""
    if request.path != "/health":
        given = request.headers.get(VOICE_CONTROL_TOKEN_HEADER, "")
        if not (given and hmac.compare_digest(given.encode(), request.app[TOKEN_KEY].encode())):
            log.warning("control API: refused %s %s from %s (%s)", request.method, request.path.split("/")[1],
                        request.remote, "wrong secret" if given else "no secret")
            raise web.HTTPForbidden(text=f"forbidden: the control secret (header {VOICE_CONTROL_TOKEN_HEADER}) "
                                         "is required\n")
    return await handler(request)


def _call_id(request: web.Request) -> str:
    raw = request.match_info["uuid"]
    try:
        return str(uuidlib.UUID(raw))
    except ValueError:
        raise web.HTTPBadRequest(text=f"not a UUID: {raw[:64]!r}\n") from None


async def register_call(request: web.Request) -> web.Response:
    call_id = _call_id(request)
    if request.content_length and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="body is not valid JSON\n") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="body must be a JSON object\n")
        caller, context = body.get("caller"), body.get("context") or {}
        if not isinstance(context, dict):
            raise web.HTTPBadRequest(text="context must be an object\n")
    else:
        form = dict(await request.post())
        caller = form.pop("caller", None)
        context = {k: str(v) for k, v in form.items()}
    if caller is not None and not isinstance(caller, str):
        raise web.HTTPBadRequest(text="caller must be a string\n")
    request.app[REGISTRY_KEY].upsert(call_id, caller=(caller or "").strip() or None, context=context)
    return web.json_response({"call_id": call_id, "registered": True}, status=201)


async def call_status(request: web.Request) -> web.Response:
    record = request.app[REGISTRY_KEY].get(_call_id(request))
    if record is None:
        raise web.HTTPNotFound(text="unknown call\n")
    return web.json_response({"state": record.state, "outcome": record.outcome,
                              "handoff_reason": record.handoff_reason, "handoff_id": record.handoff_id,
                              "caller": mask_phone(record.caller) if record.caller else None})


async def call_outcome(request: web.Request) -> web.Response:
    record = request.app[REGISTRY_KEY].get(_call_id(request))
    if record is None:
        return web.Response(text="unknown")
    return web.Response(text=record.outcome or ("active" if record.state == "active" else "unknown"))


async def call_handoff(request: web.Request) -> web.Response:
    """Plain text for the dialplan's HANDOFF_ID: the id of the call's queued handoff, or empty."""
    record = request.app[REGISTRY_KEY].get(_call_id(request))
    return web.Response(text=str(record.handoff_id) if record is not None and record.handoff_id else "")


async def health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app(registry: CallRegistry, token: str) -> web.Application:
    """The control API's aiohttp application over `registry`, behind the secret `token`."""
    if not token:
        raise ValueError("the voice control API needs a secret (VOICE_CONTROL_TOKEN)")
    app = web.Application(client_max_size=MAX_BODY, middlewares=[require_token])
    app[REGISTRY_KEY] = registry
    app[TOKEN_KEY] = token
    app.router.add_post("/calls/{uuid}", register_call)
    app.router.add_get("/calls/{uuid}", call_status)
    app.router.add_get("/calls/{uuid}/outcome", call_outcome)
    app.router.add_get("/calls/{uuid}/handoff", call_handoff)
    app.router.add_get("/health", health)
    return app
