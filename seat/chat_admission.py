"""Phone calls before chat (issue 14): admission control for chat in front of Rasa, and Rasa's own metrics.

One Rasa process is CPU-bound and works on every message it accepted at once, so a chat flood used to slow every
answer, including the phone's, until calls were handed to a person (`voice/session.py` hands a call over when
the dialogue takes longer than VOICE_DIALOGUE_TIMEOUT_S). Here chat messages on the REST webhook (plain REST
clients and the citizen page's relay, channel `web`) get one of CHAT_MAX_INFLIGHT slots; beyond that they wait
in a FIFO queue of at most CHAT_MAX_QUEUE for at most CHAT_QUEUE_TIMEOUT_S, and otherwise get a fast HTTP 503
with a Mandarin sentence and `Retry-After`, in the REST channel's own answer format. Messages of the voice
channel (the voice gateway and the talk button: `metadata.channel == "voice"`, which Rasa keeps only from the
seat's own services, see seat.rasa_run.guard_channels) are never queued or refused. WeChat's webhook is not
admitted here either: WeChat retries a message it got no answer for, and its channel already answers by
customer-service message after WECHAT_REPLY_DEADLINE_S.

The slot is held for the whole handler (the webhook route's handler is wrapped, so a client that disconnects
mid-turn still gives its slot back). Every webhook request is also counted and timed by channel.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections import deque
from typing import Any, Awaitable, Callable, Optional

from prometheus_client import Counter, Gauge, Histogram
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response
from sanic.response import raw

from ground.metrics import CONTENT_TYPE, LATENCY_BUCKETS, channel_label, exposition
from ground.settings import LoadSettings

log = logging.getLogger(__name__)

BUSY = "当前咨询人数较多，请稍后再试，或拨打12345热线。"
RETRY_AFTER_S = 10
REST_PATH = "webhooks/rest/webhook"
WEBHOOKS = "webhooks/"

MESSAGES = Counter("seat_rasa_messages", "Channel messages Rasa answered, by channel and result "
                   "(ok, error, busy = refused by chat admission)", ["channel", "result"])
MESSAGE_SECONDS = Histogram("seat_rasa_message_seconds", "Time Rasa took for one channel message (handler, "
                            "queueing for a chat slot included), by channel", ["channel"], buckets=LATENCY_BUCKETS)
CHAT_INFLIGHT = Gauge("seat_chat_inflight", "Chat messages Rasa is working on now (at most CHAT_MAX_INFLIGHT)")
CHAT_QUEUED = Gauge("seat_chat_queued", "Chat messages waiting for a slot now (at most CHAT_MAX_QUEUE)")
CHAT_ADMISSION = Counter("seat_chat_admission", "Chat admission decisions: admitted, or refused because the "
                         "queue was full (queue_full) or the wait too long (timeout)", ["result"])
CHAT_WAIT = Histogram("seat_chat_queue_wait_seconds", "How long an admitted or refused chat message waited for a "
                      "slot", buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0))


class ChatAdmission:
    """At most `max_inflight` holders; up to `max_queue` waiters, first come first served, each for at most
    `timeout_s`. `enter()` → True (hold a slot: call `leave()` once) or False (refused)."""

    def __init__(self, max_inflight: int, max_queue: int, timeout_s: float) -> None:
        if max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        self.max_inflight, self.max_queue, self.timeout_s = max_inflight, max_queue, timeout_s
        self.inflight = 0
        self._waiters: deque[asyncio.Future[bool]] = deque()
        self.refused: dict[str, int] = {"queue_full": 0, "timeout": 0}

    @classmethod
    def from_settings(cls, load: LoadSettings) -> "ChatAdmission":
        return cls(load.chat_max_inflight, load.chat_max_queue, load.chat_queue_timeout_s)

    @property
    def queued(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    def _publish(self) -> None:
        CHAT_INFLIGHT.set(self.inflight)
        CHAT_QUEUED.set(self.queued)

    def _refuse(self, why: str, started: float) -> bool:
        self.refused[why] += 1
        CHAT_ADMISSION.labels(why).inc()
        CHAT_WAIT.observe(time.perf_counter() - started)
        self._publish()
        return False

    async def enter(self) -> bool:
        started = time.perf_counter()
        if self.inflight < self.max_inflight and not self.queued:
            self.inflight += 1
            CHAT_ADMISSION.labels("admitted").inc()
            CHAT_WAIT.observe(0.0)
            self._publish()
            return True
        if self.queued >= self.max_queue:
            return self._refuse("queue_full", started)
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._publish()
        admitted = False
        try:
            await asyncio.wait({waiter}, timeout=self.timeout_s)  # never cancels the waiter itself
        finally:
            admitted = waiter.done() and not waiter.cancelled()
            if not admitted:
                waiter.cancel()
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
        if not admitted:
            return self._refuse("timeout", started)
        CHAT_ADMISSION.labels("admitted").inc()
        CHAT_WAIT.observe(time.perf_counter() - started)
        self._publish()
        return True

    async def enter_or_release(self) -> bool:
        """`enter()`, giving a slot that was handed over back if this task is cancelled meanwhile."""
        task = asyncio.ensure_future(self.enter())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(lambda t: (not t.cancelled() and t.exception() is None and t.result())
                                   and self.leave())
            raise

    def leave(self) -> None:
        """Give a slot back: to the first live waiter, else free."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)  # the slot passes on: inflight unchanged
                self._publish()
                return
        self.inflight = max(0, self.inflight - 1)
        self._publish()


