"""The citizen web page: text chat, a live events socket, and the talk button's voice socket.

One aiohttp app (``create_app``) serves ``web/static`` at ``/``, relays typed chat messages to
Rasa's REST webhook (``POST /api/chat``), keeps an events WebSocket per open page
(``/ws/events?sender=``) so other services can post bot messages into a live chat
(``POST /internal/push``), and runs one spoken call per ``/ws/voice`` socket (``voice.browser``).
The self-service form and the status page are registered by ``web.form``.
Run it with ``seat serve web`` or ``python -m web.app``.
"""
from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable
from urllib.parse import urlsplit

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

from prometheus_client import Counter, Histogram

from ground.health import health_answer, http_ok
from ground.metrics import LATENCY_BUCKETS, start_metrics_site
from ground.rasa_client import RasaClient
from ground.settings import (DEFAULT_ENDPOINT_MS, PUSH_TOKEN_HEADER, Settings, current, default_database_url,
                             push_token, rasa_auth_token)
from voice import asr
from voice.browser import SAMPLE_RATE as BROWSER_RATE
from voice.browser import BrowserCalls
from voice.session import CallSession, SessionConfig
from web import form
from web.limits import Concurrent, RateLimiter, client_key

log = logging.getLogger("web.app")

CHAT_RELAY = Counter("seat_web_chat", "Chat messages the citizen page relayed to the dialogue, by result (ok, busy = "
                     "Rasa's chat admission refused it, error = Rasa unreachable or failing, limited = over the "
                     "client's WEB_CHAT_PER_MINUTE)", ["result"])
CHAT_RELAY_SECONDS = Histogram("seat_web_chat_seconds", "Time from the page's chat message to the dialogue's "
                               "answer, as the citizen sees it", buckets=LATENCY_BUCKETS)

STATIC_DIR = Path(__file__).resolve().parent / "static"
SENDER_RE = re.compile(r"^web-[0-9a-fA-F-]{8,64}$")
MAX_MESSAGE_CHARS = 2000
RASA_TIMEOUT_S = 60.0
UNREACHABLE = "客服系统暂时无法连接，请稍后再试。"
BUSY = "当前咨询人数较多，请稍后再试，或拨打12345热线。"  # Rasa's 503 (seat.chat_admission), passed on


@dataclass(frozen=True)
class WebConfig:
    """Where the page listens and what it talks to."""

    rasa_url: str = "http://127.0.0.1:5005"
    host: str = "0.0.0.0"
    port: int = 8000
    push_token: str | None = None  # WEB_PUSH_TOKEN: /internal/push needs it in X-Seat-Push-Token (None: no pushes)
    rasa_token: str | None = None  # the Rasa token: the relay's own metadata (channel) is kept only with it
    calls_per_client: int = 2  # WEB_CALLS_PER_CLIENT
    chat_per_minute: int = 30  # WEB_CHAT_PER_MINUTE
    pages_per_client: int = 10  # WEB_PAGES_PER_CLIENT
    vosk_model: str = ""  # model directory (VOSK_MODEL); "" = no voice
    max_voice_calls: int = 20
    endpoint_silence_ms: int = DEFAULT_ENDPOINT_MS  # VOICE_ENDPOINT_MS, as on the phone
    database_url: str = field(default_factory=default_database_url)  # the form files tickets into the store
    metrics_host: str = "127.0.0.1"  # METRICS_HOST
    metrics_port: int | None = None  # WEB_METRICS_PORT: /metrics on its own loopback port (None: not served)

    @classmethod
    def from_settings(cls, settings: Settings) -> "WebConfig":
        """WEB_HOST, WEB_PORT, RASA_URL / RASA_PORT, VOSK_MODEL, WEB_MAX_CALLS, VOICE_ENDPOINT_MS, WEB_PUSH_TOKEN."""
        return cls(
            rasa_url=settings.rasa.url,
            host=settings.web.host,
            port=settings.web.port,
            push_token=push_token(settings),
            rasa_token=rasa_auth_token(settings),
            calls_per_client=settings.web.calls_per_client,
            chat_per_minute=settings.web.chat_per_minute,
            pages_per_client=settings.web.pages_per_client,
            vosk_model=settings.voice.vosk_model,
            max_voice_calls=settings.web.max_calls,
            endpoint_silence_ms=settings.voice.endpoint_ms,
            database_url=settings.db.url,
            metrics_host=settings.metrics.host,
            metrics_port=settings.metrics.web_port,
        )


