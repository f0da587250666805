"""The simulated callee's call logs stay bounded (issue 15: memory): a demo seat (CALLBACK_DIALER=simulated) keeps
calling for days; only the newest MAX_LOGS call logs are kept, in order."""
from __future__ import annotations

import socket
import uuid

import aiohttp
from aiohttp import web

from callbacks import callee
from callbacks.callee import SimulatedCalleeDialer
from callbacks.dialers import CallRequest
from tests.web_support import serving


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_call_logs_keep_only_the_newest(monkeypatch):
    monkeypatch.setattr(callee, "MAX_LOGS", 5)
    registered: list[str] = []

    async def register(request: web.Request) -> web.Response:  # the voice gateway's control API accepts the call
        registered.append(request.match_info["call_id"])
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/calls/{call_id}", register)
    async with serving(app) as control, aiohttp.ClientSession() as session:
        # AudioSocket unreachable: every call is registered and logged, then fails to connect (fast)
        dialer = SimulatedCalleeDialer(f"http://127.0.0.1:{control.port}", "127.0.0.1", closed_port(), session)
        results, logged = [], []
        for i in range(12):
            results.append(await dialer.call(CallRequest(str(uuid.uuid4()), i, f"T{i}", "13911112222")))
            logged.append(dialer.logs[-1])  # this call's log
            assert len(dialer.logs) == min(i + 1, 5)
    assert len(registered) == 12 and all(r.status == "failed" for r in results)
    assert [id(log) for log in dialer.logs] == [id(log) for log in logged[-5:]]  # the newest five, oldest first
    assert all(log.ended_by == "" and log.keys == [] for log in dialer.logs)
