"""Issue 13, finding 8: one client must not flood the chat relay, open pages without end, or hold every voice line.
Real page app in front of a recording Rasa (tests/web_support.py); the limits come from the settings tree."""
from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from ground.settings import Settings
from tests.web_support import RecordingRasa, serving
from web.app import WebConfig, create_app


def citizen() -> str:
    return f"web-{uuid.uuid4()}"


def unused_session(*_: object, **__: object):
    raise AssertionError("no voice session in these tests")


@pytest.fixture
async def page():
    rasa = RecordingRasa()
    async with serving(rasa.app()) as rasa_server:
        config = WebConfig(rasa_url=str(rasa_server.make_url("")), vosk_model="", chat_per_minute=5,
                           pages_per_client=2, calls_per_client=1)
        async with serving(create_app(config, session_factory=unused_session)) as server:
            yield f"http://127.0.0.1:{server.port}", rasa


async def test_a_chat_flood_gets_429_in_mandarin_and_does_not_reach_rasa(page):
    base, rasa = page
    async with aiohttp.ClientSession() as http:
        statuses = []
        for i in range(8):
            async with http.post(f"{base}/api/chat", json={"sender": citizen(), "message": f"第{i}条"}) as resp:
                statuses.append(resp.status)
                if resp.status == 429:
                    body = await resp.json()
                    assert "频繁" in body["error"] and int(resp.headers["Retry-After"]) >= 1
    assert statuses == [200] * 5 + [429] * 3
    assert len(rasa.received) == 5  # the refused ones cost Rasa nothing
    # another client (forwarded by the local proxy) is not affected
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/chat", json={"sender": citizen(), "message": "你好"},
                             headers={"X-Forwarded-For": "203.0.113.9"}) as resp:
            assert resp.status == 200


async def test_one_client_cannot_open_pages_without_end(page):
    base, _ = page
    ws_url = base.replace("http", "ws") + "/ws/events?sender="
    async with aiohttp.ClientSession() as http:
        first = await http.ws_connect(ws_url + citizen())
        second = await http.ws_connect(ws_url + citizen())
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(ws_url + citizen())
        assert refused.value.status == 429
        await first.close()
        third = await http.ws_connect(ws_url + citizen())  # a closed page frees its place
        assert (await third.receive_json(timeout=5))["type"] == "hello"
        await second.close()
        await third.close()


async def test_one_client_holds_at_most_its_share_of_voice_calls(ko_model_dir):
    """Real talk-button calls (the Korean test model): with WEB_CALLS_PER_CLIENT=1 a client's second call is refused
    while its first is live, another client still gets one, and the place is free again once the first ends."""
    model = ko_model_dir
    rasa = RecordingRasa()
    async with serving(rasa.app()) as rasa_server:
        config = WebConfig(rasa_url=str(rasa_server.make_url("")), vosk_model=model, max_voice_calls=20,
                           calls_per_client=1)
        async with serving(create_app(config)) as server:
            url = f"ws://127.0.0.1:{server.port}/ws/voice?sender="
            async with aiohttp.ClientSession() as http:
                first = await http.ws_connect(url + citizen())
                assert (await first.receive_json(timeout=60))["type"] == "started"
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(url + citizen())
                assert refused.value.status == 429
                other = await http.ws_connect(url + citizen(), headers={"X-Forwarded-For": "203.0.113.7"})
                assert (await other.receive_json(timeout=60))["type"] == "started"
                await other.close()
                await first.send_json({"type": "hangup"})
                await first.close()
                for _ in range(100):  # the call's end frees the place (explicit wait on the server's state)
                    try:
                        again = await http.ws_connect(url + citizen())
                        break
                    except aiohttp.WSServerHandshakeError:
                        await asyncio.sleep(0.1)
                assert (await again.receive_json(timeout=60))["type"] == "started"
                await again.close()


def test_the_limits_are_settings_and_must_be_positive():
    web = Settings.from_env({"WEB_CALLS_PER_CLIENT": "3", "WEB_CHAT_PER_MINUTE": "12", "WEB_PAGES_PER_CLIENT": "4"}).web
    assert (web.calls_per_client, web.chat_per_minute, web.pages_per_client) == (3, 12, 4)
    with pytest.raises(ValueError, match="WEB_CALLS_PER_CLIENT"):
        Settings.from_env({"WEB_CALLS_PER_CLIENT": "0"})
