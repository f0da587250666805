"""The Rasa tier as `make run` lays it out with REDIS_URL (issue 15): two Rasa processes behind HAProxy on one
port, under the launcher, on PostgreSQL and Redis. Conversations are spread over both servers and each ends in
its one ticket; kill -9 of the server holding a conversation mid-form moves it to the other server, where it goes
on from the tracker store to exactly one ticket, while the launcher restarts the killed one."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from ground.settings import Settings
from seat.balancer import NODE_HEADER
from tests.e2e.conftest import COMPLAINT_FIRST_TURNS, COMPLAINT_LAST_TURNS, Stack, _prepare, free_port
from tests.e2e.test_rest_intake import ticket_rows
from tests.faults.support import LauncherProcess, alive, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.stack]

FIRST_TURNS, LAST_TURNS = COMPLAINT_FIRST_TURNS, COMPLAINT_LAST_TURNS


class TierStack(Stack):
    launcher: LauncherProcess

    def say_where(self, sender: str, text: str) -> tuple[str, str]:
        """One message through the balancer: the bot's text and the name of the Rasa server that answered."""
        req = urllib.request.Request(self.rest_url, data=json.dumps({"sender": sender, "message": text}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            replies = json.loads(resp.read() or b"[]")
            return " ".join(r.get("text", "") for r in replies), resp.headers.get(NODE_HEADER, "")

    def servers_up(self) -> set[str]:
        """The servers that answer Rasa's health page through the balancer (no sender to hash: round robin).
        The launcher calls the tier up when the balancer answers, i.e. when one server is; a conversation begun
        before the other is up in HAProxy's eyes would be re-hashed to it once it is."""
        seen = set()
        for _ in range(6):
            try:
                with urllib.request.urlopen(self.api_url + "/", timeout=10) as resp:
                    seen.add(resp.headers.get(NODE_HEADER, ""))
            except OSError:  # 503 while HAProxy has no server up yet (its checks run every second)
                continue
        return seen


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def tier(scratch_databases, model_path: Path, tmp_path_factory) -> Iterator[TierStack]:
    from seat import services

    redis_url = os.environ.get("TEST_REDIS_URL")
    if not shutil.which("haproxy"):
        pytest.skip("haproxy is not installed (scripts/system-deps.sh)")
    if not redis_url or not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("needs TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL: the tier shares both")
    database_url = scratch_databases.create(migrated=True)
    _prepare(database_url)
    tmp = tmp_path_factory.mktemp("tier")
    ports = {name: str(free_port()) for name in ("RASA_PORT", "ACTION_PORT")}
    env = {**ports, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "RASA_PROCESSES": "2",
           "SEAT_LOG_PII": "0", "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{ports['ACTION_PORT']}/webhook",
           "RASA_AUTH_TOKEN": secrets.token_hex(16), "ACTION_TOKEN": secrets.token_hex(16),
           "ADMIN_DATA_DIR": str(tmp)}
    settings = Settings.from_env(env)
    endpoints = services.write_endpoints(settings, tmp / "endpoints.yml")
    svc_list = [services.action_server(settings),
                *services.rasa_tier(settings, model_path, endpoints, ports=[free_port(), free_port()])]
    assert [s.name for s in svc_list] == ["actions", "rasa1", "rasa2", "balancer"]
    for svc in svc_list:
        svc.env.update(env)
        svc.ready_timeout = 600
    launcher = LauncherProcess(svc_list, tmp / "launcher.json", tmp / "tier.log", env=env)
    try:
        launcher.wait_for("all services are up", 900)
        base = f"http://127.0.0.1:{settings.rasa.port}"
        stack = TierStack(rest_url=f"{base}/webhooks/rest/webhook", api_url=base, token=env["RASA_AUTH_TOKEN"],
                          database_url=database_url, log=launcher.log)
        stack.launcher = launcher
        wait_until(lambda: stack.servers_up() == {"rasa1", "rasa2"}, 120, "HAProxy sees both Rasa servers up")
        yield stack
    finally:
        launcher.stop()


def test_conversations_are_spread_over_both_servers_and_each_ends_in_one_ticket(tier):
    seen: dict[str, str] = {}
    for _ in range(8):
        sender = f"tier-{uuid.uuid4().hex[:10]}"
        servers = set()
        for line in FIRST_TURNS:
            _, server = tier.say_where(sender, line)
            servers.add(server)
        assert len(servers) == 1, f"one conversation, one server: {servers}"  # the kept tracker stays warm
        seen[sender] = servers.pop()
        if len(set(seen.values())) == 2 and len(seen) >= 2:
            break
    assert set(seen.values()) == {"rasa1", "rasa2"}, seen
    for sender in seen:
        replies = [tier.say_where(sender, line)[0] for line in LAST_TURNS]
        assert "以上信息是否正确" in replies[-2], replies
        rows = ticket_rows(tier, sender)
        assert len(rows) == 1 and rows[0]["ticket_no"] in replies[-1], replies


def test_kill_9_of_the_server_holding_a_conversation_moves_it_to_the_other(tier):
    launcher = tier.launcher
    sender = f"tier-kill-{uuid.uuid4().hex[:8]}"
    for line in FIRST_TURNS:
        reply, holder = tier.say_where(sender, line)
    assert "电话" in reply or "号码" in reply, reply  # the form now asks for the phone
    other = {"rasa1": "rasa2", "rasa2": "rasa1"}[holder]
    old = launcher.pid(holder)
    mark = len(launcher.output())
    os.kill(old, signal.SIGKILL)
    # a message inside the server (or in its listen backlog) as it dies is lost with an HTTP 502, as the balancer
    # says: a chat message is never re-sent blindly. A process of many threads (TensorFlow's) holds its listening
    # socket until its last thread has exited, a moment after its main thread is a zombie; from then on
    # connections to it are refused, and those HAProxy re-sends:
    port = urlsplit(launcher.services()[holder]["health_url"]).port
    wait_until(lambda: not alive(old) and refused(port), 30, f"{holder} gone and its port closed")
    replies, servers = [], []
    for line in LAST_TURNS:  # at once, before the health check notices: HAProxy re-sends a refused connection
        text, server = tier.say_where(sender, line)
        replies.append(text)
        servers.append(server)
    assert servers == [other] * len(LAST_TURNS), servers
    assert "以上信息是否正确" in replies[-2], replies
    rows = ticket_rows(tier, sender)
    assert len(rows) == 1 and rows[0]["ticket_no"] in replies[-1], replies
    assert (rows[0]["district"], rows[0]["phone"]) == ("朝阳区", "13911112222")
    launcher.wait_for(f"{holder} exited (code -9); restarting in", 30, after=mark)
    launcher.wait_for(f"{holder} is back", 600, after=mark)
    assert not alive(old) and alive(launcher.pid(holder))