class EventHub:
    """The events sockets of the open pages, by citizen (sender id)."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[web.WebSocketResponse]] = {}

    def add(self, sender: str, ws: web.WebSocketResponse) -> None:
        self._sockets.setdefault(sender, set()).add(ws)

    def remove(self, sender: str, ws: web.WebSocketResponse) -> None:
        sockets = self._sockets.get(sender)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                del self._sockets[sender]

    def sockets(self) -> list[web.WebSocketResponse]:
        return [ws for sockets in self._sockets.values() for ws in sockets]

    def connected(self) -> int:
        """Open events sockets (a leak check)."""
        return sum(len(s) for s in self._sockets.values())

    async def deliver(self, sender: str, payload: dict[str, Any]) -> int:
        """Send `payload` to every open page of `sender`; how many got it."""
        delivered = 0
        for ws in list(self._sockets.get(sender, ())):
            if ws.closed:
                continue
            try:
                await ws.send_json(payload)
                delivered += 1
            except (ConnectionError, RuntimeError) as exc:
                log.info("events socket of %s gone while pushing: %s", sender, exc)
        return delivered


CONFIG_KEY = web.AppKey("config", WebConfig)
HTTP_KEY = web.AppKey("http", aiohttp.ClientSession)
HUB_KEY = web.AppKey("hub", EventHub)
MODEL_KEY = web.AppKey("vosk_model", asyncio.Task)  # loads the shared vosk.Model (None: no voice)
LIMITS_KEY = web.AppKey("client_limits", object)  # ClientLimits: what one client may use at a time
VOICE_KEY = web.AppKey("voice", BrowserCalls)  # the talk button's calls (voice.browser)
RASA_KEY = web.AppKey("rasa_client", object)  # ground.rasa_client.RasaClient shared by the calls


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def valid_sender(value: Any) -> bool:
    """A sender id the page makes: ``web-`` and a UUID."""
    return isinstance(value, str) and bool(SENDER_RE.match(value))


def same_origin(request: web.Request) -> bool:
    """Browsers send Origin on WebSockets: refuse sockets opened by other sites' pages."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


@dataclass
class ClientLimits:
    """Per-client limits of the page (issue 13, finding 8): chat messages a minute, open pages, spoken calls."""

    chat: RateLimiter
    pages: Concurrent
    calls: Concurrent

    @classmethod
    def of(cls, config: "WebConfig") -> "ClientLimits":
        return cls(RateLimiter(config.chat_per_minute, 60.0), Concurrent(config.pages_per_client),
                   Concurrent(config.calls_per_client))


TOO_MANY = "您的操作过于频繁，请稍后再试。如情况紧急请拨打12345热线。"


def _too_many(retry_after: int = 5) -> web.Response:
    return web.json_response({"error": TOO_MANY}, status=429, headers={"Retry-After": str(retry_after)},
                             dumps=_dumps)


async def voice_socket(request: web.Request) -> web.StreamResponse:
    """``/ws/voice``: the talk button (voice.browser), at most WEB_CALLS_PER_CLIENT calls per client at a time."""
    calls, client = request.app[LIMITS_KEY].calls, client_key(request)
    if calls.full(client):
        log.warning("voice call refused: client %s already holds %d calls", client, calls.open(client))
        return _too_many()
    with calls.holding(client):
        return await request.app[VOICE_KEY].handle(request)


