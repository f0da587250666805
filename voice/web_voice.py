"""The talk button's WebSocket: one CallSession per socket, the browser as the telephone.

Browser → server: binary frames of 16 kHz signed 16-bit little-endian mono PCM (any even
length up to ``MAX_FRAME_BYTES``), and JSON text messages ``{"type": "played"}`` (the bot's
speech finished playing), ``{"type": "dtmf", "digit": "5"}``, ``{"type": "hangup"}``.
Server → browser: JSON events ``started``, ``partial``, ``final``, ``bot``, ``audio`` (a header
announcing the next binary frame: a WAV of the bot's speech), ``stop`` (barge-in: stop playing),
``handoff``, ``ended``, ``error``. Bad input is logged and ends the call with a close code.
"""
from __future__ import annotations

import asyncio
import io
import json
import logging
import wave
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from voice import web as page

log = logging.getLogger("voice.web")

SAMPLE_RATE = 16000
MAX_FRAME_BYTES = SAMPLE_RATE * 2  # one second of audio per message at most
DTMF_DIGITS = frozenset("0123456789*#ABCD")


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """16-bit mono PCM wrapped in a WAV header (what the browser's decodeAudioData reads)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
    return buf.getvalue()


def event_message(event: Any) -> dict[str, Any] | None:
    """The JSON the page gets for a session event (None for BotAudio: sent as header + WAV)."""
    from voice import session as s

    if isinstance(event, s.SessionStarted):
        return {"type": "started"}
    if isinstance(event, s.PartialTranscript):
        return {"type": "partial", "text": event.text}
    if isinstance(event, s.FinalTranscript):
        return {"type": "final", "text": event.text}
    if isinstance(event, s.BotText):
        return {"type": "bot", "text": event.text}
    if isinstance(event, s.StopPlayback):
        return {"type": "stop"}
    if isinstance(event, s.Handoff):
        return {"type": "handoff", "reason": event.reason}
    if isinstance(event, s.SessionEnded):
        return {"type": "ended", "reason": event.reason}
    return None


class VoiceCall:
    """One socket's call: forwards session events to the page, page input to the session."""

    def __init__(self, sender: str, ws: web.WebSocketResponse) -> None:
        self.sender = sender
        self.ws = ws
        self.session: Any = None
        self.ended = asyncio.Event()
        self._send_lock = asyncio.Lock()

    async def on_event(self, event: Any) -> None:
        """The session's event callback."""
        from voice import session as s

        if self.ws.closed:
            return
        try:
            async with self._send_lock:
                if isinstance(event, s.BotAudio):
                    data = wav_bytes(event.pcm, event.sample_rate)
                    await self.ws.send_json({"type": "audio", "text": event.text, "bytes": len(data)})
                    await self.ws.send_bytes(data)
                else:
                    message = event_message(event)
                    if message is not None:
                        await self.ws.send_json(message)
        except (ConnectionError, RuntimeError) as exc:
            log.info("voice call %s: page gone while sending %s: %s", self.sender, type(event).__name__, exc)
        if isinstance(event, s.SessionEnded):
            self.ended.set()

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
        elif kind == "dtmf" and msg.get("digit") in DTMF_DIGITS:
            await self.session.feed_dtmf(msg["digit"])
        elif kind == "hangup":
            await self.ws.close()
        elif kind == "ping":
            pass
        else:
            await self.refuse(f"unexpected text message {data[:40]!r}")
            return False
        return True

    async def run(self) -> str:
        """Feed the socket's messages to the session until either side ends; the end reason."""
        async for msg in self.ws:
            if msg.type == WSMsgType.BINARY:
                if len(msg.data) % 2:
                    await self.refuse(f"odd-length audio frame ({len(msg.data)} bytes): expected 16-bit PCM")
                    return "bad_audio"
                if msg.data:
                    await self.session.feed_audio(msg.data)
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


async def voice_socket(request: web.Request) -> web.StreamResponse:
    """``/ws/voice?sender=``: one spoken call with the bot (16 kHz PCM in, WAV speech out)."""
    app = request.app
    sender = request.query.get("sender")
    if not page.valid_sender(sender) or not page.same_origin(request):
        log.info("voice socket refused: sender %r, origin %r", sender, request.headers.get("Origin"))
        return web.json_response({"error": "连接被拒绝。"}, status=400 if not page.valid_sender(sender) else 403)
    ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(request)
    calls: set = app[page.VOICE_CALLS_KEY]
    if app[page.MODEL_KEY] is None:
        await ws.send_json({"type": "error", "text": "语音服务未开启，请使用文字留言。"})
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"speech recognition not configured")
        return ws
    if len(calls) >= app[page.CONFIG_KEY].max_voice_calls:
        log.warning("voice call %s refused: %d calls already running", sender, len(calls))
        await ws.send_json({"type": "error", "text": "当前通话人数较多，请稍后再试或使用文字留言。"})
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too many calls")
        return ws
    from voice.session import SessionConfig

    call = VoiceCall(sender, ws)
    config = SessionConfig(rasa_url=app[page.CONFIG_KEY].rasa_url, sample_rate=SAMPLE_RATE)
    call.session = app[page.SESSION_FACTORY_KEY](
        sender, config, call.on_event, model=app[page.MODEL_KEY], extra_metadata={"channel": "voice"})
    calls.add(call)
    reason = "caller_hangup"
    log.info("voice call %s started (%d live)", sender, len(calls))
    try:
        await call.session.start()
        reason = await call.run()
    except (ConnectionError, asyncio.CancelledError) as exc:
        reason = "disconnected"
        log.info("voice call %s: connection lost (%s)", sender, type(exc).__name__)
        if isinstance(exc, asyncio.CancelledError):
            raise
    except Exception:  # the call must end cleanly whatever broke inside the session
        reason = "error"
        log.exception("voice call %s failed", sender)
        if not ws.closed:
            await ws.send_json({"type": "error", "text": "语音服务出现故障，请稍后再试。"})
    finally:
        calls.discard(call)
        await asyncio.shield(call.session.close(reason if reason != "ended" else "caller_hangup"))
        if not ws.closed:
            await ws.close()
        log.info("voice call %s closed: %s (%d live)", sender, reason, len(calls))
    return ws
