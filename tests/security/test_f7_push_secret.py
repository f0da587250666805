"""Issue 13, finding 7: /internal/push needs its own secret in a header; a "local" caller without it is refused."""
from __future__ import annotations

import uuid

import aiohttp
from aiohttp import web

from web.app import WebConfig, create_app

SECRET = "push-secret-0123456789abcdef"


async def test_local_push_without_header_is_refused_and_with_it_delivered():
    runner = web.AppRunner(create_app(WebConfig(push_token=SECRET, vosk_model="")))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    sender = f"web-{uuid.uuid4()}"
    body = {"sender": sender, "messages": [{"text": "请点击链接领取补贴"}]}
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"ws://127.0.0.1:{port}/ws/events?sender={sender}")
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
            async with http.post(f"http://127.0.0.1:{port}/internal/push", json=body) as resp:
                assert resp.status == 403  # from 127.0.0.1, no header: refused
            async with http.post(f"http://127.0.0.1:{port}/internal/push?token={SECRET}", json=body) as resp:
                assert resp.status == 403  # not in the query string
            async with http.post(f"http://127.0.0.1:{port}/internal/push", json=body,
                                 headers={"X-Seat-Push-Token": SECRET}) as resp:
                assert resp.status == 202
            assert (await ws.receive_json(timeout=5))["messages"][0]["text"] == "请点击链接领取补贴"
            await ws.close()
    finally:
        await runner.cleanup()


def test_web_push_url_points_at_the_citizen_page():
    from ground.settings import Settings
    assert Settings.from_env({"WEB_PORT": "8123"}).callbacks.web_push_url == "http://127.0.0.1:8123/internal/push"
