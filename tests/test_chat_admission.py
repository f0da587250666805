"""Phone calls before chat (issue 14): chat admission in front of Rasa.

First the admission itself (slots, FIFO hand-over, a full queue refused at once, a wait that times out, a
cancelled waiter that gives its slot back), then the real thing: the Rasa app as `seat.rasa_run` starts it
(REST channel, the trained model, the seat's guards and admission) served on a local port, flooded with chat
straight on the REST webhook and through the citizen page's relay (web/app.py) while a voice-channel message
is sent: chat beyond capacity gets a fast 503 with the Mandarin sentence and Retry-After (the page passes it
on), the voice message is answered, and /metrics counts both.
"""
from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from rasa.core.agent import load_agent
from rasa.core.channels.rest import RestInput
from sanic import Sanic

import seat.rasa_run as seat_rasa
from ground.rasa_client import RasaClient
from ground.settings import REPO_ROOT, current
from seat.chat_admission import BUSY, ChatAdmission

MODELS = sorted((REPO_ROOT / "models").glob("*.tar.gz")) or sorted(Path("models").glob("*.tar.gz"))
SECRET = "internal-secret-for-the-admission-test"


# ---- the admission on its own ---------------------------------------------------------------------------------
async def test_slots_are_handed_over_first_come_first_served() -> None:
    gate = ChatAdmission(max_inflight=2, max_queue=5, timeout_s=5.0)
    assert await gate.enter() and await gate.enter()
    order: list[int] = []

    async def wait(i: int) -> None:
        assert await gate.enter()
        order.append(i)

    waiters = [asyncio.create_task(wait(i)) for i in range(3)]
    await asyncio.sleep(0.05)
    assert gate.inflight == 2 and gate.queued == 3 and order == []
    for _ in range(3):
        gate.leave()
        await asyncio.sleep(0.01)
    await asyncio.gather(*waiters)
    assert order == [0, 1, 2] and gate.inflight == 2 and gate.queued == 0
    gate.leave(), gate.leave()
    assert gate.inflight == 0


async def test_a_full_queue_refuses_at_once_and_a_long_wait_times_out() -> None:
    gate = ChatAdmission(max_inflight=1, max_queue=1, timeout_s=0.3)
    assert await gate.enter()
    queued = asyncio.create_task(gate.enter())
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    assert await gate.enter() is False  # queue full: no wait
    assert time.perf_counter() - started < 0.05
    assert await queued is False  # waited 0.3 s, then refused
    assert gate.refused == {"queue_full": 1, "timeout": 1}
    gate.leave()
    assert gate.inflight == 0 and await gate.enter()


async def test_a_waiter_cancelled_after_the_hand_over_gives_the_slot_back() -> None:
    gate = ChatAdmission(max_inflight=1, max_queue=3, timeout_s=5.0)
    assert await gate.enter()
    waiter = asyncio.create_task(gate.enter_or_release())
    await asyncio.sleep(0.02)
    gate.leave()  # the slot passes to the waiter ...
    waiter.cancel()  # ... whose client went away in the same instant
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.sleep(0.02)
    assert gate.inflight == 0 and gate.queued == 0


