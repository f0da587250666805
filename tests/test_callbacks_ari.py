"""The ARI dialer against a small local aiohttp server that plays Asterisk ARI's HTTP contract (the REST
endpoints and JSON shapes of /ari/channels, and the event WebSocket /ari/events with ChannelStateChange /
ChannelDestroyed and their hangup causes) and records what it was sent — this is not Asterisk itself —
and against a recording stand-in for the voice gateway's control API (POST /calls/{uuid})."""
from __future__ import annotations

import asyncio
import base64
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web

from callbacks.dialers import AriConfig, AriDialer, CallRequest
from callbacks.worker import CallbackWorker
from tests.callbacks_support import StepClock, policy_from, always_open_env, as_utc, attempts_of, closed_ticket, local

REQUEST = CallRequest(call_id="7f1c2a52-6a77-4c3c-9b8e-0d7d3c1f4e11", attempt_id=42, ticket_no="20261126-000007",
                      phone="13912345678")


def ari_event(kind: str, channel_id: str, state: str, **fields) -> dict:
    """An ARI channel event as Asterisk sends it on /ari/events."""
    return {"type": kind, "timestamp": "2026-12-03T09:00:00.000+0800", "application": "seat-dialer",
            "channel": {"id": channel_id, "name": f"PJSIP/trunk-{channel_id[:8]}", "state": state,
                        "caller": {"name": "", "number": "12345"}, "dialplan": {"context": "survey-callback",
                                                                                "exten": "s", "priority": 1}},
            **fields}


def destroyed(channel_id: str, cause: int, state: str = "Ringing") -> dict:
    texts = {16: "Normal Clearing", 17: "User busy", 19: "No answer", 21: "Call Rejected", 34: "Circuit/channel congestion"}
    return ari_event("ChannelDestroyed", channel_id, state, cause=cause, cause_txt=texts.get(cause, "Unknown"))


def dial(channel_id: str, status: str) -> dict:
    """ARI's Dial event for the originated channel (the "peer" of the originate's dial)."""
    peer = ari_event("Dial", channel_id, "Down")["channel"]
    return {"type": "Dial", "timestamp": "2026-12-03T09:00:00.000+0800", "application": "seat-dialer",
            "dialstatus": status, "forward": "", "dialstring": "13912345678@trunk", "peer": peer}


def ringing_then(cause: int | None, answered: bool = False, dial_status: str = ""):
    """The events of one originated call: ringing, answered or not, destroyed with `cause`."""
    def script(channel_id: str) -> list[dict]:
        events = [ari_event("ChannelCreated", channel_id, "Down"), dial(channel_id, ""),
                  ari_event("ChannelStateChange", channel_id, "Ringing")]
        if dial_status:
            events.append(dial(channel_id, dial_status))
        if answered:
            events.append(ari_event("ChannelStateChange", channel_id, "Up"))
        return events + [destroyed(channel_id, cause if cause is not None else 16, "Up" if answered else "Ringing")]
    return script


