"""Helpers for the citizen page tests: a recording stand-in for Rasa's REST webhook, app servers."""
from __future__ import annotations

import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class RecordingRasa:
    """Rasa's REST webhook as far as the page needs it: answers each message, records what it got."""

    received: list[dict[str, Any]] = field(default_factory=list)
    reply: Callable[[dict[str, Any]], list[dict[str, Any]]] = lambda body: [
        {"recipient_id": body["sender"], "text": f"收到：{body['message']}"}]
    status: int = 200

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        if self.status != 200:
            return web.Response(status=self.status, text="boom")
        return web.json_response(self.reply(body))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self.webhook)
        return app


@asynccontextmanager
async def serving(app: web.Application, host: str = "127.0.0.1") -> AsyncIterator[TestServer]:
    """`app` on a free port of `host` (runs its cleanup_ctx), closed afterwards."""
    server = TestServer(app, host=host)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


def outside_address() -> str | None:
    """A non-loopback address of this machine (None if it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        except OSError:
            return None
        addr = s.getsockname()[0]
    return None if addr.startswith("127.") else addr
