"""Start-up warm-up is off the first call's path (issue 15): a call placed while the recognizer pool still warms
is greeted, heard and answered; the decode pool serves a waiting turn before the calls' audio and warm-up last.

Real Vosk Korean model, real espeak-ng speech in and out; the dialogue is a recording stand-in.
"""
from __future__ import annotations

import asyncio
import re
import threading

import pytest

from ground.rasa_client import Reply
from voice import asr
from voice.control import CallRegistry
from voice.gateway import GatewayConfig, VoiceGateway
from voice.phone_sim import SimulatedPhone
from voice.recognizers import RecognizerPool, busy_recognizers, idle_recognizers
from tests.voice_session_support import RecordingDialogue, espeak, until

KOREAN = re.compile(r"[\uac00-\ud7a3]")



async def _no_handoff(call_id: str, reason: str) -> None:
    return None


async def listening(gw: VoiceGateway, phone: SimulatedPhone) -> None:
    """The greeting has played and the call has its recognizer (it is taken while the greeting plays)."""
    await phone.bot_spoke(phone.connected_at, quiet_s=0.5, timeout=120)
    await until(lambda: gw.sessions[str(phone.uuid)]._recognizer is not None, timeout=120)


def spoken(dialogue: RecordingDialogue) -> list[str]:
    """What the caller said, as the dialogue received it."""
    return [text for _, text, meta in dialogue.received if meta.get("input") == "speech"]


async def test_first_call_is_greeted_heard_and_answered_while_the_pool_still_warms(ko_model, tmp_path):
    """The pool is filling (as `seat serve voice` starts it, in the background) and its warm-up audio is held back,
    so the pool cannot finish during the call: the call is served all the same, by the recognizer being warmed."""
    dialogue = RecordingDialogue(lambda text: Reply(texts=["请讲。"]))
    gw = VoiceGateway(GatewayConfig(audiosocket_port=0, control_port=0, warm_recognizers=2), model=ko_model,
                      registry=CallRegistry(), rasa=dialogue, record_handoff=_no_handoff)
    release_warm_audio = asyncio.Event()
    warm_speech = espeak(tmp_path, "안녕하세요 반갑습니다", "ko")

    async def warm_audio() -> bytes:
        await release_warm_audio.wait()
        return warm_speech

    gw.pools[8000] = pool = RecognizerPool(ko_model, 8000, 2, warm_audio)
    idle_before, busy_before = idle_recognizers(), busy_recognizers()
    await gw.start()
    filling = asyncio.ensure_future(gw.warm_recognizer(8000))
    try:
        await until(lambda: pool._warming is not None, timeout=30)  # one recognizer made, its warm-up waiting
        speech = espeak(tmp_path, "안녕하세요 만나서 반갑습니다", "ko")
        async with SimulatedPhone("127.0.0.1", gw.audiosocket_port) as phone:
            await listening(gw, phone)
            ended = await phone.say(speech)
            await until(lambda: len(spoken(dialogue)) == 1, timeout=120)  # heard and sent (a wait, not a timing)
            await until(lambda: phone.bot_audio_since(ended) is not None, timeout=60)  # and answered
            assert not filling.done(), "the pool cannot have finished warming: its audio is held back"
        assert KOREAN.search(spoken(dialogue)[0]), dialogue.received
        assert pool.taken == {"idle": 0, "warming": 1, "cold": 0}  # the half-warm one, no wait for a full pool
        await until(lambda: not gw.sessions)
        release_warm_audio.set()
        await asyncio.wait_for(filling, 120)
        assert len(pool._idle) == 2  # the call's recognizer came back, reset; the pool is full
        assert idle_recognizers() == idle_before + 2 and busy_recognizers() == busy_before
    finally:
        release_warm_audio.set()
        filling.cancel()
        await asyncio.gather(filling, return_exceptions=True)
        await gw.stop()
    assert idle_recognizers() == idle_before and busy_recognizers() == busy_before


async def test_a_call_finding_nothing_warm_gets_a_cold_recognizer_at_once(ko_model, tmp_path):
    """No idle and no warming recognizer: the call's own is made on demand and recognises the caller."""
    dialogue = RecordingDialogue(lambda text: Reply(texts=["请讲。"]))
    gw = VoiceGateway(GatewayConfig(audiosocket_port=0, control_port=0, warm_recognizers=0), model=ko_model,
                      registry=CallRegistry(), rasa=dialogue, record_handoff=_no_handoff)
    await gw.start()
    try:
        speech = espeak(tmp_path, "안녕하세요 만나서 반갑습니다", "ko")
        async with SimulatedPhone("127.0.0.1", gw.audiosocket_port) as phone:
            await listening(gw, phone)
            ended = await phone.say(speech)
            await until(lambda: len(spoken(dialogue)) == 1, timeout=120)
            await until(lambda: phone.bot_audio_since(ended) is not None, timeout=60)
        assert KOREAN.search(spoken(dialogue)[0])
        assert gw.pools[8000].taken == {"idle": 0, "warming": 0, "cold": 1}
    finally:
        await gw.stop()


def test_decode_pool_serves_a_waiting_turn_first_then_calls_then_warm_up():
    pool = asr.DecodePool(1, "test-decode")
    started, gate, order = threading.Event(), threading.Event(), []

    def hold() -> None:
        started.set()
        gate.wait()

    busy = pool.submit_at(asr.CALL, hold)
    assert started.wait(5)  # the only thread is busy: the next jobs queue
    jobs = [pool.submit_at(asr.WARM, order.append, "warm"), pool.submit_at(asr.CALL, order.append, "call 1"),
            pool.submit(order.append, "call 2"), pool.submit_at(asr.FINISH, order.append, "finish")]
    assert pool.queued() == 4
    gate.set()
    for job in [busy, *jobs]:
        job.result(timeout=5)
    assert order == ["finish", "call 1", "call 2", "warm"]
    failing = pool.submit(int, "not a number")
    with pytest.raises(ValueError):
        failing.result(timeout=5)
    pool.shutdown()
    assert not any(t.name.startswith("test-decode") for t in threading.enumerate())
