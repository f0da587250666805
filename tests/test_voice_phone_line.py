"""The voice gateway against what a real Asterisk does to it (issue 19), over real sockets.

The Asterisk side is tests/audiosocket_support.AsteriskLine: app_audiosocket's 2 s inactivity timeout,
hang-up as a bare socket close, callers that send no frames (Wait(), hold), µ-law under kind 0x10 from the
channel driver's c(ulaw), 16 kHz audio that starts late. Speech output is real espeak-ng synthesis,
recognition the real Vosk Korean test model, caller speech real espeak-ng audio (µ-law encoded by
audioop); the dialogue is a real HTTP server on 127.0.0.1 speaking Rasa's REST webhook contract.
"""
from __future__ import annotations

import asyncio
import logging
import re
import uuid

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from tests.audiosocket_support import AsteriskLine
from tests.voice_session_support import Clock, espeak, until
from voice import asr, prompts
from voice.control import CallRegistry
from ground.settings import Settings
from voice.gateway import GatewayConfig, VoiceGateway
from voice.session import default_tts

GREETING_REPLY = prompts.GREETING + "请问有什么可以帮您？"



class FakeRasa:
    """Rasa's REST webhook on 127.0.0.1: records each message, answers after `delay_s` (per text)."""

    def __init__(self, delays: dict[str, float] | None = None) -> None:
        self.delays = delays or {}
        self.received: list[dict] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self.webhook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        await asyncio.sleep(self.delays.get(body["message"], 0.0))
        if body["message"] == "/greet":
            return web.json_response([{"recipient_id": body["sender"], "text": GREETING_REPLY}])
        return web.json_response([{"recipient_id": body["sender"], "text": "好的。"}])

    @property
    def texts(self) -> list[str]:
        return [m["message"] for m in self.received]


class Handoffs:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str]] = []

    async def __call__(self, call_id: str, reason: str) -> None:
        self.recorded.append((call_id, reason))


@pytest.fixture
async def gateway(ko_model):
    made: list[tuple[VoiceGateway, FakeRasa]] = []

    async def factory(delays: dict[str, float] | None = None, **settings) -> VoiceGateway:
        rasa = FakeRasa(delays)
        await rasa.start()
        gw = VoiceGateway(GatewayConfig(audiosocket_port=0, control_port=0, rasa_url=rasa.url, **settings),
                          model=ko_model, registry=CallRegistry(), clock=Clock(), record_handoff=Handoffs())
        gw.dialogue = rasa  # type: ignore[attr-defined]
        await gw.start()
        made.append((gw, rasa))
        return gw

    yield factory
    for gw, rasa in made:
        await gw.stop()
        await rasa.stop()
        assert gw.server.open_calls == 0 and not gw.sessions


def line(gw: VoiceGateway, **kwargs) -> AsteriskLine:
    assert gw.audiosocket_port
    return AsteriskLine(gw.audiosocket_port, **kwargs)


