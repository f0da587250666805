"""Helpers for the citizen page tests: a recording stand-in for Rasa's REST webhook, app servers."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, Sequence

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class RecordingRasa:
    """Rasa's REST webhook as far as the page needs it: answers each message, records what it got."""

    received: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)  # the Authorization header of each message
    reply: Callable[[dict[str, Any]], list[dict[str, Any]]] = lambda body: [
        {"recipient_id": body["sender"], "text": f"收到：{body['message']}"}]
    status: int = 200

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        self.authorizations.append(request.headers.get("Authorization", ""))
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


@contextmanager
def web_page_process(port: int, log: Path, env: dict[str, str], args: Sequence[str] = (),
                     ready: Callable[[dict[str, Any]], bool] = lambda health: True,
                     timeout_s: float = 60.0) -> Iterator[str]:
    """`python -m web.app` as the seat starts it, on 127.0.0.1:`port`, until its ``/health`` answers and
    `ready(health)` holds; yields its base URL, stops the process afterwards and prints the end of its log."""
    import pytest

    from ground.settings import REPO_ROOT

    proc = subprocess.Popen([sys.executable, "-m", "web.app", "--host", "127.0.0.1", "--port", str(port), *args],
                            cwd=REPO_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as resp:
                if ready(json.load(resp)):
                    break
        except urllib.error.HTTPError as exc:  # 503 "degraded": serving, but its Rasa does not answer
            if exc.code == 503 and ready(json.load(exc)):
                break
        except (OSError, ValueError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(10)
            pytest.fail("the web page server did not start:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)  # waiting for the process to come up, not a timing assertion
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(30)
        print(log.read_text(errors="replace")[-3000:])


def outside_address() -> str | None:
    """A non-loopback address of this machine (None if it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        except OSError:
            return None
        addr = s.getsockname()[0]
    return None if addr.startswith("127.") else addr


def _handshake(host: str, port: int, path: str, sender: str) -> tuple[bytes, str]:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path}?sender={sender} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode(), key


def _masked_binary(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x82, 0x80 | len(payload)]) + mask + body


async def open_and_drop(port: int, path: str, how: str) -> None:
    """A raw WebSocket opened, maybe fed a frame or a lying header, then cut without a close frame."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request, _ = _handshake("127.0.0.1", port, path, f"web-{uuid.uuid4()}")
    writer.write(request)
    await writer.drain()
    status = await reader.readline()
    assert b" 101 " in status, status
    if how == "after_start":  # wait for the server's first frame: the call (and recognizer) exists
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        assert await reader.read(1)
    elif how == "frame":
        writer.write(_masked_binary(bytes(100)))
    elif how == "lying_length":  # 64-bit length of 1 TB, then nothing
        writer.write(bytes([0x82, 0xFF]) + (1 << 40).to_bytes(8, "big") + os.urandom(4) + bytes(10))
    elif how == "half_frame":
        writer.write(_masked_binary(bytes(100))[:20])
    await writer.drain()
    writer.transport.abort()
