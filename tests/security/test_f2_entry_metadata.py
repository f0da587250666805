"""Finding 2 (issue 13), at the entry: Rasa's REST channel drops internal metadata a client sends.

The real Rasa app as `seat.rasa_run` starts it (REST channel, trained model, the seat's guards): a client's
`{"metadata": {"attempt_id": N, "channel": "voice"}}` reaches the dialogue without those keys; the seat's
own services (with the internal secret, as ground.rasa_client sends it) keep theirs.
"""
from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest
from rasa.core.agent import load_agent
from rasa.core.channels.rest import RestInput
from sanic import Sanic

import seat.rasa_run as seat_rasa
from ground.rasa_client import RasaClient
from ground.settings import REPO_ROOT

MODELS = sorted((REPO_ROOT / "models").glob("*.tar.gz")) or sorted(Path("models").glob("*.tar.gz"))
pytestmark = pytest.mark.skipif(not MODELS, reason="needs the trained model in models/ (make train)")
SECRET = "internal-secret-for-the-test"


@pytest.fixture(autouse=True)
def fresh_sanic_registry(monkeypatch):
    """Each test builds Rasa's app anew in this process (Sanic otherwise refuses a second app of that name)."""
    monkeypatch.setattr(Sanic, "test_mode", True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _scenario() -> tuple[dict, dict, int]:
    seat_rasa._patch_app_guards()
    app = seat_rasa.rasa_run.configure_app([RestInput()], enable_api=False, port=0)
    agent = app.ctx.agent = await load_agent(model_path=str(MODELS[-1]))
    port = _free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    base = f"http://127.0.0.1:{port}"
    forged = {"attempt_id": 1, "survey_ticket": "20261126-000001", "channel": "voice", "lang": "zh"}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(base + "/webhooks/rest/webhook",
                                 json={"sender": "x", "message": "/greet", "metadata": forged}) as resp:
                status = resp.status
        seat = RasaClient(base, token=SECRET)
        try:
            await seat.send("call-1", "/greet", {"attempt_id": 7, "channel": "voice"})
        finally:
            await seat.close()
        client_seen = (await agent.tracker_store.retrieve("x")).latest_message.metadata
        seat_seen = (await agent.tracker_store.retrieve("call-1")).latest_message.metadata
        return client_seen, seat_seen, status
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()


def test_client_metadata_loses_internal_keys_and_the_seats_own_keep_them(monkeypatch) -> None:
    monkeypatch.setenv("RASA_AUTH_TOKEN", SECRET)
    client_seen, seat_seen, status = asyncio.run(_scenario())
    assert status == 200
    rasa_own = {"assistant_id", "model_id"}  # Rasa adds these itself
    assert {k: v for k, v in client_seen.items() if k not in rasa_own} == {"lang": "zh"}
    assert {k: v for k, v in seat_seen.items() if k not in rasa_own} == {"attempt_id": 7, "channel": "voice"}
