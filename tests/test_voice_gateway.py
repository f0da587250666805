"""The voice gateway over real sockets: control API, greeting, DTMF, handoff, silence, bad input, leaks.

Speech output is the real espeak-ng synthesis and recognition the real Vosk Korean model; the dialogue
(Rasa) is a recording stand-in here; the real stack is in tests/e2e/test_voice_call.py.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid

import aiohttp
import pytest

from voice import asr
from voice.recognizers import busy_recognizers
from voice.audiosocket import Audio, CallId, encode
from voice.control import CallRegistry
from voice.gateway import GatewayConfig, VoiceGateway
from voice.phone_sim import SimulatedPhone
from ground.rasa_client import Reply, parse_reply
from ground.settings import Settings
from tests.voice_session_support import Clock, RecordingDialogue, until

HANDOFF = parse_reply([{"text": "好的，正在为您转接人工客服。"}, {"custom": {"end_call": "handoff", "reason": "citizen asked", "handoff_id": 41}}])


def script(text: str) -> Reply:
    """Short answers, so that playback in real time keeps the tests quick."""
    if text == "0":
        return HANDOFF
    return Reply(texts=["请讲。"])



class Handoffs:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str]] = []

    async def __call__(self, call_id: str, reason: str) -> int:
        self.recorded.append((call_id, reason))
        return 7  # the queued handoff's id


@pytest.fixture
async def gateway(ko_model):
    made: list[VoiceGateway] = []

    async def factory(dialogue=None, clock=None, **settings) -> VoiceGateway:
        gw = VoiceGateway(GatewayConfig(audiosocket_port=0, control_port=0, **settings), model=ko_model,
                          registry=CallRegistry(), clock=clock or Clock(), record_handoff=Handoffs(),
                          rasa=dialogue or RecordingDialogue(script))
        await gw.start()
        made.append(gw)
        return gw

    yield factory
    for gw in made:
        await gw.stop()
        assert gw.server.open_calls == 0 and not gw.sessions


def phone(gw: VoiceGateway, call_uuid: uuid.UUID | None = None) -> SimulatedPhone:
    assert gw.audiosocket_port
    return SimulatedPhone("127.0.0.1", gw.audiosocket_port, call_uuid)


async def control(gw: VoiceGateway, method: str, path: str, **kwargs) -> tuple[int, str]:
    kwargs["headers"] = {"X-Seat-Voice-Token": gw.config.control_token, **kwargs.get("headers", {})}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"http://127.0.0.1:{gw.control_port}{path}", **kwargs) as resp:
            return resp.status, await resp.text()


async def test_registered_caller_and_context_go_with_every_message(gateway):
    gw = await gateway()
    call = uuid.uuid4()
    status, _ = await control(gw, "POST", f"/calls/{call}",
                              json={"caller": "13912345678", "context": {"survey_ticket": "20260101-0001"}})
    assert status == 201
    async with phone(gw, call) as p:
        await p.bot_spoke(p.connected_at)
        status, body = await control(gw, "GET", f"/calls/{call}")
        assert status == 200 and json.loads(body)["caller"] == "139****5678"
        assert json.loads(body)["state"] == "active"
    dialogue = gw.rasa
    sender, text, metadata = dialogue.received[0]
    assert (sender, text) == (str(call), "/greet")
    assert metadata == {"channel": "voice", "call_id": str(call), "caller": "13912345678",
                        "survey_ticket": "20260101-0001", "input": "start"}
    await until(lambda: not gw.sessions)
    assert (await control(gw, "GET", f"/calls/{call}/outcome"))[1] == "caller_hangup"


async def test_dialplan_can_register_with_a_form_post_like_curl(gateway):
    gw = await gateway()
    call = uuid.uuid4()
    status, _ = await control(gw, "POST", f"/calls/{call}", data={"caller": "01067891234", "queue": "agents"})
    assert status == 201
    record = gw.registry.get(str(call))
    assert record and record.caller == "01067891234" and record.context == {"queue": "agents"}
    assert (await control(gw, "POST", "/calls/not-a-uuid", json={}))[0] == 400
    assert (await control(gw, "POST", f"/calls/{call}", data=b"{oops", headers={"Content-Type": "application/json"}))[0] == 400
    assert (await control(gw, "GET", f"/calls/{uuid.uuid4()}"))[0] == 404
    assert (await control(gw, "GET", f"/calls/{uuid.uuid4()}/outcome")) == (200, "unknown")


async def test_unregistered_call_is_greeted_and_dtmf_frames_are_entries(gateway):
    gw = await gateway()
    async with phone(gw) as p:
        first = await p.bot_spoke(p.connected_at)
        assert first - p.connected_at < 1.5
        for key in "5#":
            await p.press(key)
        await until(lambda: len(gw.rasa.received) == 2)
    _, text, metadata = gw.rasa.received[1]
    assert text == "5" and metadata["input"] == "dtmf" and metadata["caller"] is None


async def test_handoff_announces_hangs_up_and_tells_the_dialplan(gateway):
    gw = await gateway()
    async with phone(gw) as p:
        await p.bot_spoke(p.connected_at)
        await p.press("0")
        await p.press("#")
        await asyncio.wait_for(p.hung_up.wait(), 30)
        assert p.hangup_frame  # AudioSocket hangup frame, then the dialplan continues
    status, body = await control(gw, "GET", f"/calls/{p.uuid}")
    assert json.loads(body)["outcome"] == "handoff" and json.loads(body)["handoff_reason"] == "citizen asked"
    assert (await control(gw, "GET", f"/calls/{p.uuid}/outcome"))[1] == "handoff"
    # the bot's payload named its queued handoff: the dialplan sets HANDOFF_ID from it before Queue()
    assert json.loads(body)["handoff_id"] == 41
    assert (await control(gw, "GET", f"/calls/{p.uuid}/handoff"))[1] == "41"
    assert gw.record_handoff.recorded == []  # the bot records its own handoffs


async def test_dialogue_down_hands_over_and_records_the_handoff(gateway):
    gw = await gateway(RecordingDialogue(fail=True))
    async with phone(gw) as p:
        await asyncio.wait_for(p.hung_up.wait(), 30)
        assert p.hangup_frame and len(p.bot_pcm) > 8000  # the apology was spoken first
    assert gw.record_handoff.recorded == [(str(p.uuid), "dialogue unavailable")]
    assert (await control(gw, "GET", f"/calls/{p.uuid}/outcome"))[1] == "handoff"
    assert (await control(gw, "GET", f"/calls/{p.uuid}/handoff"))[1] == "7"


async def test_silence_reprompts_then_hangs_up_politely(gateway):
    clock = Clock()
    gw = await gateway(clock=clock)
    async with phone(gw) as p:
        await p.bot_spoke(p.connected_at)
        session = gw.sessions[str(p.uuid)]
        for n in range(3):
            await until(lambda: session.waiting_for_caller)  # everything said has played out
            mark = p.clock()
            clock.advance(8.5)
            await p.bot_spoke(mark)
        await until(lambda: session.waiting_for_caller)
        assert not p.hung_up.is_set()
        clock.advance(8.5)
        await asyncio.wait_for(p.hung_up.wait(), 30)
        assert p.hangup_frame
    session_texts = [t for _, t, _ in gw.rasa.received]
    assert session_texts == ["/greet"]
    assert (await control(gw, "GET", f"/calls/{p.uuid}/outcome"))[1] == "silence"


BAD_INPUT = [
    (b"\x42\x00\x00", "unknown frame kind 0x42"),
    (b"\x03\x00\x02" + b"12", "DTMF frame of 2 bytes"),
    (b"\x10\x00\x00", "audio frame of 0 bytes"),
    (b"\x10\x00\x03abc", "audio frame of 3 bytes"),
    (b"\x10\x01\x40" + bytes(100), "EOF after 100 of 320 payload bytes"),
    (encode(Audio(bytes(480), 12000)), "12000 Hz is not supported"),
    (encode(Audio(bytes(320), 8000)) * 20 + encode(Audio(bytes(640), 16000)), "switched from 8000 to 16000 Hz"),
]


@pytest.mark.parametrize(("data", "message"), BAD_INPUT, ids=[m for _, m in BAD_INPUT])
async def test_bad_input_is_logged_closed_and_leaves_nothing(gateway, caplog, data, message):
    gw = await gateway()
    baseline = busy_recognizers()
    caplog.set_level(logging.INFO)
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.audiosocket_port)
    writer.write(encode(CallId(uuid.uuid4())) + data)
    await writer.drain()
    if "EOF" in message:
        writer.write_eof()  # the caller's side is gone in the middle of a frame
    rest = await asyncio.wait_for(reader.read(), 30)  # the gateway closes the connection
    writer.close()
    assert message in caplog.text
    await until(lambda: gw.server.open_calls == 0 and not gw.sessions)
    assert busy_recognizers() == baseline
    del rest


async def test_endless_audio_is_bounded_and_the_call_still_hangs_up_cleanly(gateway):
    import numpy as np

    gw = await gateway()
    baseline = busy_recognizers()
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.audiosocket_port)
    writer.write(encode(CallId(uuid.uuid4())))
    noise = np.random.default_rng(5).normal(0, 3000, 8000 * 30).astype("<i2").tobytes()
    for i in range(0, len(noise), 320):  # 30 s of loud noise, as fast as the socket takes it
        writer.write(encode(Audio(noise[i:i + 320])))
        if i % 32000 == 0:
            await writer.drain()
    await until(lambda: len(gw.sessions) == 1 and busy_recognizers() == baseline + 1)
    writer.write(b"\x00\x00\x00")
    await writer.drain()
    await asyncio.wait_for(reader.read(), 60)
    writer.close()
    await until(lambda: gw.server.open_calls == 0 and not gw.sessions, timeout=60)
    assert busy_recognizers() == baseline


async def test_two_hundred_calls_opened_and_dropped_leave_no_leak(gateway, caplog):
    gw = await gateway()
    async with phone(gw) as p:  # one full call first: thread pools exist from here on
        await p.bot_spoke(p.connected_at)
    await until(lambda: not gw.sessions)
    threads, recognizers = threading.active_count(), busy_recognizers()

    async def drop(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.audiosocket_port)
        if i % 4 == 1:
            writer.write(encode(CallId(uuid.uuid4())))
        elif i % 4 == 2:
            writer.write(encode(CallId(uuid.uuid4())) + encode(Audio(bytes(320))) * 5)
        elif i % 4 == 3:
            writer.write(encode(CallId(uuid.uuid4()))[:7])  # cut inside the UUID frame
        await writer.drain()
        if i % 8 == 2:
            await asyncio.sleep(0.5)  # some are dropped while the greeting is on its way
        writer.transport.abort()

    await asyncio.gather(*(drop(i) for i in range(200)))
    await until(lambda: gw.server.open_calls == 0 and not gw.sessions, timeout=60)
    # A call dropped while its recognizer is being built gets it afterwards and hands it back from a callback
    # (voice.recognizers.acquire): those returns may still be on their way when the last session is gone.
    await until(lambda: busy_recognizers() == recognizers, timeout=30)
    await until(lambda: threading.active_count() <= threads, timeout=10)
    assert "truncated" in caplog.text or "EOF" in caplog.text
    async with phone(gw) as p:  # and the gateway still answers
        await p.bot_spoke(p.connected_at)


def gateway_config(env: dict[str, str]) -> GatewayConfig:
    return GatewayConfig.from_settings(Settings.from_env(env))


def web_config(env: dict[str, str]):
    from web.app import WebConfig

    return WebConfig.from_settings(Settings.from_env({"RASA_AUTH_TOKEN": "t", **env}))


def test_settings_from_the_environment_and_a_bad_endpoint_is_refused_clearly():
    config = gateway_config({"VOICE_ENDPOINT_MS": "500", "VOICE_SILENCE_S": "6", "AUDIOSOCKET_PORT": "9192"})
    assert (config.endpoint_silence_ms, config.silence_reprompt_s, config.audiosocket_port) == (500, 6.0, 9192)
    assert gateway_config({}).endpoint_silence_ms == 700
    for bad in ("100", "5000", "fast"):
        with pytest.raises(ValueError, match="VOICE_ENDPOINT_MS"):
            gateway_config({"VOICE_ENDPOINT_MS": bad})
    from web.app import WebConfig

    assert web_config({"VOICE_ENDPOINT_MS": "600"}).endpoint_silence_ms == 600  # the talk button too
    assert WebConfig().endpoint_silence_ms == GatewayConfig().endpoint_silence_ms
    with pytest.raises(ValueError, match="AUDIOSOCKET_PORT='x' is not a number"):
        gateway_config({"AUDIOSOCKET_PORT": "x"})


def test_a_bad_setting_stops_the_service_with_one_line_not_a_traceback():
    import os
    import subprocess
    import sys

    env = {**os.environ, "VOICE_ENDPOINT_MS": "50"}
    done = subprocess.run([sys.executable, "-m", "voice.gateway"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert "voice gateway: bad setting: VOICE_ENDPOINT_MS=50" in done.stderr and "Traceback" not in done.stderr


async def test_calls_use_the_configured_endpoint_and_silence(gateway):
    gw = await gateway(endpoint_silence_ms=500, silence_reprompt_s=5.0)
    async with phone(gw) as p:
        await p.bot_spoke(p.connected_at)
        config = gw.sessions[str(p.uuid)].config
        assert (config.endpoint_silence_ms, config.silence_reprompt_s) == (500, 5.0)
