"""The running stack for end-to-end tests: action server + Rasa server on a fresh database.

Started once per session on free ports, with the trained model of the current training data
(`make test` trains it first when the data changed).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from ground.settings import REPO_ROOT, Settings


# headless Debian chromium, as both browser suites (citizen page, admin console) start it
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# the WeChat channel of the stack (credentials.yml), signed with this token by tests/e2e/test_wechat_complaint.py
WECHAT_TEST_TOKEN = "e2e-wechat-token"
WECHAT_ENV = {"WECHAT_TOKEN": WECHAT_TEST_TOKEN, "WECHAT_APP_ID": "wx1234567890abcdef",
              "WECHAT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}


# A noise complaint that ends in one ticket: its first turns (before the form asks for the phone) and the rest.
COMPLAINT_FIRST_TURNS = ["我要投诉，我家旁边的工地每天晚上十一点以后还在施工，吵得根本睡不着", "朝阳区望京街道望京西园三区"]
COMPLAINT_LAST_TURNS = ["13911112222", "王先生", "不需要保密", "对，没问题"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    """Where the running seat listens, and its database."""

    rest_url: str
    api_url: str
    token: str
    database_url: str
    log: Path
    wechat_url: str = ""      # the WeChat channel's webhook (enabled with WECHAT_TEST_TOKEN)

    def say(self, sender: str, text: str, metadata: dict | None = None) -> list[dict]:
        """One citizen message through the REST channel; the bot's replies."""
        body = {"sender": sender, "message": text}
        if metadata:
            body["metadata"] = metadata
        req = urllib.request.Request(
            self.rest_url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"[]")

    def chat(self, lines: list[str], sender: str | None = None) -> tuple[str, list[str]]:
        """Say each line in turn; returns the sender id and the bot's text per turn."""
        sender = sender or f"test-{uuid.uuid4().hex[:10]}"
        replies = [" ".join(r.get("text", "") for r in self.say(sender, line)) for line in lines]
        return sender, replies


def _prepare(database_url: str) -> None:
    """What `seat prepare` does before `make run`: units and the knowledge base."""
    from ground.db import create_engine
    from ground.store.knowledge import load_kb
    from ground.store.units import load_units

    engine = create_engine(database_url)
    try:
        load_units(engine)
        load_kb(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def stack(scratch_databases, model_path: Path, tmp_path_factory) -> Iterator[Stack]:
    """The seat's services running against a fresh, migrated database of their own."""
    from seat import services

    database_url = scratch_databases.create(migrated=True)
    _prepare(database_url)
    action_port = free_port()
    settings = Settings.from_env({
        "DATABASE_URL": database_url, "RASA_PORT": str(free_port()), "ACTION_PORT": str(action_port),
        "RASA_AUTH_TOKEN": uuid.uuid4().hex, "ACTION_TOKEN": uuid.uuid4().hex, "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
    })
    tmp = tmp_path_factory.mktemp("stack")
    endpoints = services.write_endpoints(settings, tmp / "endpoints.yml")
    svc_list = [services.action_server(settings), services.rasa_server(settings, model_path, endpoints)]
    env = {"DATABASE_URL": database_url, "SEAT_LOG_PII": "0", **WECHAT_ENV}
    for svc in svc_list:
        svc.env.update(env)
        svc.ready_timeout = 300
    log = tmp / "stack.log"
    launcher_cmd = [sys.executable, "-c", _LAUNCH_SNIPPET]
    proc = subprocess.Popen(
        launcher_cmd, cwd=REPO_ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
        env={**os.environ, **env, "STACK_SPEC": json.dumps([s.__dict__ for s in svc_list], default=list)},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{settings.rasa.port}"
    deadline = time.monotonic() + 420
    ready = False
    while time.monotonic() < deadline and proc.poll() is None:
        if "all services are up" in log.read_text(errors="replace"):
            ready = True
            break
        time.sleep(1)
    if not ready:
        proc.terminate()
        proc.wait(30)
        pytest.fail("the stack did not start:\n" + log.read_text(errors="replace")[-4000:])
    try:
        yield Stack(
            rest_url=f"{base}/webhooks/rest/webhook", api_url=base, token=settings.rasa.auth_token or "",
            database_url=database_url, log=log, wechat_url=f"{base}/webhooks/wechat/webhook",
        )
    finally:
        proc.send_signal(__import__("signal").SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


_LAUNCH_SNIPPET = """
import asyncio, json, os, sys
from seat.launcher import Launcher, Service
spec = json.loads(os.environ.pop("STACK_SPEC"))
sys.exit(asyncio.run(Launcher([Service(**s) for s in spec], colour=False).run()))
"""
