"""Two complete seat nodes on one box behind HAProxy, sharing one PostgreSQL database and one Redis db.

Each node is the whole seat as `make run` starts it (actions, Rasa, voice gateway, citizen page, console, callback
workers) under its own launcher, on its own ports; both use the same DATABASE_URL (tickets, Rasa's tracker store,
callback claims) and REDIS_URL (Rasa's conversation locks). HAProxy runs deploy/haproxy-nodes.cfg, the file a
two-machine deployment uses, with the nodes' addresses in its environment; the pages and voice gateways of both
nodes talk to Rasa through it (RASA_URL). What is checked, as a citizen or an operator would see it:

- a conversation whose messages go to node 1, node 2, node 1, ... files exactly one ticket with the right fields;
- two voice gateways take calls spread as deploy/asterisk/extensions.conf spreads them (round robin; the
  registration POST, the AudioSocket call and the outcome on the chosen gateway; the other gateway when the chosen
  one refuses the registration): the Asterisk side is the AudioSocket client of tests/audiosocket_support.py;
  there is no Asterisk on this box, so the dialplan's choice is made here with the same steps;
- the callback workers of both nodes survey closed tickets through their node's gateway (simulated callee) and
  no citizen is called twice (one try per ticket, as many calls on the gateways as tickets);
- SIGKILL of every process of one node mid-conversation: the conversation goes on through HAProxy on the other
  node and files one ticket; the page and new calls are served by the other node.

Ports: 21000-21999 (SCALE_PORTS_FROM / SCALE_PORTS_TO move the range). Needs TEST_DATABASE_URL (PostgreSQL),
TEST_REDIS_URL and haproxy; about 10 GB of memory (two Rasa servers). Everything started here is stopped here,
by process group. `pytest -m stack tests/e2e/test_scale_out.py`.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select

from ground.db import create_engine
from ground.settings import REPO_ROOT, Settings
from ground.tables.tickets import tickets as tickets_table
from ground.tables.tickets import utcnow
from tests.audiosocket_support import AsteriskLine
from tests.callbacks_support import always_open_env, attempts_of, closed_ticket, result_of
from tests.e2e.conftest import COMPLAINT_FIRST_TURNS, COMPLAINT_LAST_TURNS, _prepare
from tests.faults.support import LauncherProcess, alive, wait_until

pytestmark = [pytest.mark.stack]

DEPLOY = REPO_ROOT / "deploy"
NODE_HEADER = "X-Seat-Node"
COMPLAINT = [*COMPLAINT_FIRST_TURNS, *COMPLAINT_LAST_TURNS]
PORT_NAMES = ("RASA_PORT", "ACTION_PORT", "AUDIOSOCKET_PORT", "VOICE_CONTROL_PORT", "WEB_PORT", "ADMIN_PORT",
              "CALLBACKS_HEALTH_PORT", "WEB_METRICS_PORT", "CALLBACKS_METRICS_PORT")


class Ports:
    """Free TCP ports from this helper's range, in order."""

    def __init__(self) -> None:
        self._next = int(os.environ.get("SCALE_PORTS_FROM", "21000"))
        self._last = int(os.environ.get("SCALE_PORTS_TO", "21999"))

    def take(self) -> int:
        while self._next <= self._last:
            port, self._next = self._next, self._next + 1
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
        raise RuntimeError("no free port left in the range")


