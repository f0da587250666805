"""The citizen page server: chat relay to Rasa, pushes into live pages, the events socket."""
from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
from aiohttp import WSMsgType

from tests.web_support import RecordingRasa, open_and_drop, outside_address, serving
from web.app import WebConfig, create_app

TOKEN = "push-token-for-tests"
PUSH = {"X-Seat-Push-Token": TOKEN}


def citizen() -> str:
    return f"web-{uuid.uuid4()}"


def unused_session(*_: object, **__: object):
    raise AssertionError("no voice call expected in these tests")


@pytest.fixture
async def page():
    """The page app (no speech model) in front of a recording Rasa; yields (base_url, rasa)."""
    rasa = RecordingRasa()
    async with serving(rasa.app()) as rasa_server:
        config = WebConfig(rasa_url=str(rasa_server.make_url("")), push_token=TOKEN, rasa_token="rasa-secret",
                           vosk_model="")
        async with serving(create_app(config, session_factory=unused_session), host="0.0.0.0") as server:
            yield f"http://127.0.0.1:{server.port}", rasa, server.port


async def test_chat_goes_to_rasa_with_web_channel_and_returns_replies(page):
    base, rasa, _ = page
    rasa.reply = lambda body: [
        {"recipient_id": body["sender"], "text": "请问是哪个区？",
         "buttons": [{"title": "朝阳区", "payload": "朝阳"}, {"title": "海淀区", "payload": "海淀"}]},
        {"recipient_id": body["sender"], "image": "x.png"},  # nothing the page shows
    ]
    sender = citizen()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/chat", json={"sender": sender, "message": " 楼下工地太吵 "}) as resp:
            assert resp.status == 200
            data = await resp.json()
    assert rasa.received == [{"sender": sender, "message": "楼下工地太吵", "metadata": {"channel": "web"}}]
    # Rasa keeps the relay's channel only from the seat's own services: the relay shows the Rasa token, not the
    # push secret (a different secret, for pushes into the page)
    assert rasa.authorizations == ["Bearer rasa-secret"]
    assert data == {"messages": [{"text": "请问是哪个区？", "buttons": [
        {"title": "朝阳区", "payload": "朝阳"}, {"title": "海淀区", "payload": "海淀"}]}]}


@pytest.mark.parametrize("body, status", [
    ({"sender": "demo", "message": "你好"}, 400),  # not a page's sender id
    ({"sender": "PLACEHOLDER", "message": "  "}, 400),
    ({"sender": "PLACEHOLDER", "message": 5}, 400),
    ({"sender": "PLACEHOLDER", "message": "长" * 2001}, 413),
    (["not", "an", "object"], 400),
])
async def test_bad_chat_requests_are_refused_in_mandarin_and_not_forwarded(page, body, status):
    base, rasa, _ = page
    if isinstance(body, dict) and body.get("sender") == "PLACEHOLDER":
        body = {**body, "sender": citizen()}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/chat", json=body) as resp:
            assert resp.status == status
            error = (await resp.json())["error"]
        async with http.post(f"{base}/api/chat", data=b"\xff{not json") as resp:
            assert resp.status == 400
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error), error
    assert rasa.received == []


async def test_rasa_failure_is_a_502_with_a_mandarin_message(page):
    base, rasa, _ = page
    rasa.status = 500
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/chat", json={"sender": citizen(), "message": "你好"}) as resp:
            assert resp.status == 502
            assert "暂时无法连接" in (await resp.json())["error"]


async def test_rasa_down_is_a_502():
    config = WebConfig(rasa_url="http://127.0.0.1:9", vosk_model="")  # discard port: refused
    async with serving(create_app(config, session_factory=unused_session)) as server:
        async with aiohttp.ClientSession() as http:
            async with http.post(server.make_url("/api/chat"), json={"sender": citizen(), "message": "你好"}) as resp:
                assert resp.status == 502


async def test_push_reaches_every_open_page_of_that_citizen_only(page):
    base, _, _ = page
    alice, bob = citizen(), citizen()
    ws_base = base.replace("http", "ws")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/internal/push", json={"sender": alice, "messages": [{"text": "x"}]},
                             headers=PUSH) as resp:
            assert resp.status == 404  # not connected
        tab1 = await http.ws_connect(f"{ws_base}/ws/events?sender={alice}")
        tab2 = await http.ws_connect(f"{ws_base}/ws/events?sender={alice}")
        other = await http.ws_connect(f"{ws_base}/ws/events?sender={bob}")
        for ws in (tab1, tab2, other):
            assert (await ws.receive_json(timeout=5)) == {"type": "hello"}
        survey = {"text": "请您对本次服务进行评价", "buttons": [{"title": "满意", "payload": "/rate{\"score\":1}"}]}
        async with http.post(f"{base}/internal/push", json={"sender": alice, "messages": [survey]},
                             headers=PUSH) as resp:
            assert resp.status == 202
            assert (await resp.json()) == {"delivered": 2}
        for ws in (tab1, tab2):
            assert (await ws.receive_json(timeout=5)) == {"type": "bot", "messages": [survey]}
        await other.send_str('{"type":"ping"}')
        assert (await other.receive_json(timeout=5)) == {"type": "pong"}  # nothing pushed to bob before it
        await tab1.close()
        await tab2.close()
        async with http.get(f"{base}/health") as resp:
            assert (await resp.json())["pages"] == 1
        await other.close()