def busy_response(sender: Any) -> HTTPResponse:
    """503 in the REST channel's answer format (a client shows the text), with Retry-After."""
    recipient = sender if isinstance(sender, str) else ""
    return json_response([{"recipient_id": recipient, "text": BUSY}], status=503,
                         headers={"Retry-After": str(RETRY_AFTER_S)}, ensure_ascii=False)


def _payload(request: Request) -> Any:
    parsed = getattr(request, "parsed_json", None)  # seat.rasa_run.guard_channels leaves the cleaned body here
    if parsed is not None:
        return parsed
    try:
        return json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return None


def request_channel(request: Request, path: str) -> str:
    """The channel label of a webhook request: the REST metadata's channel (kept only from the seat's
    services), else the webhook's own name."""
    name = path[len(WEBHOOKS):].split("/", 1)[0] if path.startswith(WEBHOOKS) else "other"
    if name != "rest":
        return channel_label(name)
    body = _payload(request)
    metadata = body.get("metadata") if isinstance(body, dict) else None
    channel = metadata.get("channel") if isinstance(metadata, dict) else None
    return channel_label(channel) if channel else "rest"


Handler = Callable[..., Awaitable[Any]]


def wrap_webhook(handler: Handler, path: str, admission: Optional[ChatAdmission]) -> Handler:
    """`handler` of a channel webhook, counted and timed by channel; REST chat behind `admission`."""

    @functools.wraps(handler)
    async def webhook(request: Request, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        channel = request_channel(request, path)
        chat = admission is not None and path == REST_PATH and channel != "voice" and request.method == "POST"
        if chat and not await admission.enter_or_release():
            MESSAGES.labels(channel, "busy").inc()
            body = _payload(request)
            log.warning("chat message refused: %d in flight, %d waiting (CHAT_MAX_INFLIGHT / CHAT_MAX_QUEUE)",
                        admission.inflight, admission.queued)
            return busy_response(body.get("sender") if isinstance(body, dict) else None)
        result = "error"
        try:
            response = await handler(request, *args, **kwargs)
            status = getattr(response, "status", 200)
            result = "ok" if status < 400 else "error"
            return response
        finally:
            if chat:
                admission.leave()
            MESSAGES.labels(channel, result).inc()
            MESSAGE_SECONDS.labels(channel).observe(time.perf_counter() - started)

    return webhook


async def metrics(_: Request) -> HTTPResponse:
    """`GET /metrics`: this Rasa process's metrics."""
    return raw(exposition(), content_type=CONTENT_TYPE)


def install(app: Sanic, load: LoadSettings) -> ChatAdmission:
    """Wrap every channel webhook route of `app` (counted by channel; REST chat admitted) and add `/metrics`.
    Call it after Rasa registered its channels and before the app starts."""
    admission = ChatAdmission.from_settings(load)
    wrapped = 0
    for route in app.router.routes:
        path = route.path.strip("/")
        if path.startswith(WEBHOOKS) and not getattr(route.handler, "seat_wrapped", False):
            route.handler = wrap_webhook(route.handler, path, admission)
            route.handler.seat_wrapped = True  # type: ignore[attr-defined]
            wrapped += 1
    if not any(r.path.strip("/") == REST_PATH for r in app.router.routes):
        log.warning("no REST webhook among Rasa's routes: chat admission is idle")
    app.add_route(metrics, "/metrics", methods=["GET"], name="seat_metrics")
    app.ctx.seat_admission = admission
    log.info("chat admission: %d in flight, %d queued, %.1f s wait; %d webhook routes counted",
             admission.max_inflight, admission.max_queue, admission.timeout_s, wrapped)
    return admission