def _refuse_voice(request: web.Request, sender: str | None) -> web.Response | None:
    """Why a talk-button socket is turned away: a sender id the page did not make, or another site's page."""
    if not valid_sender(sender):
        return _error(400, "连接被拒绝。")
    if not same_origin(request):
        return _error(403, "连接被拒绝。")
    return None


def _bot_message(reply: dict[str, Any]) -> dict[str, Any] | None:
    """What the page shows of one Rasa reply: text and buttons (title + payload)."""
    text = reply.get("text")
    buttons = [
        {"title": str(b.get("title", "")), "payload": str(b.get("payload", b.get("title", "")))}
        for b in reply.get("buttons") or () if isinstance(b, dict)
    ]
    if not text and not buttons:
        return None
    return {"text": str(text or ""), "buttons": buttons}


async def index(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def health(request: web.Request) -> web.Response:
    """200 when the dialogue (Rasa) answers, else 503 "degraded": the page serves, chat cannot (ground.health)."""
    app = request.app
    rasa = await http_ok(app[CONFIG_KEY].rasa_url.rstrip("/") + "/", app[HTTP_KEY])
    body, status = health_answer(
        {"rasa": rasa},
        voice=app[MODEL_KEY].done() and app[MODEL_KEY].result() is not None,
        voice_calls=len(app[VOICE_KEY].calls),
        pages=app[HUB_KEY].connected(),
    )
    return web.json_response(body, status=status)


async def chat(request: web.Request) -> web.Response:
    """``POST /api/chat {sender, message}`` → the bot's replies ``{"messages": [{text, buttons}]}``."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "请求格式不正确：需要 JSON。")
    if not isinstance(body, dict):
        return _error(400, "请求格式不正确：需要 JSON 对象。")
    sender, message = body.get("sender"), body.get("message")
    if not valid_sender(sender):
        return _error(400, "缺少有效的用户标识（sender）。")
    chat_limit, client = request.app[LIMITS_KEY].chat, client_key(request)
    if not chat_limit.hit(client):
        log.warning("chat refused: client %s over %d messages a minute", client, chat_limit.limit)
        CHAT_RELAY.labels("limited").inc()
        return _too_many(chat_limit.retry_after(client))
    if not isinstance(message, str) or not message.strip():
        return _error(400, "消息不能为空。")
    if len(message) > MAX_MESSAGE_CHARS:
        return _error(413, f"消息太长，请控制在 {MAX_MESSAGE_CHARS} 字以内。")
    config = request.app[CONFIG_KEY]
    url = config.rasa_url.rstrip("/") + "/webhooks/rest/webhook"
    payload = {"sender": sender, "message": message.strip(), "metadata": {"channel": "web"}}
    started = time.perf_counter()
    try:
        # The Rasa token lets Rasa keep the relay's own metadata (channel), which it drops from clients.
        headers = {"Authorization": f"Bearer {config.rasa_token}"} if config.rasa_token else None
        async with request.app[HTTP_KEY].post(url, json=payload, headers=headers) as resp:
            if resp.status == 503:  # Rasa's chat admission: too many at once (seat.chat_admission)
                log.warning("chat of %s: the dialogue is busy (503)", sender)
                CHAT_RELAY.labels("busy").inc()
                return web.json_response({"error": BUSY}, status=503, dumps=_dumps,
                                         headers={"Retry-After": resp.headers.get("Retry-After", "10")})
            if resp.status != 200:
                log.warning("chat of %s: Rasa answered HTTP %s", sender, resp.status)
                CHAT_RELAY.labels("error").inc()
                return _error(502, UNREACHABLE)
            replies = await resp.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as exc:
        log.warning("chat of %s: Rasa at %s unreachable: %s", sender, url, exc or type(exc).__name__)
        CHAT_RELAY.labels("error").inc()
        return _error(502, UNREACHABLE)
    CHAT_RELAY.labels("ok").inc()
    CHAT_RELAY_SECONDS.observe(time.perf_counter() - started)
    messages = [m for m in map(_bot_message, replies if isinstance(replies, list) else []) if m]
    return web.json_response({"messages": messages}, dumps=_dumps)


async def events_socket(request: web.Request) -> web.StreamResponse:
    """``/ws/events?sender=``: bot messages pushed by other services arrive here."""
    sender = request.query.get("sender")
    if not valid_sender(sender) or not same_origin(request):
        log.info("events socket refused: sender %r, origin %r", sender, request.headers.get("Origin"))
        return _error(400 if not valid_sender(sender) else 403, "连接被拒绝。")
    pages, client = request.app[LIMITS_KEY].pages, client_key(request)
    if pages.full(client):
        log.warning("events socket refused: client %s already holds %d", client, pages.open(client))
        return _too_many()
    with pages.holding(client):
        return await _events(request, sender)


async def _events(request: web.Request, sender: str) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=4096)
    await ws.prepare(request)
    hub = request.app[HUB_KEY]
    hub.add(sender, ws)
    try:
        await ws.send_json({"type": "hello"})
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data.strip() in ('{"type":"ping"}', "ping"):
                await ws.send_json({"type": "pong"})
                continue
            if msg.type == WSMsgType.ERROR:
                log.warning("events socket of %s: %s; closing", sender, ws.exception())
                break
            log.warning("events socket of %s: unexpected %s message (%d bytes); closing",
                     sender, msg.type.name, len(msg.data or b""))
            await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"unexpected message")
            break
    finally:
        hub.remove(sender, ws)
        if not ws.closed:
            await ws.close()  # also stops the heartbeat of a socket whose page vanished
    return ws


def _push_allowed(request: web.Request) -> bool:
    """With the push secret in the X-Seat-Push-Token header: never by address (behind a same-host proxy every
    internet client looks local), never in the query string (which access logs keep)."""
    token = request.app[CONFIG_KEY].push_token
    given = request.headers.get(PUSH_TOKEN_HEADER, "")
    return bool(token) and bool(given) and hmac.compare_digest(given.encode(), token.encode())


async def push(request: web.Request) -> web.Response:
    """``POST /internal/push {sender, messages: [{text, buttons?}]}``: 202 delivered, 404 not connected."""
    if not _push_allowed(request):
        log.warning("push refused from %s: no valid %s header", request.remote, PUSH_TOKEN_HEADER)
        return _error(403, f"forbidden: the push secret (header {PUSH_TOKEN_HEADER}) is required")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "body must be JSON")
    sender = body.get("sender") if isinstance(body, dict) else None
    raw = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(sender, str) or not sender or not isinstance(raw, list):
        return _error(400, "expected {sender, messages: [{text}]}")
    messages = [m for m in (_bot_message(r) for r in raw if isinstance(r, dict)) if m]
    if not messages:
        return _error(400, "no message with text or buttons")
    delivered = await request.app[HUB_KEY].deliver(sender, {"type": "bot", "messages": messages})
    if not delivered:
        return web.json_response({"delivered": 0}, status=404)
    return web.json_response({"delivered": delivered}, status=202)


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    """One HTTP client for the chat relay, one Rasa client shared by the voice calls."""
    timeout = aiohttp.ClientTimeout(total=RASA_TIMEOUT_S)
    rasa = RasaClient(app[CONFIG_KEY].rasa_url, token=app[CONFIG_KEY].rasa_token)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        app[HTTP_KEY] = http
        app[RASA_KEY] = rasa
        try:
            yield
        finally:
            await rasa.close()


async def _metrics_site(app: web.Application) -> AsyncIterator[None]:
    """`/metrics` on WEB_METRICS_PORT (loopback): never on the page's public port."""
    config = app[CONFIG_KEY]
    runner = None
    if config.metrics_port is not None:
        try:
            runner, port = await start_metrics_site(config.metrics_host, config.metrics_port)
            log.info("metrics on http://%s:%d/metrics", config.metrics_host, port)
        except OSError as exc:
            log.error("metrics not served: %s:%s: %s (set WEB_METRICS_PORT)", config.metrics_host,
                      config.metrics_port, exc)
    yield
    if runner is not None:
        await runner.cleanup()


async def _load_model(path: str) -> Any:
    if not path:
        log.warning("talk button disabled: set %s to a Vosk model directory to enable speech", asr.MODEL_ENV)
        return None
    try:
        model = await asyncio.to_thread(asr.load_model, path)
    except asr.AsrError as exc:
        log.error("talk button disabled: %s", exc)
        return None
    log.info("speech recognition ready: Vosk model %s", path)
    return model


async def speech_model(app: web.Application) -> Any:
    """The shared Vosk model once loaded, or None when the page has no voice."""
    return await asyncio.shield(app[MODEL_KEY])


async def _speech_model(app: web.Application) -> AsyncIterator[None]:
    """Load the shared Vosk model once, in a thread, while the page already serves chat."""
    config = app[CONFIG_KEY]
    app[MODEL_KEY] = asyncio.create_task(_load_model(config.vosk_model))
    yield
    if not app[MODEL_KEY].done():
        app[MODEL_KEY].cancel()
    await asyncio.gather(app[MODEL_KEY], return_exceptions=True)


async def _close_calls(app: web.Application) -> None:
    """On shutdown, before connections are cut: end live calls (sessions closed, pages told)."""
    await app[VOICE_KEY].shutdown()
    await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
                           for ws in app[HUB_KEY].sockets()))