async def outcome(gw: VoiceGateway, call: uuid.UUID) -> str:
    """What the dialplan's CURL(http://gateway/calls/${UUID}/outcome) reads."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{gw.control_port}/calls/{call}/outcome",
                            headers={"X-Seat-Voice-Token": gw.config.control_token}) as resp:
            return await resp.text()


def line_noise(seconds: float, rate: int = 8000, level: float = 30.0, seed: int = 1) -> bytes:
    """Quiet line hiss, as a phone line carries between words."""
    return np.random.default_rng(seed).normal(0, level, int(seconds * rate)).astype("<i2").tobytes()


def sounding_frames(pcm: bytes, rate: int = 8000) -> int:
    """20 ms frames of `pcm` that are not digital silence (as AsteriskLine.speech() counts them)."""
    step = rate // 50 * 2
    return sum(1 for i in range(0, len(pcm), step) if any(pcm[i:i + step]))


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_a_caller_on_hold_keeps_the_call_past_five_seconds_on_keep_alive_frames(gateway, rate):
    gw = await gateway()
    async with line(gw, sample_rate=rate) as p:
        if rate == 16000:  # one 16 kHz frame (channel driver c(slin16)), then nothing: the rate is learnt
            await p.send(bytes(640))
        await until(lambda: p.speech() and p.now() - p.speech()[-1][0] > 0.5, timeout=20)  # greeted
        hold = p.now()
        await asyncio.sleep(5.5)  # the caller sends nothing at all: Asterisk would hang up after 2 s
        assert not p.timed_out and not p.closed.is_set()
        assert p.longest_gap(since=hold) < 0.2
        keep_alive = [len(pcm) for t, pcm in p.frames if t - p.connected_at > hold]
        assert len(keep_alive) > 200 and set(keep_alive) == {rate // 50 * 2}  # 20 ms at the call's rate
        assert not p.speech()[-1][0] > hold
        assert await outcome(gw, p.uuid) == "active"
    await until(lambda: not gw.sessions)
    assert await outcome(gw, p.uuid) == "caller_hangup"


async def test_a_bare_socket_close_is_the_callers_hangup_and_the_outcome_is_there_at_once(gateway):
    gw = await gateway()
    async with line(gw) as p:
        p.on_close = lambda: outcome(gw, p.uuid)  # the dialplan's h extension reads it at once
        await until(lambda: len(p.speech()) > 10)
    assert p.outcome_at_close == "caller_hangup" and not p.hangup_frame


async def test_the_gateways_hangup_is_recorded_before_the_socket_closes(gateway):
    gw = await gateway(delays={"/greet": 30.0}, dialogue_timeout_s=1.0, filler_after_s=5.0)
    async with line(gw) as p:
        p.on_close = lambda: outcome(gw, p.uuid)  # the dialplan goes on as soon as the socket says so
        await asyncio.wait_for(p.closed.wait(), 30)
    assert p.hangup_frame and p.outcome_at_close == "handoff"  # the dialogue did not answer in time
    assert gw.record_handoff.recorded == [(str(p.uuid), "dialogue unavailable")]


async def test_the_greeting_is_immediate_and_a_slow_dialogue_gets_the_filler(gateway, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    greeting, filler = await default_tts(prompts.GREETING, 8000), await default_tts(prompts.FILLER, 8000)
    answer_at = (len(greeting) + len(filler)) / 16000 + 2.0
    gw = await gateway(delays={"/greet": answer_at}, filler_after_s=1.0, dialogue_timeout_s=answer_at + 5)
    async with line(gw) as p:
        await until(lambda: len(p.speech()) > 0, timeout=5)
        assert p.speech()[0][0] < 0.6  # not waiting for the dialogue's /greet answer
        await until(lambda: any(t > answer_at for t, _ in p.speech()), timeout=answer_at + 5)
        await asyncio.sleep(0.5)
        assert not p.timed_out
    before_answer = [t for t, _ in p.speech() if t < answer_at]
    # the greeting, then the filler (not dead air) while the dialogue had not answered
    assert len(before_answer) >= sounding_frames(greeting) + sounding_frames(filler) - 2
    assert "the dialogue is slow" in caplog.text
    assert gw.dialogue.texts == ["/greet"]


async def test_mulaw_from_the_channel_driver_is_understood_and_its_noise_never_barges_in(gateway, caplog, tmp_path):
    caplog.set_level(logging.INFO, logger="voice")
    gw = await gateway()
    words = espeak(tmp_path, "안녕하세요 만나서 반갑습니다", "ko")
    async with line(gw, codec="ulaw", inactivity_s=None) as p:
        await p.send(line_noise(4.0))  # hiss under the greeting: must not stop it
        assert "barge-in" not in caplog.text
        await p.send(words + line_noise(3.0, seed=2))
        await until(lambda: len(gw.dialogue.received) == 2, timeout=15)
    said = gw.dialogue.received[1]
    assert said["metadata"]["input"] == "speech" and re.search(r"[\uac00-\ud7a3]", said["message"])
    notes = [r.getMessage() for r in caplog.records if "µ-law" in r.getMessage()]
    assert len(notes) == 1 and "c(slin)" in notes[0]


async def test_audio_in_no_known_codec_is_refused_with_one_clear_line(gateway, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    gw = await gateway()
    junk = np.random.default_rng(3).integers(0, 256, 160 * 150, dtype=np.uint8).tobytes()  # e.g. G.722
    async with line(gw, codec="raw", inactivity_s=None) as p:
        sending = asyncio.create_task(p.send(junk))
        await asyncio.wait_for(p.closed.wait(), 10)
        sending.cancel()
        assert p.hangup_frame
    refusals = [r for r in caplog.records if "not 16-bit linear" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelno == logging.ERROR
    assert "c(slin)" in refusals[0].getMessage() and "c(slin16)" in refusals[0].getMessage()
    assert "barge-in" not in caplog.text
    assert await outcome(gw, p.uuid) == "error"


async def test_16khz_audio_that_starts_late_is_taken_at_its_rate_not_hung_up(gateway, caplog, tmp_path):
    caplog.set_level(logging.INFO, logger="voice")
    gw = await gateway()
    words = espeak(tmp_path, "안녕하세요 만나서 반갑습니다", "ko", rate=16000)
    async with line(gw, sample_rate=16000, inactivity_s=None) as p:
        await asyncio.sleep(0.8)  # the channel driver's first caller audio, well after 0.3 s
        await p.send(bytes(640 * 25) + words + bytes(640 * 150))
        await until(lambda: len(gw.dialogue.received) == 2, timeout=15)
        assert not p.closed.is_set()
        assert gw.sessions[str(p.uuid)].config.sample_rate == 16000
        late = [pcm for t, pcm in p.frames[-20:]]
        assert {len(pcm) for pcm in late} == {640}  # the gateway talks at 16 kHz from then on
    assert "switched" not in caplog.text
    said = gw.dialogue.received[1]
    assert said["metadata"]["input"] == "speech" and re.search(r"[\uac00-\ud7a3]", said["message"])


def test_dialogue_timeout_and_filler_delay_come_from_the_environment_and_must_be_positive():
    config = GatewayConfig.from_settings(Settings.from_env({"VOICE_DIALOGUE_TIMEOUT_S": "4", "VOICE_FILLER_S": "0.8"}))
    assert (config.dialogue_timeout_s, config.filler_after_s) == (4.0, 0.8)
    for name in ("VOICE_DIALOGUE_TIMEOUT_S", "VOICE_FILLER_S"):
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: "0"})