@dataclass
class Node:
    name: str
    env: dict[str, str]
    launcher: LauncherProcess
    killed: bool = False
    pgids: list[int] = field(default_factory=list)

    def port(self, name: str) -> int:
        return int(self.env[name])

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port('RASA_PORT')}/webhooks/rest/webhook"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.port('VOICE_CONTROL_PORT')}"

    def remember_pgids(self) -> None:
        self.pgids = [self.launcher.proc.pid, *(s["pid"] for s in self.launcher.services().values() if s["pid"])]

    def kill(self) -> None:
        """SIGKILL the launcher and every service of this node: a machine that crashed."""
        self.remember_pgids()
        for pgid in self.pgids:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.launcher.proc.wait(30)
        self.killed = True
        wait_until(lambda: not any(alive(p) for p in self.pgids[1:]), 30, f"{self.name}'s services are gone")

    def stop(self) -> None:
        if not self.killed:
            self.remember_pgids()
            self.launcher.stop()
        for pgid in self.pgids:  # anything left of a service group
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@dataclass
class Cluster:
    nodes: dict[str, Node]
    lb: dict[str, int]  # chat, page, admin
    database_url: str
    voice_token: str
    started_at: object
    next_gateway: int = 0  # the dialplan's round-robin counter (SEAT_NEXT)

    def say(self, sender: str, text: str, url: str | None = None) -> tuple[str, str]:
        """One REST message, through the balancer or to `url`: (the node that answered, the bot's text)."""
        url = url or f"http://127.0.0.1:{self.lb['chat']}/webhooks/rest/webhook"
        req = urllib.request.Request(url, data=json.dumps({"sender": sender, "message": text}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            node = resp.headers.get(NODE_HEADER, "")
            return node, " ".join(r.get("text", "") for r in json.loads(resp.read() or b"[]"))


def http_get(url: str, timeout: float = 10) -> tuple[int | None, Message, bytes]:
    """(status, headers: case-insensitive, HAProxy sends lower-case names; body); None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()
    except OSError:
        return None, Message(), b""


def voice_calls_ended(node: Node) -> int:
    """Calls the node's gateway has ended (its /metrics: seat_voice_calls_total, phone transport)."""
    status, _, body = http_get(f"{node.control_url}/metrics")
    assert status == 200, f"{node.name} gateway metrics: {status}"
    return int(sum(float(v) for v in re.findall(r'^seat_voice_calls_total\{[^}]*transport="phone"[^}]*\} (\S+)$',
                                                  body.decode(), re.M)))


@pytest.fixture(scope="module")
def cluster(scratch_databases, model_path: Path, tmp_path_factory) -> Iterator[Cluster]:
    from seat import services

    if not shutil.which("haproxy"):
        pytest.skip("haproxy is not installed (scripts/system-deps.sh)")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url or not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("needs TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL, shared by both nodes")
    database_url = scratch_databases.create(migrated=True)
    _prepare(database_url)
    tmp = tmp_path_factory.mktemp("scaleout")
    ports = Ports()
    lb = {"chat": ports.take(), "page": ports.take(), "admin": ports.take()}
    shared = {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "SEAT_LOG_PII": "0", "WEB_HOST": "127.0.0.1",
        "RASA_URL": f"http://127.0.0.1:{lb['chat']}",
        "RASA_AUTH_TOKEN": secrets.token_hex(16), "ACTION_TOKEN": secrets.token_hex(16),
        "WEB_PUSH_TOKEN": secrets.token_hex(16), "VOICE_CONTROL_TOKEN": secrets.token_hex(16),
        "OPT_OUT_SECRET": secrets.token_hex(16), "ADMIN_SECRET": secrets.token_hex(16),
        "VOSK_MODEL": "", "CALLBACK_DIALER": "simulated", "CALLBACK_POLL_SECONDS": "2", "CALLBACK_WORKERS": "2",
        **always_open_env(utcnow()),
    }
    started_at = utcnow()
    node_env = {}
    for name in ("node1", "node2"):
        own = {p: str(ports.take()) for p in PORT_NAMES}
        node_env[name] = {**shared, **own, "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{own['ACTION_PORT']}/webhook",
                          "ADMIN_DATA_DIR": str(tmp / name), "SEAT_SPOOL_DIR": str(tmp / name / "spool")}
    for name in node_env:  # the console publishes models to every Rasa server
        node_env[name]["RASA_URLS"] = ",".join(f"http://127.0.0.1:{e['RASA_PORT']}" for e in node_env.values())
    lb_env = {"SEAT_LB_HOST": "127.0.0.1", "SEAT_LB_CHAT_PORT": str(lb["chat"]), "SEAT_LB_PAGE_PORT": str(lb["page"]),
              "SEAT_LB_ADMIN_PORT": str(lb["admin"])}
    for n, name in enumerate(node_env, 1):
        lb_env |= {f"NODE{n}_HOST": "127.0.0.1", f"NODE{n}_RASA_PORT": node_env[name]["RASA_PORT"],
                   f"NODE{n}_WEB_PORT": node_env[name]["WEB_PORT"], f"NODE{n}_ADMIN_PORT": node_env[name]["ADMIN_PORT"]}
    haproxy_log = tmp / "haproxy.log"
    haproxy = subprocess.Popen([shutil.which("haproxy"), "-db", "-f", str(DEPLOY / "haproxy-nodes.cfg")],
                               env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **lb_env},
                               stdout=haproxy_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    nodes: dict[str, Node] = {}
    try:
        for name, env in node_env.items():
            settings = Settings.from_env(env)
            (tmp / name).mkdir(exist_ok=True)
            endpoints = services.write_endpoints(settings, tmp / name / "endpoints.yml")
            svc_list = [services.action_server(settings), services.rasa_server(settings, model_path, endpoints),
                        services.voice_gateway(settings), services.web_server(settings),
                        services.admin_server(settings), services.callback_worker(settings)]
            for svc in svc_list:
                svc.env.update(env)
                svc.ready_timeout = 900
            nodes[name] = Node(name, env, LauncherProcess(svc_list, tmp / name / "launcher.json",
                                                          tmp / f"{name}.log", env=env))
        for node in nodes.values():
            node.launcher.wait_for("all services are up", 1200)
        assert haproxy.poll() is None, haproxy_log.read_text()

        def both_behind_balancer() -> bool:
            seen = {http_get(f"http://127.0.0.1:{lb['chat']}/")[1].get(NODE_HEADER) for _ in range(4)}
            return seen == set(nodes)

        wait_until(both_behind_balancer, 60, "HAProxy sends chat to both nodes")
        yield Cluster(nodes, lb, database_url, shared["VOICE_CONTROL_TOKEN"], started_at)
    finally:
        for node in nodes.values():
            node.stop()
        try:
            os.killpg(haproxy.pid, signal.SIGTERM)
            haproxy.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(haproxy.pid, signal.SIGKILL)


def tickets_of(database_url: str, sender: str) -> list[dict]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(tickets_table).where(tickets_table.c.conversation_id == sender))]
    finally:
        engine.dispose()