def create_app(config: WebConfig | None = None, session_factory: Callable[..., Any] | None = None) -> web.Application:
    """The citizen page app. `session_factory` builds a CallSession (default: voice.session's)."""
    app = web.Application(client_max_size=64 * 1024)
    config = app[CONFIG_KEY] = config or WebConfig.from_settings(current())
    app[HUB_KEY] = EventHub()
    app[LIMITS_KEY] = ClientLimits.of(config)
    if session_factory is None:
        session_factory = CallSession
    app[VOICE_KEY] = BrowserCalls(
        refuse=_refuse_voice, speech_model=lambda: speech_model(app),
        session_config=lambda: SessionConfig(rasa_url=config.rasa_url, sample_rate=BROWSER_RATE, transport="browser",
                                             endpoint_silence_ms=config.endpoint_silence_ms),
        session_factory=session_factory, rasa=lambda: app[RASA_KEY], max_calls=config.max_voice_calls)
    app.cleanup_ctx.extend([_http_client, _speech_model, _metrics_site])
    app.on_shutdown.append(_close_calls)
    app.router.add_get("/", index)
    app.router.add_get("/health", health)
    app.router.add_post("/api/chat", chat)
    app.router.add_get("/ws/events", events_socket)
    app.router.add_get("/ws/voice", voice_socket)
    app.router.add_post("/internal/push", push)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    form.setup(app, database_url=config.database_url)  # the self-service form and the status page
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m web.app", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="listen address (default WEB_HOST or 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port (default WEB_PORT or 8000)")
    parser.add_argument("--rasa-url", help="Rasa server base URL (default http://127.0.0.1:$RASA_PORT)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        config = WebConfig.from_settings(current())
    except ValueError as exc:  # a bad number in the environment: say which, no traceback
        raise SystemExit(f"citizen web page: bad setting: {exc}") from None
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("rasa_url", args.rasa_url)) if v}
    config = WebConfig(**{**config.__dict__, **overrides})
    log.info("citizen page on http://localhost:%d/ (Rasa at %s)", config.port, config.rasa_url)
    web.run_app(create_app(config), host=config.host, port=config.port, print=None)


if __name__ == "__main__":
    main()