async def test_push_from_outside_needs_the_token(page):
    _, _, port = page
    addr = outside_address()
    if addr is None:
        pytest.skip("no non-loopback address to call from")
    sender = citizen()
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"ws://127.0.0.1:{port}/ws/events?sender={sender}")
        body = {"sender": sender, "messages": [{"text": "您好"}]}
        async with http.post(f"http://{addr}:{port}/internal/push", json=body) as resp:
            assert resp.status == 403
        async with http.post(f"http://{addr}:{port}/internal/push", json=body,
                             headers={"Authorization": "Bearer wrong"}) as resp:
            assert resp.status == 403
        async with http.post(f"http://{addr}:{port}/internal/push?token={TOKEN}", json=body) as resp:
            assert resp.status == 403  # never in the query string (access logs keep it)
        async with http.post(f"http://{addr}:{port}/internal/push", json=body, headers=PUSH) as resp:
            assert resp.status == 202
        # a reverse proxy on this machine relays outside requests: not trusted as local
        async with http.post(f"http://127.0.0.1:{port}/internal/push", json=body,
                             headers={"X-Forwarded-For": "203.0.113.9"}) as resp:
            assert resp.status == 403
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        assert (await ws.receive_json(timeout=5))["messages"] == [{"text": "您好", "buttons": []}]
        await ws.close()


@pytest.mark.parametrize("send", ["text", "binary", "huge"])
async def test_garbage_on_the_events_socket_closes_it_cleanly(page, send, caplog):
    base, _, _ = page
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{base.replace('http', 'ws')}/ws/events?sender={citizen()}")
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        if send == "text":
            await ws.send_str("DROP TABLE tickets")
        elif send == "binary":
            await ws.send_bytes(b"\x00\x01")
        else:
            await ws.send_str("x" * 100_000)
        msg = await ws.receive(timeout=5)
        assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
        assert ws.close_code in (1003, 1009)
        async with http.get(f"{base}/health") as resp:
            assert (await resp.json())["pages"] == 0
    assert "events socket of web-" in caplog.text


async def test_sockets_refuse_bad_senders_and_foreign_origins(page):
    base, _, _ = page
    ws_base = base.replace("http", "ws")
    async with aiohttp.ClientSession() as http:
        for path in ("/ws/events", "/ws/voice"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await http.ws_connect(f"{ws_base}{path}?sender=../../etc")
            assert err.value.status == 400
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await http.ws_connect(f"{ws_base}{path}?sender={citizen()}", origin="http://evil.example")
            assert err.value.status == 403


async def test_page_and_assets_are_served_offline(page):
    base, _, _ = page
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/") as resp:
            html = await resp.text()
        assert "12345" in html and "开始通话" in html
        for asset in ("app.js", "capture-worklet.js", "style.css"):
            async with http.get(f"{base}/static/{asset}") as resp:
                assert resp.status == 200
                text = await resp.text()
            assert "http://" not in text and "https://" not in text  # no CDN, no external fonts
        assert "https://" not in html and "http://" not in html


async def test_talk_without_a_speech_model_says_so_and_closes(page):
    base, _, _ = page
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{base.replace('http', 'ws')}/ws/voice?sender={citizen()}")
        msg = await ws.receive_json(timeout=5)
        assert msg["type"] == "error" and "文字" in msg["text"]
        assert (await ws.receive(timeout=5)).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
        assert ws.close_code == 1013


def test_make_run_starts_the_page_on_web_port(monkeypatch, tmp_path):
    from pathlib import Path

    from seat import services
    from ground.settings import Settings

    monkeypatch.setattr(services, "write_endpoints", lambda settings: tmp_path / "endpoints.yml")
    settings = Settings.from_env({"WEB_PORT": "8123", "RASA_PORT": "5999", "RASA_AUTH_TOKEN": "t"})
    names = [s.name for s in services.all_services(settings, Path("model.tar.gz"))]
    assert {"rasa", "actions", "voice", "web", "admin", "callbacks"} <= set(names)
    assert names.index("rasa") < names.index("web")  # the page relays to Rasa: started after it
    web_svc = services.web_server(settings)
    assert web_svc.argv[1:] == ["-m", "web.app", "--port", "8123", "--rasa-url", "http://127.0.0.1:5999"]
    assert web_svc.ready_url == "http://127.0.0.1:8123/health"


async def test_pages_that_vanish_leave_no_socket_behind(page):
    base, _, port = page
    for how in ("after_start", "none", "frame", "lying_length", "half_frame") * 4:
        await open_and_drop(port, "/ws/events", how)
    deadline = asyncio.get_running_loop().time() + 10
    async with aiohttp.ClientSession() as http:
        while True:  # explicit wait for the server to notice
            async with http.get(f"{base}/health") as resp:
                if (await resp.json())["pages"] == 0:
                    break
            assert asyncio.get_running_loop().time() < deadline, "events sockets left open"
            await asyncio.sleep(0.05)