def test_messages_alternating_between_nodes_file_one_ticket(cluster: Cluster):
    sender = f"scale-{uuid.uuid4().hex[:10]}"
    order = ["node1", "node2"] * 3
    replies = [cluster.say(sender, line, cluster.nodes[node].rest_url)[1] for line, node in zip(COMPLAINT, order)]
    assert "以上信息是否正确" in replies[-2] and "139 1111 2222" in replies[-2], replies
    rows = tickets_of(cluster.database_url, sender)
    assert len(rows) == 1, replies
    ticket = rows[0]
    assert ticket["ticket_no"] in replies[-1]
    assert (ticket["request_type"], ticket["district"], ticket["street"], ticket["phone"], ticket["contact_name"]) \
        == ("complaint", "朝阳区", "望京街道", "13911112222", "王先生")
    # through the balancer the same holds (which node takes which message depends on the health checks' and
    # the pages' requests in between: the fixture saw both nodes answer through it)
    sender = f"scale-{uuid.uuid4().hex[:10]}"
    answered = [cluster.say(sender, line) for line in COMPLAINT]
    assert all(node in cluster.nodes for node, _ in answered), answered
    assert "以上信息是否正确" in answered[-2][1], answered
    assert len(tickets_of(cluster.database_url, sender)) == 1, answered


async def place_call(cluster: Cluster, caller: str, alive_nodes: list[str]) -> dict:
    """One call as deploy/asterisk/extensions.conf places it: round robin over the two gateways, the registration
    (POST /calls/{uuid}, form-encoded, with the control secret) on the chosen one, else on the other; then the
    AudioSocket call to the gateway that registered it until the greeting was heard, the caller's hang-up, and the
    outcome from the same gateway."""
    import aiohttp

    names = list(cluster.nodes)
    first = cluster.next_gateway
    cluster.next_gateway = 1 - first  # GLOBAL(SEAT_NEXT)
    call_id = str(uuid.uuid4())
    chosen = None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        for index in (first, 1 - first):
            node = cluster.nodes[names[index]]
            try:
                async with http.post(f"{node.control_url}/calls/{call_id}", data={"caller": caller},
                                     headers={"X-Seat-Voice-Token": cluster.voice_token}) as resp:
                    if resp.status < 300 and await resp.text():
                        chosen = node
                        break
            except aiohttp.ClientError:
                continue  # ${CURL()} is empty: the other gateway
        assert chosen is not None and chosen.name in alive_nodes, "a live gateway registered the call"
        async with AsteriskLine(chosen.port("AUDIOSOCKET_PORT"), uuid.UUID(call_id)) as line:
            started = time.monotonic()
            while time.monotonic() - started < 60 and len(line.speech()) < 50:  # 1 s of the greeting
                await line.send(b"\0" * 320 * 5)  # the caller listens: 100 ms of silence at a time
        outcome, deadline = "", time.monotonic() + 15
        while outcome in ("", "active") and time.monotonic() < deadline:  # the gateway notices the hang-up
            await asyncio.sleep(0.3)
            async with http.get(f"{chosen.control_url}/calls/{call_id}/outcome",
                                headers={"X-Seat-Voice-Token": cluster.voice_token}) as resp:
                outcome = await resp.text()
        others = [n for n in cluster.nodes.values() if n is not chosen and not n.killed]
        elsewhere = []
        for other in others:
            async with http.get(f"{other.control_url}/calls/{call_id}",
                                headers={"X-Seat-Voice-Token": cluster.voice_token}) as resp:
                elsewhere.append(resp.status)
    return {"gateway": chosen.name, "first": names[first], "greeting_frames": len(line.speech()),
            "outcome": outcome, "elsewhere": elsewhere}


