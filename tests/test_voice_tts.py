"""pyttsx3 + espeak-ng Mandarin synthesis with the real engine."""
from __future__ import annotations

import asyncio
import shutil

import numpy as np
import pytest

from ground.settings import current
from voice import tts
from voice.tts import TtsError, spell_digits, synthesize

GREETING = "您好，这里是12345市民服务热线"
TEXTS = [GREETING, "请问您要反映什么问题？", "您的工单号是20241126001", "请说出您的联系电话", "感谢您的来电，再见"]

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def seconds(pcm: bytes, rate: int) -> float:
    return len(pcm) / 2 / rate


def rms(pcm: bytes) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(x ** 2)))


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_greeting_is_plausible_speech(rate):
    pcm = await synthesize(GREETING, rate, cache=False)
    assert len(pcm) % 2 == 0
    assert 1.0 < seconds(pcm, rate) < 10.0
    assert rms(pcm) > 500  # speech, not silence
    assert np.abs(np.frombuffer(pcm, dtype="<i2")).max() > 5000


async def test_rates_give_the_same_duration():
    pcm8 = await synthesize(GREETING, 8000, cache=False)
    pcm16 = await synthesize(GREETING, 16000, cache=False)
    assert seconds(pcm8, 8000) == pytest.approx(seconds(pcm16, 16000), abs=0.05)


async def test_concurrent_calls_are_complete():
    rate = 8000
    sequential = [await synthesize(t, rate, cache=False) for t in TEXTS]
    concurrent = await asyncio.gather(*(synthesize(t, rate, cache=False) for t in TEXTS))
    for text, seq, con in zip(TEXTS, sequential, concurrent):
        assert seconds(seq, rate) > 1.0, text
        # espeak's end of utterance varies by a few ms from run to run; a truncated file
        # would miss far more.
        assert seconds(con, rate) == pytest.approx(seconds(seq, rate), abs=0.05), text


async def test_cache_returns_the_same_bytes_without_the_engine():
    tts.clear_cache()
    calls = tts.engine_calls()
    first = await synthesize(GREETING, 8000)
    second = await synthesize(GREETING, 8000)
    assert tts.engine_calls() == calls + 1
    assert second == first
    other_rate = await synthesize(GREETING, 16000)  # the rate is part of the key
    assert tts.engine_calls() == calls + 2
    assert len(other_rate) == pytest.approx(2 * len(first), rel=0.01)
    await synthesize(GREETING, 8000, cache=False)
    assert tts.engine_calls() == calls + 3


async def test_numbers_reach_the_engine_digit_by_digit(monkeypatch):
    seen: list[str] = []
    render = tts._render

    def spy(engine, text, path):
        seen.append(text)
        render(engine, text, path)

    monkeypatch.setattr(tts, "_render", spy)
    pcm = await synthesize("您的电话是13911112222", 8000, cache=False)
    assert seen == ["您的电话是幺三九，幺幺幺幺，二二二二"]
    assert seconds(pcm, 8000) > 3.0  # eleven syllables plus the words


@pytest.mark.parametrize("text, spoken", [
    ("13911112222", "幺三九，幺幺幺幺，二二二二"),
    ("拨打12345热线", "拨打幺二三四五热线"),
    ("010-6789-1234", "零幺零，六七八九，幺二三四"),
    ("02167891234", "零二幺，六七八九，幺二三四"),
    ("１３９１１１１２２２２", "幺三九，幺幺幺幺，二二二二"),
    ("工单20241126001", "工单二零二四，幺幺二六，零零幺"),
    ("2024年", "二零二四年"),
    ("请在3个工作日内，10点前", "请在3个工作日内，10点前"),
    ("没有数字", "没有数字"),
])
def test_spell_digits(text, spoken):
    assert spell_digits(text) == spoken


async def test_missing_voice_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TTS_VOICE", "xx-no-such-voice")
    current.cache_clear()  # the settings are read once per process
    with pytest.raises(TtsError, match="Mandarin voice 'xx-no-such-voice' is not available"):
        await synthesize(GREETING, 8000)
    monkeypatch.delenv("TTS_VOICE")
    current.cache_clear()
    assert rms(await synthesize("你好", 8000, cache=False)) > 500  # the worker still works


async def test_bad_rate_and_empty_text():
    with pytest.raises(TtsError, match="8000 or 16000"):
        await synthesize(GREETING, 44100)
    assert await synthesize("  ", 8000) == b""
