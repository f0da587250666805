"""Mandarin speech synthesis: pyttsx3 over espeak-ng, as 16-bit mono PCM at the transport rate.

Each pyttsx3 engine lives in one dedicated worker thread (created there, used only there). The
espeak driver writes the WAV file from its synthesis callback, so after ``runAndWait()`` we wait
until the file exists and its size is stable before reading it. Numbers of three or more digits
(phones, ticket numbers, 12345) are spelled digit by digit, 1 as 幺. Fixed prompts are kept in
an LRU cache keyed by (text, rate).

Voice: env ``TTS_VOICE``; by default ``cmn-latn-pinyin`` if installed, else ``cmn``. espeak-ng
1.51's ``cmn`` voice reads most characters as English-spoken pinyin ("好" -> "hao two",
espeak-ng issue #1236); ``cmn-latn-pinyin`` is the same Mandarin voice with correct readings.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import wave
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np

from ground.settings import current
from voice.metrics import TTS_CACHE

log = logging.getLogger(__name__)

DEFAULT_VOICES = ("cmn-latn-pinyin", "cmn")
RATES = (8000, 16000)
FILE_TIMEOUT_S = 10.0
POLL_S = 0.005

_DIGITS = "零幺二三四五六七八九"
_YEAR_DIGITS = "零一二三四五六七八九"
_FULLWIDTH = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})
_NUMBER = re.compile(r"[0-9０-９]+(?:[- ][0-9０-９]+)*")


class TtsError(RuntimeError):
    """Speech cannot be synthesised (no Mandarin voice, engine failure, bad rate)."""


def spell_digits(text: str, min_digits: int = 3) -> str:
    """Numbers of at least `min_digits` digits spelled one by one in Chinese, in groups.

    "13911112222" -> "幺三九，幺幺幺幺，二二二二"; "12345" -> "幺二三四五"; a year
    ("2024年") keeps 一; shorter numbers ("3个工作日") are left to espeak's cardinal reading.
    """

    def spell(m: re.Match[str]) -> str:
        groups = [g.translate(_FULLWIDTH) for g in re.split(r"[- ]", m.group())]
        digits = "".join(groups)
        if len(digits) < min_digits:
            return m.group()
        if len(groups) == 1:
            if len(digits) == 11 and (digits[0] == "1" or digits[:2] in ("01", "02")):
                # mobile, or landline with a three-digit area code (010, 02x): 3-4-4
                groups = [digits[:3], digits[3:7], digits[7:]]
            elif len(digits) > 6:
                groups = [digits[i:i + 4] for i in range(0, len(digits), 4)]
        names = _YEAR_DIGITS if text[m.end():m.end() + 1] == "年" else _DIGITS
        return "，".join("".join(names[int(d)] for d in g) for g in groups)

    return _NUMBER.sub(spell, text)


# ---- worker threads: one engine per thread ----------------------------------------------------
_local = threading.local()
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_engine_calls = 0
_TMPDIR: str | None = None
_calls_lock = threading.Lock()


def _pool_size() -> int:
    wanted = current().voice.tts_threads
    if wanted not in ("", "1"):
        # libespeak-ng is one process-wide synthesizer with one global callback: two pyttsx3
        # espeak engines in two threads crash the process (segfault). Scale with processes.
        log.warning("TTS_THREADS=%s ignored: the espeak driver allows one engine per process", wanted)
    return 1


def executor() -> ThreadPoolExecutor:
    """The synthesis worker pool (created on first use)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=_pool_size(), thread_name_prefix="tts")
        return _executor


def engine_calls() -> int:
    """Utterances synthesised by the engine so far (cache hits excluded)."""
    return _engine_calls


def _quiet_print(*args: object, **_: object) -> None:
    log.debug("pyttsx3: %s", " ".join(map(str, args)))


def _worker_engine(voice: str | None) -> tuple[Any, str]:
    """This thread's engine, created on first use, with a Mandarin voice selected."""
    state = _local
    if getattr(state, "engine", None) is None:
        import pyttsx3  # lazy: starts espeak; only processes that speak pay for it
        import pyttsx3.drivers.espeak as espeak_driver

        espeak_driver.print = _quiet_print  # the driver prints "Audio saved to ..." per file
        state.engine = pyttsx3.Engine("espeak")  # not pyttsx3.init(): that shares one engine
        state.errors = []
        state.engine.connect("error", lambda name=None, exception=None: state.errors.append(exception))
        state.voice = None
        state.available = {v.id.rsplit("/", 1)[-1] for v in state.engine.getProperty("voices")}
    engine, available = state.engine, state.available
    wanted = [voice] if voice else [v for v in DEFAULT_VOICES if v in available]
    if not wanted or wanted[0] not in available:
        raise TtsError(f"espeak-ng Mandarin voice {voice or 'cmn'!r} is not available: install "
                       "espeak-ng and espeak-ng-data (espeak-ng --voices=cmn lists it)")
    if state.voice != wanted[0]:
        engine.setProperty("voice", wanted[0])  # queued: applied before the next utterance
        state.voice = wanted[0]
    return engine, state.voice