def test_calls_are_spread_over_both_voice_gateways(cluster: Cluster):
    before = {name: voice_calls_ended(node) for name, node in cluster.nodes.items()}
    calls = [asyncio.run(place_call(cluster, f"1381234000{n}", list(cluster.nodes))) for n in range(4)]
    assert [c["gateway"] for c in calls] == ["node1", "node2", "node1", "node2"], calls
    assert all(c["greeting_frames"] >= 50 for c in calls), "every caller heard the greeting"
    assert all(c["outcome"] == "caller_hangup" for c in calls), calls
    assert all(c["elsewhere"] == [404] for c in calls), "a call lives on one gateway only"
    wait_until(lambda: {n: voice_calls_ended(node) - before[n] for n, node in cluster.nodes.items()}
               == {"node1": 2, "node2": 2}, 15, "each gateway counted its two calls")


def test_callback_workers_of_both_nodes_never_call_a_citizen_twice(cluster: Cluster):
    engine = create_engine(cluster.database_url)
    try:
        before = {name: voice_calls_ended(node) for name, node in cluster.nodes.items()}
        tickets = [closed_ticket(engine, utcnow(), phone=f"1390000{n:04d}") for n in range(8)]

        def surveyed() -> bool:
            results = [result_of(engine, no) for no in tickets]
            return all(r is not None and r.completed_at is not None for r in results)

        wait_until(surveyed, 600, "every closed ticket surveyed")

        def calls_made() -> dict[str, int]:
            return {name: voice_calls_ended(node) - before[name] for name, node in cluster.nodes.items()}

        wait_until(lambda: sum(calls_made().values()) >= len(tickets), 120, "the survey calls ended")
        time.sleep(10)  # a second call would come now, if a worker were to make one
        for no in tickets:
            tries = attempts_of(engine, no)
            assert [(t.attempt, t.outcome, t.channel) for t in tries] == [(1, "answered", "voice")], (no, tries)
            result = result_of(engine, no)
            assert (result.responded, result.satisfaction) == (True, "satisfied"), no
        calls = calls_made()
        assert sum(calls.values()) == len(tickets), f"one call per citizen, none twice: {calls}"
        assert all(calls.values()), f"the workers of both nodes called: {calls}"
    finally:
        engine.dispose()


def test_a_killed_node_moves_its_conversation_to_the_other(cluster: Cluster):
    sender = f"scale-{uuid.uuid4().hex[:10]}"
    # both nodes have had the conversation (one message each), then it goes through the balancer
    first = [(name, cluster.say(sender, line, node.rest_url)[1])
             for (name, node), line in zip(cluster.nodes.items(), COMPLAINT[:2])]
    first.append(cluster.say(sender, COMPLAINT[2]))
    victim = first[-1][0]  # the node that answered last is killed, with every process of it
    survivor = next(n for n in cluster.nodes if n != victim)
    cluster.nodes[victim].kill()
    rest = [cluster.say(sender, line) for line in COMPLAINT[3:]]
    assert [node for node, _ in rest] == [survivor] * len(rest), rest
    replies = [text for _, text in first + rest]
    assert "以上信息是否正确" in replies[-2] and "王先生" in replies[-2], replies
    rows = tickets_of(cluster.database_url, sender)
    assert len(rows) == 1, replies
    assert rows[0]["ticket_no"] in replies[-1]
    assert (rows[0]["district"], rows[0]["phone"], rows[0]["contact_name"]) == ("朝阳区", "13911112222", "王先生")
    # the citizen page and the console through the balancer: the survivor serves them
    for frontend, path in (("page", "/health"), ("admin", "/healthz")):
        wait_until(lambda: http_get(f"http://127.0.0.1:{cluster.lb[frontend]}{path}")[0] == 200, 30,
                   f"{frontend} answers through the balancer")
        assert http_get(f"http://127.0.0.1:{cluster.lb[frontend]}{path}")[1].get(NODE_HEADER) == survivor
    # new calls: the dialplan's turn for the dead gateway goes to the live one
    cluster.next_gateway = list(cluster.nodes).index(victim)
    call = asyncio.run(place_call(cluster, "13812340099", [survivor]))
    assert (call["first"], call["gateway"]) == (victim, survivor), call
    assert call["greeting_frames"] >= 50 and call["outcome"] == "caller_hangup", call
