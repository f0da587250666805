"""One call's dialogue, independent of the transport: audio in, events out.

The transport (AudioSocket gateway, browser WebSocket) feeds the caller's PCM, DTMF keys or typed
text and receives `voice.events` through ``on_event``. Per session: one Vosk recognizer on the
shared model (decoding in voice.asr's thread pool), an endpointer, DTMF collection and in-band
Goertzel detection, barge-in, silence re-prompts and the Rasa conversation (sender id = call id).
Time comes from an injectable ``clock``; ``tick()`` runs the timers (an internal ticker calls it
every ``config.tick_interval_s`` unless that is 0).
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional

from nlu.asr_repair import repair
from voice import metrics, prompts, tts
from voice import recognizers
from voice.asr import Endpointer, Final, Partial, Recognizer, pcm_rms
from voice.dtmf import DtmfCollector, GoertzelDetector
from voice.gate import EnergyGate
from voice.events import (BotAudio, BotText, Event, FinalTranscript, Handoff, PartialTranscript,
                          SessionEnded, SessionStarted, StopPlayback)
from ground.end_call import EndCall
from ground.rasa_client import RasaClient, RasaError

if TYPE_CHECKING:
    import vosk

    from voice.recognizers import RecognizerPool

log = logging.getLogger("voice.session")
_PERSONAL_DIGITS = re.compile(r"\d{3}")


@dataclass(frozen=True)
class SessionConfig:
    rasa_url: str  # e.g. http://127.0.0.1:5005 ; messages go to POST {rasa_url}/webhooks/rest/webhook
    sample_rate: int = 8000  # caller audio rate (8000 AudioSocket 0x10, 16000 browser / 0x12)
    silence_reprompt_s: float = 8.0  # VOICE_SILENCE_S
    max_reprompts: int = 3  # then polite hang-up
    endpoint_silence_ms: int = 700
    start_text: str = "/greet"  # first message sent to Rasa when the call starts
    barge_in_ms: int = 100  # caller audio above the endpointer's threshold this long stops playback
    asr_chunk_ms: int = 100  # audio handed to the recognizer per call
    dtmf_timeout_s: float = 3.0  # inter-digit timeout
    dtmf_max_digits: int = 11  # a phone number ends the entry
    inband_dtmf: bool = True  # Goertzel detection of key tones in the audio
    tick_interval_s: float = 0.2  # internal timer tick; 0 = the owner calls tick()
    end_grace_s: float = 30.0  # longest wait for the last playback before ending anyway
    max_utterance_s: float = 20.0  # an utterance is cut (and sent) after this long: endless audio
    vad_hangover_ms: int = 1500  # the recognizer is fed until this long after the last loud audio
    vad_preroll_ms: int = 300  # quiet audio kept and fed before a loud onset
    greeting: str = ""  # phone: said at once on start(), not after the dialogue's answer to start_text;
    #                     that answer's first text loses this opening if it starts with it
    filler: str = ""  # phone: said once when the dialogue has not answered a turn after filler_after_s
    filler_after_s: float = 1.5  # VOICE_FILLER_S
    dialogue_timeout_s: float = 30.0  # VOICE_DIALOGUE_TIMEOUT_S: longest wait for one dialogue answer
    transport: str = "phone"  # the metrics' label: "phone" (AudioSocket) or "browser" (the talk button)


async def default_tts(text: str, sample_rate: int) -> bytes:
    """voice.tts at the nearest supported rate; texts with digit runs (phones, ticket numbers) are not cached."""
    rate = sample_rate if sample_rate in tts.RATES else 16000
    pcm = await tts.synthesize(text, rate, cache=not _PERSONAL_DIGITS.search(text))
    if rate != sample_rate:
        pcm = await asyncio.get_running_loop().run_in_executor(None, tts.resample, pcm, rate, sample_rate)
    return pcm


class CallSession:
    """The dialogue of one call; see the module docstring."""

    def __init__(self, call_id: str, config: SessionConfig, on_event: Callable[[Event], Awaitable[None]], *,
                 caller: str | None = None, model: "vosk.Model | None" = None,
                 clock: Callable[[], float] = time.monotonic, rasa: RasaClient | None = None,
                 tts: Callable[[str, int], Awaitable[bytes]] | None = None,
                 extra_metadata: dict | None = None, recognizers: "RecognizerPool | None" = None) -> None:
        self.call_id, self.config, self.caller = call_id, config, caller
        self._on_event, self._clock = on_event, clock
        self._rasa, self._own_rasa = (rasa, False) if rasa is not None else (RasaClient(config.rasa_url), True)
        self._tts = tts or default_tts
        self.extra_metadata = dict(extra_metadata or {})
        self._model, self._pool = model, recognizers
        self._recognizer: Recognizer | None = None  # taken in start(), given back in close()
        self._recognizer_pool: "RecognizerPool | None" = None  # where it came from
        self._heard_audio = False  # caller audio was fed (the rate can no longer change)
        self._asr_base = (0.0, 0.0, 0.0)
        self._endpointer = Endpointer(config.endpoint_silence_ms, config.sample_rate)
        self._collector = DtmfCollector(config.dtmf_timeout_s, config.dtmf_max_digits)
        self._detector = GoertzelDetector(config.sample_rate) if config.inband_dtmf else None
        self._silence = prompts.SilencePolicy(config.silence_reprompt_s, config.max_reprompts)
        self._turn_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._asr_buf = bytearray()
        self._held = bytearray()  # quiet audio after words, not (yet) decoded: see _recognise
        self._asr_chunk = max(2, config.sample_rate * config.asr_chunk_ms // 1000 * 2)
        self._loud_ms = 0.0
        self._utterance_ms = 0.0
        self._gate = EnergyGate(config.sample_rate, config.vad_hangover_ms, config.vad_preroll_ms)
        self._fed = False
        self._pending_audio = 0  # BotAudio events not yet reported played
        self._ending: Optional[str] = None
        self._ending_deadline = 0.0
        self._last_inband: tuple[str, float] = ("", -1e9)
        self._frame_dtmf_seen = False
        self.last_bot_text = ""
        self.ended: Optional[str] = None  # the end reason once closed
        self.transcripts: list[str] = []  # final transcripts sent to the dialogue
        self.bot_texts: list[str] = []  # everything the bot said, in order
        self._transport = metrics.TRANSPORTS[1] if config.transport == "browser" else metrics.TRANSPORTS[0]
        self._counted = False  # counted in seat_active_calls

    # ---- transport API ---------------------------------------------------------------------
    async def prepare(self) -> None:
        """Get the call's recognizer (see voice.recognizers.acquire). Idempotent; start() calls it."""
        if self._recognizer is not None or self.ended:
            return
        pool, rate = self._pool, self.config.sample_rate
        rec = await recognizers.acquire(pool, self._model, rate)
        if rec is None:
            return
        if self.ended or self._recognizer is not None or rate != self.config.sample_rate:
            await recognizers.release(pool, rec)  # closed, prepared or re-rated meanwhile
            return
        self._recognizer, self._recognizer_pool = rec, pool
        self._asr_base = (rec.audio_s, rec.cpu_s, rec.wall_s)

    async def set_rate(self, sample_rate: int, recognizers: "RecognizerPool | None" = None) -> None:
        """The caller's audio turned out to be at `sample_rate` (its first frame came late): listen at that rate
        from now on (recognizer, endpointer, key tones, and the bot's speech). Only before any caller audio."""
        if sample_rate == self.config.sample_rate:
            return
        if self._heard_audio:
            raise ValueError(f"caller audio already came at {self.config.sample_rate} Hz")
        log.info("call %s: caller audio is at %d Hz, not %d: listening at %d Hz", self.call_id, sample_rate,
                 self.config.sample_rate, sample_rate)
        self.config = replace(self.config, sample_rate=sample_rate)
        self._pool = recognizers
        self._endpointer = Endpointer(self.config.endpoint_silence_ms, sample_rate)
        self._detector = GoertzelDetector(sample_rate) if self.config.inband_dtmf else None
        self._gate = EnergyGate(sample_rate, self.config.vad_hangover_ms, self.config.vad_preroll_ms)
        self._asr_chunk = max(2, sample_rate * self.config.asr_chunk_ms // 1000 * 2)
        self._asr_buf.clear()
        self._held.clear()
        old, self._recognizer = self._recognizer, None
        if old is not None:
            await _release(self._recognizer_pool, old)
        await self.prepare()

    async def start(self) -> None:
        """Greet: the fixed greeting (if any) at once, then start_text to the dialogue and its reply spoken."""
        if not self._counted and not self.ended:
            self._counted = True
            metrics.ACTIVE_CALLS.labels(self._transport).inc()
        await self._emit(SessionStarted(self.call_id))
        if not self.config.greeting:
            await self.prepare()
            if self.ended:
                return
            if self.config.tick_interval_s > 0:
                self._spawn(self._ticker())
            await self._turn(self.config.start_text, "start")
            return
        # Phone: the caller hears the greeting while the recognizer is taken and the dialogue thinks.
        if self.config.tick_interval_s > 0:
            self._spawn(self._ticker())
        await self._turn(self.config.start_text, "start", opening=self.config.greeting)

    async def feed_audio(self, pcm: bytes) -> None:
        """Caller audio: s16le mono at config.sample_rate, any length."""
        if self.ended or self._ending or not pcm:
            return
        pcm = pcm[: len(pcm) // 2 * 2]
        self._heard_audio = True
        tone = False
        if self._detector is not None and not self._frame_dtmf_seen:
            for digit in self._detector.feed(pcm):
                self._last_inband = (digit, self._clock())
                await self._key(digit)
            tone = self._detector.tone_active
        rms = pcm_rms(pcm)
        await self._barge_in_check(pcm, rms)
        if self._recognizer is None:
            return
        audio = self._gate.feed(bytes(len(pcm)) if tone else pcm,  # key tones are not speech
                                rms >= self._endpointer.rms_threshold and not tone)
        self._asr_buf += audio  # nothing while the line is quiet: most of the decoding saved
        while len(self._asr_buf) >= self._asr_chunk and not self.ended:
            chunk = bytes(self._asr_buf[: self._asr_chunk])
            del self._asr_buf[: self._asr_chunk]
            self._fed = True
            await self._recognise(chunk)
        if self._gate.closing() and not self.ended:  # quiet again: end what was heard
            self._asr_buf.clear()
            if self._fed:
                await self._end_utterance(None)

    async def feed_dtmf(self, digit: str) -> None:
        """A key from the transport's signalling (AudioSocket 0x03). In-band detection stops from then on."""
        if self.ended or self._ending:
            return
        self._frame_dtmf_seen = True
        last, at = self._last_inband
        if digit == last and self._clock() - at < 0.6:
            return  # the same key already heard in the audio
        await self._key(digit)

    async def send_text(self, text: str) -> None:
        """Typed text into the same conversation (the web page's chat)."""
        text = (text or "").strip()
        if self.ended or self._ending or not text:
            return
        await self._stop_playback_if_playing()
        self._silence.activity()
        await self._turn(text, "text")

    def playback_finished(self) -> None:
        """The transport finished (or stopped) playing one BotAudio."""
        self._pending_audio = max(0, self._pending_audio - 1)
        if self._pending_audio:
            return
        if self._ending:
            self._spawn(self.close(self._ending))
        elif not self._turn_lock.locked():
            self._silence.idle(self._clock())

    async def tick(self) -> None:
        """Run the timers: DTMF inter-digit timeout, silence re-prompt, end-of-call watchdog."""
        if self.ended:
            return
        now = self._clock()
        if self._ending:
            if now >= self._ending_deadline:
                await self.close(self._ending)
            return
        entry = self._collector.due(now)
        if entry:
            self._spawn(self._turn(entry, "dtmf"))
        if self._pending_audio or self._turn_lock.locked():
            return
        action = self._silence.check(now)
        if action == "reprompt":
            log.info("call %s: silence, re-prompt %d", self.call_id, self._silence.reprompts)
            self._spawn(self._say_locked([prompts.STILL_THERE] + ([self.last_bot_text] if self.last_bot_text else [])))
        elif action == "hangup":
            log.info("call %s: silent after %d re-prompts, hanging up", self.call_id, self.config.max_reprompts)
            self._spawn(self._say_then_end([prompts.SILENCE_GOODBYE], "silence"))

    async def close(self, reason: str = "caller_hangup") -> None:
        """End the session: free the recognizer, stop timers and turns, emit SessionEnded (idempotent)."""
        if self.ended:
            return
        self.ended = reason
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        self._count_end(reason)
        if self._recognizer is not None:
            await _release(self._recognizer_pool, self._recognizer)
        if self._own_rasa:
            await self._rasa.close()
        log.info("call %s ended: %s", self.call_id, reason)
        await self._emit(SessionEnded(reason))

    @property
    def waiting_for_caller(self) -> bool:
        """The bot has finished speaking and the silence timer runs."""
        return self._silence.waiting

    def asr_stats(self) -> dict[str, float]:
        """This call's decoding: audio seconds fed, decoder CPU seconds, wall seconds (queueing included)."""
        rec = self._recognizer
        if rec is None:
            return {"audio_s": 0.0, "cpu_s": 0.0, "wall_s": 0.0}
        audio, cpu, wall = self._asr_base
        return {"audio_s": rec.audio_s - audio, "cpu_s": rec.cpu_s - cpu, "wall_s": rec.wall_s - wall}

    # ---- internals -------------------------------------------------------------------------
    def _count_end(self, reason: str) -> None:
        """The call's metrics at its end: no longer active, its outcome, its recognition real-time factor."""
        if self._counted:
            self._counted = False
            metrics.ACTIVE_CALLS.labels(self._transport).dec()
            metrics.CALLS.labels(self._transport, reason if reason in metrics.CALL_OUTCOMES else "other").inc()
        stats = self.asr_stats()
        if stats["audio_s"] >= 1.0:
            metrics.ASR_RTF.labels(self._transport).observe(stats["cpu_s"] / stats["audio_s"])

    def _metadata(self, source: str) -> dict[str, Any]:
        return {"channel": "voice", "call_id": self.call_id, "caller": self.caller, **self.extra_metadata,
                "input": source}

    async def _emit(self, event: Event) -> None:
        try:
            await self._on_event(event)
        except asyncio.CancelledError:
            raise
        except Exception:  # a broken transport must not break the session's cleanup
            log.exception("call %s: event handler failed on %s", self.call_id, type(event).__name__)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call %s: task failed", self.call_id, exc_info=task.exception())

    async def _ticker(self) -> None:
        while not self.ended:
            await asyncio.sleep(self.config.tick_interval_s)
            await self.tick()

    async def _stop_playback_if_playing(self) -> None:
        if self._pending_audio:
            self._pending_audio = 0
            await self._emit(StopPlayback())

    async def _barge_in_check(self, pcm: bytes, rms: float) -> None:
        if not self._pending_audio:
            self._loud_ms = 0.0
            return
        if rms >= self._endpointer.rms_threshold:
            self._loud_ms += len(pcm) / 2 / self.config.sample_rate * 1000.0
            if self._loud_ms >= self.config.barge_in_ms:
                log.info("call %s: barge-in", self.call_id)
                self._loud_ms = 0.0
                await self._stop_playback_if_playing()
        else:
            self._loud_ms = 0.0

    async def _key(self, digit: str) -> None:
        await self._stop_playback_if_playing()
        self._silence.activity()
        entry = self._collector.press(digit, self._clock())
        if entry:
            self._spawn(self._turn(entry, "dtmf"))

    async def _recognise(self, chunk: bytes) -> None:
        assert self._recognizer is not None
        endpointer = self._endpointer
        event: Partial | Final | None = None
        if endpointer.heard_speech and pcm_rms(chunk) < endpointer.rms_threshold / 2:
            # Quiet after words: held back, not decoded. The turn usually ends inside it (the endpointer counts
            # it at once, so the end of a turn never waits for its silence to pass the decoder's queue, and that
            # silence costs no decoding); if the caller speaks again it goes to the decoder first, so the
            # recognizer hears the pause.
            self._held += chunk
        else:
            if self._held:
                chunk_in = bytes(self._held) + chunk
                self._held.clear()
            else:
                chunk_in = chunk
            event = await self._recognizer.accept(chunk_in)
            if self.ended:  # hung up meanwhile: the recognizer may be back in its pool
                return
            if isinstance(event, Partial):
                self._silence.activity()
                await self._emit(PartialTranscript(event.text))
        ended = endpointer.feed(chunk, event)
        if self._endpointer.heard_speech:
            self._utterance_ms += len(chunk) / 2 / self.config.sample_rate * 1000.0
        if not ended and self._utterance_ms >= self.config.max_utterance_s * 1000.0:
            log.info("call %s: utterance longer than %g s, cutting it", self.call_id, self.config.max_utterance_s)
            ended, event = True, None
        if ended:
            await self._end_utterance(event)

    async def _end_utterance(self, event: Partial | Final | None) -> None:
        """The caller finished an utterance: its text (repaired) goes to the dialogue."""
        assert self._recognizer is not None
        if self.ended:
            return
        self._utterance_ms, self._fed = 0.0, False
        self._gate.shut(bytes(self._asr_buf))  # the silence after it is not decoded: new words reopen the gate
        self._asr_buf.clear()
        self._held.clear()
        text = event.text if isinstance(event, Final) else (await self._recognizer.finish()).text
        self._endpointer.reset()
        if self.ended:
            return
        text = repair(text)
        if text:
            self.transcripts.append(text)
            await self._emit(FinalTranscript(text))
            self._spawn(self._turn(text, "speech"))

    async def _turn(self, text: str, source: str, opening: str = "") -> None:
        """One message to the dialogue and the bot's spoken reply (turns run one at a time).

        `opening` (the phone's fixed greeting) is spoken while the dialogue works on the message, and
        taken off the front of its first reply text. Every dialogue call is bounded by
        dialogue_timeout_s; a slow answer gets the filler spoken (once) after filler_after_s.
        """
        async with self._turn_lock:
            if self.ended or self._ending:
                return
            self._silence.activity()
            if source != "start":
                self._silence.answered()
            started = time.perf_counter()
            request = asyncio.ensure_future(self._ask(text, source))
            try:
                if opening:
                    await self._speak([opening], remember=False)
                    await self.prepare()
                if self.config.filler:
                    await self._filler_while(request, started)
                reply = await request
                if source != "start":  # the start turn's wait includes the spoken greeting
                    metrics.DIALOGUE_SECONDS.labels(self._transport).observe(time.perf_counter() - started)
                log.debug("call %s: dialogue answered %s input in %.0f ms", self.call_id, source,
                          (time.perf_counter() - started) * 1000)
            except RasaError as exc:
                log.error("call %s: dialogue unavailable (%s); handing over to a person", self.call_id, exc)
                await self._speak([prompts.DIALOGUE_DOWN])
                await self._end("handoff", Handoff("dialogue unavailable"))
                return
            finally:
                if not request.done():  # cancelled (hang-up): the dialogue call goes too
                    request.cancel()
            texts = list(reply.texts)
            if opening and texts and texts[0].startswith(opening):
                texts[0] = texts[0][len(opening):].strip()
                texts = [t for t in texts if t]
            await self._speak(texts)
            if reply.end_call == EndCall.HANDOFF:
                await self._end("handoff", Handoff(reply.reason or "handoff", reply.handoff_id))
            elif reply.end_call:
                await self._end("bot_hangup")
        if not self._pending_audio and not self._ending:
            self._silence.idle(self._clock())

    async def _ask(self, text: str, source: str) -> Any:
        """One dialogue call, bounded by dialogue_timeout_s (RasaError when it takes longer)."""
        try:
            return await asyncio.wait_for(self._rasa.send(self.call_id, text, self._metadata(source)),
                                          self.config.dialogue_timeout_s)
        except asyncio.TimeoutError:
            raise RasaError(f"no answer within {self.config.dialogue_timeout_s:g} s") from None

    async def _filler_while(self, request: "asyncio.Future[Any]", started: float) -> None:
        """Say the filler once if `request` is not done filler_after_s after `started` and nothing is playing."""
        remaining = self.config.filler_after_s - (time.perf_counter() - started)
        if remaining > 0:
            await asyncio.wait({request}, timeout=remaining)
        while not request.done() and self._pending_audio and not self.ended:  # the greeting still plays
            await asyncio.wait({request}, timeout=0.05)
        if not request.done() and not self.ended:
            log.info("call %s: the dialogue is slow (%.1f s): filler", self.call_id, time.perf_counter() - started)
            await self._speak([self.config.filler], remember=False)

    async def _say_locked(self, texts: list[str]) -> None:
        async with self._turn_lock:
            if not self.ended and not self._ending:
                await self._speak(texts, remember=False)
        if not self._pending_audio and not self._ending:
            self._silence.idle(self._clock())

    async def _say_then_end(self, texts: list[str], reason: str) -> None:
        async with self._turn_lock:
            if not self.ended and not self._ending:
                await self._speak(texts, remember=False)
                await self._end(reason)

    async def _speak(self, texts: list[str], remember: bool = True) -> None:
        for text in texts:
            if self.ended:
                return
            await self._emit(BotText(text))
            self.bot_texts.append(text)
            if remember:
                self.last_bot_text = text
            started = time.perf_counter()
            try:
                pcm = await self._tts(text, self.config.sample_rate)
                log.debug("call %s: speech for %d characters in %.0f ms", self.call_id, len(text),
                          (time.perf_counter() - started) * 1000)
            except Exception:
                log.exception("call %s: speech synthesis failed; text only", self.call_id)
                continue
            if pcm and not self.ended:
                self._pending_audio += 1
                await self._emit(BotAudio(pcm, self.config.sample_rate, text))

    async def _end(self, reason: str, event: Optional[Event] = None) -> None:
        """The bot's part is over: after the pending audio has played, the session ends."""
        if event is not None:
            await self._emit(event)
        self._ending = reason
        self._ending_deadline = self._clock() + self.config.end_grace_s
        if not self._pending_audio:
            self._spawn(self.close(reason))


async def _release(pool: "RecognizerPool | None", rec: Recognizer) -> None:
    await recognizers.release(pool, rec)