def _tmpdir() -> str:
    """A private directory for the engine's WAV files, removed at exit."""
    global _TMPDIR
    with _calls_lock:
        if _TMPDIR is None:
            _TMPDIR = tempfile.mkdtemp(prefix="tts-")
            atexit.register(shutil.rmtree, _TMPDIR, True)
        return _TMPDIR


def _wait_for_wav(path: Path, timeout: float = FILE_TIMEOUT_S) -> tuple[bytes, int]:
    """Frames and rate of the WAV at `path` once it exists and has stopped growing."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else -1
        if size > 44 and size == last:
            try:
                with wave.open(str(path), "rb") as w:
                    if w.getsampwidth() != 2 or w.getnchannels() != 1:
                        raise TtsError(f"unexpected WAV format from espeak: {w.getparams()}")
                    return w.readframes(w.getnframes()), w.getframerate()
            except (wave.Error, EOFError):
                pass  # header not final yet
        last = size
        time.sleep(POLL_S)
    raise TtsError(f"espeak did not finish writing {path} within {timeout:.0f} s")


def _render(engine: Any, text: str, path: Path) -> None:
    """One engine utterance into `path` (module-level so tests can observe the engine's input)."""
    engine.save_to_file(text, str(path))
    engine.runAndWait()


def _synthesize_blocking(text: str, voice: str | None) -> tuple[bytes, int]:
    """Runs in a worker thread: 16-bit mono PCM of `text` at espeak's own rate."""
    global _engine_calls
    engine, _ = _worker_engine(voice)
    fd, name = tempfile.mkstemp(suffix=".wav", dir=_tmpdir())
    os.close(fd)
    path = Path(name)
    path.unlink()  # the driver creates it; its appearance is what we wait for
    _local.errors.clear()
    try:
        _render(engine, text, path)
        if _local.errors:
            _local.voice = None  # e.g. the voice was rejected: select it again next time
            raise TtsError(f"espeak failed: {_local.errors[0]}")
        with _calls_lock:
            _engine_calls += 1
        return _wait_for_wav(path)
    finally:
        path.unlink(missing_ok=True)


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """16-bit mono PCM from `src_rate` to `dst_rate` (polyphase filter, clipped to int16)."""
    if src_rate == dst_rate or not pcm:
        return pcm
    from scipy.signal import resample_poly  # lazy: scipy only when rates differ

    g = gcd(src_rate, dst_rate)
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    y = resample_poly(x, dst_rate // g, src_rate // g)
    return np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes()


# ---- public API ----------------------------------------------------------------------------
_cache: "OrderedDict[tuple[str, int, str | None], bytes]" = OrderedDict()
_cache_lock = threading.Lock()


def _cache_size() -> int:
    return current().voice.tts_cache_size  # TTS_CACHE_SIZE


def clear_cache() -> None:
    """Forget every cached prompt."""
    with _cache_lock:
        _cache.clear()


async def synthesize(text: str, sample_rate: int, *, cache: bool = True) -> bytes:
    """16-bit mono PCM of Mandarin `text` at `sample_rate` (8000 or 16000).

    Results are cached by (text, rate); pass ``cache=False`` for one-off texts such as a
    read-back of the caller's phone number.
    """
    if sample_rate not in RATES:
        raise TtsError(f"sample rate {sample_rate} not supported (use 8000 or 16000)")
    voice = current().voice.tts_voice  # TTS_VOICE
    key = (text, sample_rate, voice)
    if cache:
        with _cache_lock:
            if key in _cache:
                _cache.move_to_end(key)
                TTS_CACHE.labels("hit").inc()
                return _cache[key]
    TTS_CACHE.labels("miss" if cache else "uncached").inc()
    spoken = spell_digits(text).strip()
    if not spoken:
        return b""
    loop = asyncio.get_running_loop()
    pcm, rate = await loop.run_in_executor(executor(), _synthesize_blocking, spoken, voice)
    out = await loop.run_in_executor(None, resample, pcm, rate, sample_rate)
    if cache and _cache_size():
        with _cache_lock:
            _cache[key] = out
            while len(_cache) > _cache_size():
                _cache.popitem(last=False)
    return out

