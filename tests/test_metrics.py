"""Prometheus metrics (issue 14): every service's `/metrics` shows what happened in it, with bounded labels.

Each service is scraped over HTTP as Prometheus would: the voice gateway during and after a real call over
AudioSocket (active calls, call outcome, dialogue latency, speech cache), the store's counters when tickets and
handoffs are written (a retried write counts once; a reason or channel outside the known set is "other", never
the raw text), the console's logins, the callbacks' queue depth on its own loopback port, the citizen page's
metrics on their own port and never on its public one, the action server's behind no secret.
The Rasa process's metrics are checked under a chat flood in tests/test_chat_admission.py.
"""
from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from ground.metrics import start_metrics_site
from ground.settings import Settings
from ground.tables.tickets import TicketDraft, utcnow


def samples(text: str) -> dict:
    """(name, sorted labels) -> value of a Prometheus text exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


async def scrape(url: str, **headers: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=headers) as resp:
            return resp.status, await resp.text()


def key(name: str, **labels: str) -> tuple:
    return name, tuple(sorted(labels.items()))


# ---- the voice gateway ----------------------------------------------------------------------------------------
async def test_the_voice_gateway_counts_a_real_call_on_its_control_port() -> None:
    from tests.voice_session_support import Clock, RecordingDialogue, until
    from ground.rasa_client import Reply
    from voice.control import CallRegistry
    from voice.gateway import GatewayConfig, VoiceGateway
    from voice.phone_sim import SimulatedPhone

    gw = VoiceGateway(GatewayConfig(audiosocket_port=0, control_port=0), model=None, registry=CallRegistry(),
                      clock=Clock(), rasa=RecordingDialogue(lambda text: Reply(texts=["请讲。"])))
    await gw.start()
    url = f"http://127.0.0.1:{gw.control_port}/metrics"
    try:
        status, before = await scrape(url)  # no secret needed: loopback, no personal data
        assert status == 200
        assert {"seat_active_calls", "seat_voice_calls", "seat_asr_rtf", "seat_tts_cache",
                "seat_voice_dialogue_seconds"} <= families(before)
        assert (await scrape(f"http://127.0.0.1:{gw.control_port}/calls/{uuid.uuid4()}"))[0] == 403  # still guarded
        before = samples(before)
        async with SimulatedPhone("127.0.0.1", gw.audiosocket_port) as phone:
            await phone.bot_spoke(phone.connected_at)
            await phone.press("5")
            await phone.press("#")
            await until(lambda: len(gw.rasa.received) == 2)
            during = samples((await scrape(url))[1])
        await until(lambda: not gw.sessions)
        after = samples((await scrape(url))[1])
    finally:
        await gw.stop()

    def delta(snapshot: dict, name: str, **labels: str) -> float:
        return snapshot.get(key(name, **labels), 0.0) - before.get(key(name, **labels), 0.0)

    assert delta(during, "seat_active_calls", transport="phone") == 1
    assert delta(after, "seat_active_calls", transport="phone") == 0
    assert delta(after, "seat_voice_calls_total", transport="phone", outcome="caller_hangup") == 1
    assert delta(after, "seat_voice_dialogue_seconds_count", transport="phone") >= 1  # the keyed turn
    spoken = delta(after, "seat_tts_cache_total", result="hit") + delta(after, "seat_tts_cache_total", result="miss")
    assert spoken >= 2  # the greeting and "请讲。" at least


# ---- the store: tickets and handoffs ----------------------------------------------------------------------------
def test_tickets_and_handoffs_are_counted_once_with_bounded_labels(ticket_store) -> None:
    from ground.metrics import exposition

    before = samples(exposition().decode())
    draft = TicketDraft(request_type="complaint", description="楼下工地半夜施工", conversation_id="conv-metrics-1",
                        request_key="r1", channel="web", phone="13912345678")
    ticket_store.create_ticket(draft)
    ticket_store.create_ticket(draft)  # a retried action: the same ticket, not counted again
    ticket_store.create_ticket(TicketDraft(request_type="help", description="路灯坏了", conversation_id="conv-2",
                                           request_key="r1", channel="made-up-channel"))
    ticket_store.record_handoff("conv-metrics-1", "citizen asked for a human agent", {}, "voice")
    ticket_store.record_handoff("conv-3", "a reason with 13912345678 in it", {}, "web")
    after = exposition().decode()
    now = samples(after)

    def delta(name: str, **labels: str) -> float:
        return now.get(key(name, **labels), 0.0) - before.get(key(name, **labels), 0.0)

    assert delta("seat_tickets_written_total", channel="web", request_type="complaint") == 1
    assert delta("seat_tickets_written_total", channel="other", request_type="help") == 1
    assert delta("seat_handoffs_total", reason="asked", channel="voice") == 1
    assert delta("seat_handoffs_total", reason="other", channel="web") == 1
    assert "13912345678" not in after and "made-up-channel" not in after and "conv-" not in after


# ---- the admin console ------------------------------------------------------------------------------------------
async def test_console_logins_are_counted_by_result(tmp_path, clean_db, database_url) -> None:
    from admin.app import create_app
    from ground.store import users
    from tests.admin_support import PASSWORD, admin_config, csrf_of, login, start_client

    users.create_user(clean_db, "boss", PASSWORD, "admin")
    client = await start_client(create_app(admin_config(tmp_path, database_url), engine=clean_db, run_tests=False,
                                           warm_up=False))
    try:
        resp = await client.get("/metrics")  # Prometheus has no console session
        assert resp.status == 200
        before = samples(await resp.text())
        await login(client, "boss")
        page = await client.get("/login")
        resp = await client.post("/login", data={"_csrf": csrf_of(await page.text()), "username": "boss",
                                                 "password": "wrong"}, allow_redirects=False)
        assert resp.status == 401
        after = samples(await (await client.get("/metrics")).text())
    finally:
        await client.close()
    for result, count in (("ok", 1), ("failed", 1)):
        name = key("seat_admin_logins_total", result=result)
        assert after.get(name, 0) - before.get(name, 0) == count, result


# ---- the callbacks service --------------------------------------------------------------------------------------
async def test_the_callback_queue_depth_is_read_from_the_store_and_served_on_loopback(clean_db) -> None:
    from callbacks.metrics import refresh_queue_depth
    from ground.store.survey_tries import schedule_closed
    from ground.survey_policy import SurveyPolicy
    from tests.callbacks_support import closed_ticket

    now = utcnow()
    for _ in range(3):
        closed_ticket(clean_db, now - timedelta(hours=3))
    policy = SurveyPolicy()
    schedule_closed(clean_db, policy, now)
    runner, port = await start_metrics_site("127.0.0.1", 0)
    try:
        assert await refresh_queue_depth(clean_db, now - timedelta(days=1)) == {}  # nothing due yet
        text = (await scrape(f"http://127.0.0.1:{port}/metrics"))[1]
        assert samples(text)[key("seat_callback_queue_depth", channel="voice")] == 0
        depth = await refresh_queue_depth(clean_db, now + timedelta(days=10))  # all due by then
        text = (await scrape(f"http://127.0.0.1:{port}/metrics"))[1]
    finally:
        await runner.cleanup()
    assert sum(depth.values()) == 3
    assert sum(v for (name, _), v in samples(text).items() if name == "seat_callback_queue_depth") == 3


def test_metrics_ports_are_settings_on_loopback_by_default() -> None:
    metrics = Settings.from_env({}).metrics
    assert (metrics.host, metrics.web_port, metrics.callbacks_port) == ("127.0.0.1", 9103, 9104)
    metrics = Settings.from_env({"WEB_METRICS_PORT": "19103", "CALLBACKS_METRICS_PORT": "19104",
                                 "METRICS_HOST": "10.0.0.2"}).metrics
    assert (metrics.host, metrics.web_port, metrics.callbacks_port) == ("10.0.0.2", 19103, 19104)
    with pytest.raises(ValueError, match="WEB_METRICS_PORT"):
        Settings.from_env({"WEB_METRICS_PORT": "ninety"})


# ---- the citizen page -------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_page_serves_metrics_on_its_loopback_port_never_on_the_public_one() -> None:
    from web.app import WebConfig, create_app

    port = _free_port()
    app = create_app(WebConfig(rasa_url="http://127.0.0.1:9", database_url="sqlite://", metrics_port=port))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/metrics")).status == 404  # the public port: citizens never see it
        resp = await client.post("/api/chat", json={"sender": "web-00000000-aaaa-bbbb", "message": "你好"})
        assert resp.status == 502  # Rasa is not there
        status, text = await scrape(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert {"seat_web_chat", "seat_web_chat_seconds", "seat_active_calls", "seat_tts_cache"} <= families(text)
    assert samples(text)[key("seat_web_chat_total", result="error")] >= 1


# ---- the action server ------------------------------------------------------------------------------------------
async def test_the_action_server_serves_metrics_without_its_secret_and_nothing_else(monkeypatch) -> None:
    from sanic import Sanic

    from seat.action_run import create_app

    monkeypatch.setattr(Sanic, "test_mode", True)
    app = create_app("bot.actions", "action-secret-for-the-metrics-test")
    port = _free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        status, text = await scrape(f"http://127.0.0.1:{port}/metrics")
        webhook_status = (await scrape(f"http://127.0.0.1:{port}/webhook"))[0]
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
    assert status == 200 and {"seat_tickets_written", "seat_handoffs", "seat_callback_tries"} <= families(text)
    assert webhook_status == 403


# ---- the dashboard and the scrape configuration ------------------------------------------------------------------
def test_every_metric_the_dashboard_queries_is_exported_by_a_service() -> None:
    import importlib
    import json
    import re

    from ground.metrics import exposition
    from ground.settings import REPO_ROOT

    # the modules where the services define their metrics (each service imports its own)
    for module in ("seat.chat_admission", "voice.metrics", "web.app", "admin.views.auth", "callbacks.metrics",
                   "ground.store.tickets", "ground.store.survey_tries"):
        importlib.import_module(module)
    text = exposition().decode()
    names = families(text)
    exported = names | {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    dashboard = json.loads((REPO_ROOT / "deploy" / "grafana" / "seat.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(dashboard["panels"]) >= 12 and len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    queried = {m for expr in exprs for m in re.findall(r"\b((?:seat|process)_[a-z_]+)\b", expr)}
    assert len(queried) >= 15
    missing = sorted(m for m in queried
                     if m not in exported and re.sub(r"_(bucket|count|sum|total)$", "", m) not in names)
    assert missing == []
    # and every seat metric defined is on the dashboard
    seat_families = {n for n in names if n.startswith("seat_")}
    shown = {re.sub(r"_(bucket|count|sum|total)$", "", m) for m in queried}
    assert sorted(seat_families - shown) == []


def test_the_scrape_configuration_names_every_service_at_its_default_port() -> None:
    import yaml

    from ground.settings import REPO_ROOT

    config = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "seat.yml").read_text(encoding="utf-8"))
    targets = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in config["scrape_configs"]}
    s = Settings.from_env({})
    assert targets == {
        "seat-rasa": f"127.0.0.1:{s.rasa.port}", "seat-actions": f"127.0.0.1:{s.rasa.action_port}",
        "seat-voice": f"127.0.0.1:{s.voice.control_port}", "seat-web": f"127.0.0.1:{s.metrics.web_port}",
        "seat-admin": f"127.0.0.1:{s.admin.port}", "seat-callbacks": f"127.0.0.1:{s.metrics.callbacks_port}",
    }
