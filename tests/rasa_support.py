"""The real Rasa app as `seat.rasa_run` starts it (REST channel, the trained model, the seat's guards), served
in this process on a free loopback port: for tests of what the seat adds in front of Rasa."""
from __future__ import annotations

import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from rasa.core.agent import Agent, load_agent
from rasa.core.channels.rest import RestInput
from sanic import Sanic

import seat.rasa_run as seat_rasa
from ground.settings import REPO_ROOT

MODELS = sorted((REPO_ROOT / "models").glob("*.tar.gz")) or sorted(Path("models").glob("*.tar.gz"))
needs_model = pytest.mark.skipif(not MODELS, reason="needs the trained model in models/ (make train)")


@pytest.fixture(autouse=True)
def fresh_sanic_registry(monkeypatch):
    """Each test builds Rasa's app anew in this process (Sanic otherwise refuses a second app of that name)."""
    monkeypatch.setattr(Sanic, "test_mode", True)


@dataclass
class ServedRasa:
    base: str  # http://127.0.0.1:<port>
    agent: Agent

    @property
    def webhook(self) -> str:
        return self.base + "/webhooks/rest/webhook"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def served_rasa(**configure: Any) -> AsyncIterator[ServedRasa]:
    """Rasa's app with the seat's guards and the newest trained model, until the block ends."""
    seat_rasa._patch_app_guards()
    app = seat_rasa.rasa_run.configure_app([RestInput()], **{"enable_api": False, "port": 0, **configure})
    agent = app.ctx.agent = await load_agent(model_path=str(MODELS[-1]))
    port = _free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield ServedRasa(f"http://127.0.0.1:{port}", agent)
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
