"""Finding 2 (issue 13), at the entry: Rasa's REST channel drops internal metadata a client sends.

The real Rasa app as `seat.rasa_run` starts it (REST channel, trained model, the seat's guards): a client's
`{"metadata": {"attempt_id": N, "channel": "voice"}}` reaches the dialogue without those keys; the seat's
own services (with the internal secret, as ground.rasa_client sends it) keep theirs.
"""
from __future__ import annotations

import asyncio

import aiohttp

from ground.rasa_client import RasaClient
from tests.rasa_support import fresh_sanic_registry, needs_model, served_rasa  # noqa: F401 (fixture)

pytestmark = needs_model
SECRET = "internal-secret-for-the-test"


async def _scenario() -> tuple[dict, dict, int]:
    forged = {"attempt_id": 1, "survey_ticket": "20261126-000001", "channel": "voice", "lang": "zh"}
    async with served_rasa() as rasa:
        base, agent = rasa.base, rasa.agent
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


def test_client_metadata_loses_internal_keys_and_the_seats_own_keep_them(monkeypatch) -> None:
    monkeypatch.setenv("RASA_AUTH_TOKEN", SECRET)
    client_seen, seat_seen, status = asyncio.run(_scenario())
    assert status == 200
    rasa_own = {"assistant_id", "model_id"}  # Rasa adds these itself
    assert {k: v for k, v in client_seen.items() if k not in rasa_own} == {"lang": "zh"}
    assert {k: v for k, v in seat_seen.items() if k not in rasa_own} == {"attempt_id": 7, "channel": "voice"}
