"""Finding 3 (issue 13): one long message no longer freezes the seat.

The real Rasa app as `seat.rasa_run` starts it (Rasa's REST channel, the trained model, the seat's guards),
served on a local port: a 40,000-character message is refused within a second with a Mandarin sentence,
while another conversation sent at the same time is answered. Before, Rasa's REST channel took any length
and spent over 30 s of CPU on such a message, every other conversation waiting.
"""
from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp
import pytest
from rasa.core.agent import load_agent
from rasa.core.channels.rest import RestInput
from sanic import Sanic

import seat.rasa_run as seat_rasa
from ground.settings import REPO_ROOT

MODELS = sorted((REPO_ROOT / "models").glob("*.tar.gz")) or sorted(Path("models").glob("*.tar.gz"))
pytestmark = pytest.mark.skipif(not MODELS, reason="needs the trained model in models/ (make train)")


@pytest.fixture(autouse=True)
def fresh_sanic_registry(monkeypatch):
    """Each test builds Rasa's app anew in this process (Sanic otherwise refuses a second app of that name)."""
    monkeypatch.setattr(Sanic, "test_mode", True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _scenario() -> tuple:
    seat_rasa._patch_app_guards()
    app = seat_rasa.rasa_run.configure_app([RestInput()], enable_api=False, port=0)
    app.ctx.agent = await load_agent(model_path=str(MODELS[-1]))
    port = _free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    try:
        async with aiohttp.ClientSession() as http:
            async def post(sender: str, text: str) -> tuple[int, list, float]:
                started = time.perf_counter()
                async with http.post(url, json={"sender": sender, "message": text}) as resp:
                    return resp.status, await resp.json(content_type=None), time.perf_counter() - started

            await post("warm-up", "你好")
            (long_status, long_body, long_s), (other_status, other_body, _), (mid_status, mid_body, _) = \
                await asyncio.gather(post("flooder", "噪音" * 20_000), post("citizen", "再见"),
                                     post("talker", "噪音" * 1_500))
            return long_status, long_body, long_s, other_status, other_body, mid_status, mid_body
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()


def test_a_40000_character_message_is_refused_within_a_second_while_others_are_answered() -> None:
    long_status, long_body, long_s, other_status, other_body, mid_status, mid_body = asyncio.run(_scenario())
    assert long_status == 413 and "太长" in long_body[0]["text"]
    # 3,000 characters: a small request, but over the 2,000-character message limit.
    assert mid_status == 413 and mid_body == [{"recipient_id": "talker", "text": seat_rasa.TOO_LONG}]
    assert long_s < 1.0
    assert other_status == 200 and other_body and other_body[0]["recipient_id"] == "citizen"