class FakeAri:
    """Channel states the fake Asterisk reports on each GET, then 404 (the channel is gone); with `events`,
    it also serves /ari/events and, after each originate, sends that channel's events to every listener
    (an unrelated channel's events first: subscribeAll delivers all of them)."""

    def __init__(self, states: list[dict], originate_status: int = 200, events=None) -> None:
        self.states, self.originate_status, self.events = list(states), originate_status, events
        self.requests: list[dict] = []
        self.contexts: list[dict] = []
        self.listeners: list[web.WebSocketResponse] = []
        self.ws_requests: list[dict] = []

    def app(self) -> web.Application:
        app = web.Application()
        if self.events is not None:
            app.router.add_get("/ari/events", self.event_socket)
        app.router.add_post("/ari/channels", self.originate)
        app.router.add_get("/ari/channels/{id}", self.get_channel)
        app.router.add_post("/calls/{uuid}", self.register)  # the voice gateway's control API
        return app

    async def originate(self, request: web.Request) -> web.Response:
        self.requests.append({"params": dict(request.query), "body": await request.json(),
                              "auth": request.headers.get("Authorization")})
        if self.originate_status != 200:
            return web.json_response({"message": "Allocation failed"}, status=self.originate_status)
        if self.events is not None:
            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(
                self._emit(self.events(request.query["channelId"]))))
        return web.json_response({"id": request.query["channelId"], "state": "Down"})

    async def event_socket(self, request: web.Request) -> web.WebSocketResponse:
        self.ws_requests.append({"query": dict(request.query), "auth": request.headers.get("Authorization")})
        if request.headers.get("Authorization") != "Basic " + base64.b64encode(b"seat:s3cret").decode():
            raise web.HTTPUnauthorized()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.listeners.append(ws)
        async for _ in ws:  # ARI clients send nothing; keep it open until they close
            pass
        self.listeners.remove(ws)
        return ws

    async def _emit(self, events: list[dict]) -> None:
        other = "0b5e1c1e-0000-4000-8000-000000000000"
        for event in [ari_event("ChannelStateChange", other, "Up"), destroyed(other, 17, "Up"), *events]:
            for ws in list(self.listeners):
                await ws.send_json(event)
            await asyncio.sleep(0.01)

    async def get_channel(self, request: web.Request) -> web.Response:
        self.requests.append({"get": request.match_info["id"]})
        if not self.states:
            return web.json_response({"message": "Channel not found"}, status=404)
        return web.json_response({"id": request.match_info["id"], **self.states.pop(0)})

    async def register(self, request: web.Request) -> web.Response:
        self.contexts.append({"uuid": request.match_info["uuid"], **await request.json()})
        return web.json_response({"ok": True}, status=201)


async def _dial(fake: FakeAri):
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    polls = []

    async def no_sleep(seconds: float) -> None:
        polls.append(seconds)

    try:
        async with aiohttp.ClientSession() as session:
            cfg = AriConfig(url=base, username="seat", password="s3cret", endpoint="PJSIP/{phone}@trunk",
                            context="survey-callback")
            return await AriDialer(cfg, base, session, sleep=no_sleep).call(REQUEST), polls
    finally:
        await runner.cleanup()


def test_answered_call_registers_the_survey_context_then_originates_into_audiosocket_context() -> None:
    fake = FakeAri([{"state": "Ringing"}, {"state": "Up"}, {"state": "Up"}])
    result, polls = asyncio.run(_dial(fake))
    assert result.status == "answered"
    assert fake.contexts == [{"uuid": REQUEST.call_id, "caller": "13912345678",
                              "context": {"survey_ticket": "20261126-000007", "attempt_id": 42}}]
    originate = fake.requests[0]
    assert originate["params"]["endpoint"] == "PJSIP/13912345678@trunk"
    assert originate["params"]["context"] == "survey-callback" and originate["params"]["extension"] == "s"
    assert originate["params"]["channelId"] == REQUEST.call_id
    assert originate["body"] == {"variables": {"SURVEY_UUID": REQUEST.call_id, "SURVEY_TICKET": "20261126-000007"}}
    assert originate["auth"] == "Basic " + base64.b64encode(b"seat:s3cret").decode()
    assert [r.get("get") for r in fake.requests[1:]] == [REQUEST.call_id] * 4  # followed until it is gone
    assert len(polls) == 3


def test_busy_and_unanswered_calls() -> None:
    busy, _ = asyncio.run(_dial(FakeAri([{"state": "Ringing", "channelvars": {"HANGUPCAUSE": "17"}}])))
    assert busy.status == "busy"
    unanswered, _ = asyncio.run(_dial(FakeAri([{"state": "Ringing"}, {"state": "Ringing"}])))
    assert unanswered.status == "no_answer"


def test_refused_originate_is_a_failed_call() -> None:
    result, _ = asyncio.run(_dial(FakeAri([], originate_status=500)))
    assert result.status == "failed" and "500" in result.detail


