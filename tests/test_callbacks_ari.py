"""The ARI dialer against a small local aiohttp server that plays Asterisk ARI's HTTP contract (the REST
endpoints and JSON shapes of /ari/channels) and records what it was sent — this is not Asterisk itself —
and against a recording stand-in for the voice gateway's control API (POST /calls/{uuid})."""
from __future__ import annotations

import asyncio
import base64

import aiohttp
from aiohttp import web

from callbacks.dialers import AriConfig, AriDialer, CallRequest

REQUEST = CallRequest(call_id="7f1c2a52-6a77-4c3c-9b8e-0d7d3c1f4e11", attempt_id=42, ticket_no="20261126-000007",
                      phone="13912345678")


class FakeAri:
    """Channel states the fake Asterisk reports on each GET, then 404 (the channel is gone)."""

    def __init__(self, states: list[dict], originate_status: int = 200) -> None:
        self.states, self.originate_status = list(states), originate_status
        self.requests: list[dict] = []
        self.contexts: list[dict] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/ari/channels", self.originate)
        app.router.add_get("/ari/channels/{id}", self.get_channel)
        app.router.add_post("/calls/{uuid}", self.register)  # the voice gateway's control API
        return app

    async def originate(self, request: web.Request) -> web.Response:
        self.requests.append({"params": dict(request.query), "body": await request.json(),
                              "auth": request.headers.get("Authorization")})
        if self.originate_status != 200:
            return web.json_response({"message": "Allocation failed"}, status=self.originate_status)
        return web.json_response({"id": request.query["channelId"], "state": "Down"})

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
