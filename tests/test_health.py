"""Health answers (issue 14): 200 "ok" when the service can do its job, 503 "degraded" naming the dependency that
is down (Rasa for the citizen page and the voice gateway, the database for the callbacks service)."""
from __future__ import annotations

import aiohttp
from sqlalchemy import create_engine as sa_create_engine

from callbacks.health import start_health
from tests.e2e.conftest import free_port
from tests.web_support import RecordingRasa, serving
from voice.control import CallRegistry, make_app
from web.app import WebConfig, create_app


async def _get(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            return resp.status, await resp.json()


async def test_the_citizen_page_is_degraded_while_rasa_is_down():
    async with serving(RecordingRasa().app()) as rasa:
        config = WebConfig(rasa_url=str(rasa.make_url("")), push_token="p" * 16, vosk_model="")
        async with serving(create_app(config)) as page:
            status, body = await _get(str(page.make_url("/health")))
            assert (status, body["status"], body["checks"]) == (200, "ok", {"rasa": True})
            await rasa.close()  # Rasa goes away: the page still answers, and says chat cannot work
            status, body = await _get(str(page.make_url("/health")))
            assert (status, body["status"], body["checks"]) == (503, "degraded", {"rasa": False})
            assert body["pages"] == 0


async def test_the_voice_gateway_health_checks_rasa_without_the_secret():
    async with serving(RecordingRasa().app()) as rasa:
        app = make_app(CallRegistry(), "t" * 24, str(rasa.make_url("")))
        async with serving(app) as control:
            status, body = await _get(str(control.make_url("/health")))  # no X-Seat-Voice-Token: health is open
            assert (status, body["checks"], body["calls"]) == (200, {"rasa": True}, 0)
            await rasa.close()
            status, body = await _get(str(control.make_url("/health")))
            assert (status, body["status"], body["checks"]) == (503, "degraded", {"rasa": False})


async def test_the_callbacks_health_reports_the_database_and_the_workers(tmp_path):
    port = free_port()
    running = [True]
    good = sa_create_engine(f"sqlite:///{tmp_path / 'ok.db'}")
    runner = await start_health(good, port, lambda: running[0], workers=2)
    try:
        status, body = await _get(f"http://127.0.0.1:{port}/health")
        assert (status, body["checks"], body["workers"]) == (200, {"database": True, "workers": True}, 2)
        running[0] = False  # the workers stopped
        status, body = await _get(f"http://127.0.0.1:{port}/health")
        assert (status, body["checks"]["workers"]) == (503, False)
    finally:
        await runner.cleanup()
    dead = sa_create_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/none")  # nothing listens there
    runner = await start_health(dead, port, lambda: True, workers=1)
    try:
        status, body = await _get(f"http://127.0.0.1:{port}/health")
        assert (status, body["status"], body["checks"]["database"]) == (503, "degraded", False)
    finally:
        await runner.cleanup()
    good.dispose()
    dead.dispose()


async def test_a_taken_health_port_does_not_stop_the_callbacks(tmp_path):
    async with serving(RecordingRasa().app()) as other:
        engine = sa_create_engine(f"sqlite:///{tmp_path / 'ok.db'}")
        assert await start_health(engine, other.port, lambda: True, workers=1) is None
        engine.dispose()