@pytest.mark.parametrize(("script", "status", "detail"), [
    (ringing_then(17), "busy", "busy (hangup cause 17)"),
    (ringing_then(19), "no_answer", "no answer (hangup cause 19)"),
    (ringing_then(34), "failed", "congestion (hangup cause 34)"),
    (ringing_then(21), "busy", "rejected (hangup cause 21)"),
    (ringing_then(0, dial_status="BUSY"), "busy", "busy (hangup cause 0, dial status BUSY)"),
    (ringing_then(0), "no_answer", "not answered (hangup cause 0)"),
    (ringing_then(16, answered=True), "answered", ""),
], ids=["busy", "no-answer", "congestion", "rejected", "busy-on-a-local-channel", "no-cause", "answered"])
def test_the_outcome_comes_from_aris_channel_events(script, status, detail) -> None:
    fake = FakeAri([], events=script)  # a GET would find the channel gone: only the events can tell
    result, polls = asyncio.run(_dial(fake))
    assert (result.status, result.detail) == (status, detail)
    assert polls == [] and [r for r in fake.requests if "get" in r] == []
    [ws] = fake.ws_requests  # opened before the originate, for every channel, with the ARI user's auth
    assert ws["query"] == {"app": f"seat-dialer-{REQUEST.call_id}", "subscribeAll": "true"}
    assert fake.requests[0]["params"]["channelId"] == REQUEST.call_id and not fake.listeners


def test_without_the_event_socket_the_channel_is_polled_and_said_so(caplog) -> None:
    fake = FakeAri([{"state": "Ringing", "channelvars": {"HANGUPCAUSE": "34"}}])
    result, polls = asyncio.run(_dial(fake))
    assert (result.status, result.detail) == ("failed", "congestion (hangup cause 34)") and len(polls) == 1
    assert "ARI events unavailable" in caplog.text and "polling the channel" in caplog.text


def _tries(engine, ticket_no: str) -> list[tuple]:
    return [(a.attempt, a.outcome, a.scheduled_at) for a in attempts_of(engine, ticket_no)]


def test_the_worker_retries_each_ari_outcome_by_the_policy(clean_db) -> None:
    """Busy and rejected come back after CALLBACK_BUSY_MINUTES, no answer and congestion after the retry spacing."""
    clock = StepClock(as_utc(local(2026, 11, 26, 10, 0)))
    policy = policy_from({**always_open_env(clock.now), "CALLBACK_BUSY_MINUTES": "45",
                                    "CALLBACK_RETRY_MINUTES": "120,1440", "CALLBACK_DELAY_MINUTES": "0"})
    causes = {17: "busy", 21: "busy", 19: "no_answer", 34: "failed"}
    tickets = {cause: closed_ticket(clean_db, clock.now - timedelta(hours=1)) for cause in causes}
    cause_of: dict[str, int] = {}

    def script(channel_id: str) -> list[dict]:
        return ringing_then(cause_of[channel_id])(channel_id)

    async def scenario() -> list:
        fake = FakeAri([], events=script)
        runner = web.AppRunner(fake.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        try:
            async with aiohttp.ClientSession() as session:
                dialer = AriDialer(AriConfig(url=base, username="seat", password="s3cret"), base, session)

                class Routed:  # which cause each callee's line gives, by ticket
                    async def call(self, request):
                        cause_of[request.call_id] = next(c for c, no in tickets.items() if no == request.ticket_no)
                        return await dialer.call(request)

                worker = CallbackWorker(clean_db, Routed(), policy, clock=clock, worker_id="ari")
                await worker.schedule()
                return [await worker.run_once() for _ in range(len(causes) + 1)]
        finally:
            await runner.cleanup()

    outcomes = asyncio.run(scenario())
    assert sorted(outcomes, key=str) == sorted([*causes.values(), None], key=str)
    for cause, outcome in causes.items():
        first, second = _tries(clean_db, tickets[cause])
        assert first[:2] == (1, outcome) and second[:2] == (2, None)
        spacing = timedelta(minutes=45) if outcome == "busy" else timedelta(minutes=120)
        assert second[2] == clock.now + spacing, cause