def test_the_limits_are_settings_with_clear_errors() -> None:
    from ground.settings import Settings

    load = Settings.from_env({"CHAT_MAX_INFLIGHT": "3", "CHAT_MAX_QUEUE": "0", "CHAT_QUEUE_TIMEOUT_S": "1.5"}).load
    assert (load.chat_max_inflight, load.chat_max_queue, load.chat_queue_timeout_s) == (3, 0, 1.5)
    for bad in ({"CHAT_MAX_INFLIGHT": "0"}, {"CHAT_MAX_QUEUE": "-1"}, {"CHAT_QUEUE_TIMEOUT_S": "0"},
                {"CHAT_MAX_INFLIGHT": "many"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Settings.from_env(bad)


# ---- against the real Rasa app ----------------------------------------------------------------------------------
@pytest.fixture
def rasa_settings(monkeypatch):
    """Each test builds Rasa's app anew in this process; the admission reads its limits from the settings."""
    monkeypatch.setattr(Sanic, "test_mode", True)
    for name, value in {"CHAT_MAX_INFLIGHT": "1", "CHAT_MAX_QUEUE": "2", "CHAT_QUEUE_TIMEOUT_S": "0.5",
                        "RASA_AUTH_TOKEN": SECRET}.items():
        monkeypatch.setenv(name, value)
    current.cache_clear()
    yield
    current.cache_clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _flood() -> dict:
    from web.app import WebConfig, create_app

    seat_rasa._patch_app_guards()
    app = seat_rasa.rasa_run.configure_app([RestInput()], enable_api=False, port=0)
    app.ctx.agent = await load_agent(model_path=str(MODELS[-1]))
    port = _free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    base = f"http://127.0.0.1:{port}"
    page = create_app(WebConfig(rasa_url=base, rasa_token=SECRET, chat_per_minute=1000,
                                database_url="sqlite://"))
    voice = RasaClient(base, token=SECRET)
    try:
        async with aiohttp.ClientSession() as http, TestClient(TestServer(page)) as relay:
            async def rest(i: int) -> tuple[int, object, float, str | None]:
                started = time.perf_counter()
                async with http.post(base + "/webhooks/rest/webhook",
                                     json={"sender": f"flood-{i}", "message": "再见"}) as resp:
                    return (resp.status, await resp.json(content_type=None), time.perf_counter() - started,
                            resp.headers.get("Retry-After"))

            async def via_page(i: int) -> tuple[int, object, float, str | None]:
                started = time.perf_counter()
                resp = await relay.post("/api/chat", json={"sender": f"web-0000000{i}-aaaa-bbbb",
                                                           "message": "再见"})
                return (resp.status, await resp.json(), time.perf_counter() - started,
                        resp.headers.get("Retry-After"))

            async def call() -> tuple[object, float]:
                await asyncio.sleep(0.3)  # in the middle of the flood
                started = time.perf_counter()
                reply = await voice.send("call-under-flood", "再见", {"channel": "voice", "call_id": "x"})
                return reply, time.perf_counter() - started

            await rest(-1)  # warm-up: the first prediction is slow
            results = await asyncio.gather(*(rest(i) for i in range(24)), *(via_page(i) for i in range(8)), call())
            async with http.get(base + "/metrics") as resp:
                metrics = await resp.text()
    finally:
        await voice.close()
        await server.before_stop()
        await server.close()
        await server.after_stop()
    return {"rest": results[:24], "page": results[24:32], "voice": results[32], "metrics": metrics}


@pytest.mark.skipif(not MODELS, reason="needs the trained model in models/ (make train)")
def test_a_chat_flood_gets_fast_polite_503s_while_a_voice_message_is_answered(rasa_settings) -> None:
    out = asyncio.run(_flood())
    rest, page = out["rest"], out["page"]
    busy = [r for r in rest if r[0] == 503]
    answered = [r for r in rest if r[0] == 200]
    assert busy and answered, [r[0] for r in rest]
    for status, body, seconds, retry_after in busy:
        assert body[0]["text"] == BUSY and retry_after == "10"
        assert seconds < 3.0  # at most the 0.5 s queue wait and the loop's delay: not a 30 s timeout
    assert all(isinstance(body, list) and body and all(m["recipient_id"].startswith("flood-") for m in body)
               for _, body, _, _ in answered), answered
    page_busy = [r for r in page if r[0] == 503]
    assert page_busy, [r[0] for r in page]
    assert all(body == {"error": BUSY} and retry_after == "10" for _, body, _, retry_after in page_busy)
    reply, voice_s = out["voice"]
    assert reply.texts, "the voice message got no answer"
    metrics = samples(out["metrics"])
    assert metrics[("seat_rasa_messages_total", (("channel", "voice"), ("result", "ok")))] >= 1
    assert metrics[("seat_rasa_messages_total", (("channel", "rest"), ("result", "busy")))] >= len(busy)
    assert metrics[("seat_rasa_messages_total", (("channel", "web"), ("result", "busy")))] >= len(page_busy)
    assert metrics[("seat_chat_admission_total", (("result", "queue_full"),))] >= 1
    assert metrics[("seat_chat_inflight", ())] == 0 and metrics[("seat_chat_queued", ())] == 0


def samples(text: str) -> dict:
    """(name, sorted labels) -> value of a Prometheus text exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}
