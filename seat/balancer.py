"""HAProxy in front of several Rasa servers: its configuration and the launcher's service for it.

Rasa keeps no conversation state in the process: the tracker is in the SQL tracker store (DATABASE_URL) and
the per-conversation lock in Redis (REDIS_URL), so any server can take any message. The balancer spreads
conversations by sender id, checks each server's health every second, and sends a request whose connection is
refused to another server (`option redispatch`, `retries`): a stopped server costs its conversations nothing.
A request already inside a server when it dies is not re-sent (a chat message is not idempotent).

HAProxy directives used: https://docs.haproxy.org/2.6/configuration.html (balance, option httpchk,
default-server, option redispatch, retries, http-response set-header with the `%s` server-name variable).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from seat.launcher import Service

HAPROXY = "haproxy"
HEALTH_PATH = "/"  # Rasa answers "Hello from Rasa" here without a token
NODE_HEADER = "X-Seat-Node"  # names the server that answered (for tests and debugging)


@dataclass(frozen=True)
class Backend:
    """One server behind the balancer."""

    name: str
    host: str
    port: int


def haproxy_config(port: int, backends: list[Backend], bind: str = "127.0.0.1", timeout_s: int = 300) -> str:
    """haproxy.cfg balancing HTTP on `bind:port` over `backends` (round robin, health-checked).

    socket.io (the citizen page's channel) keeps per-connection state in the server that accepted it, so its
    requests stay on one server per client address; REST messages are spread by conversation (sender id).
    """
    if not backends:
        raise ValueError("the balancer needs at least one backend")
    servers = "\n".join(f"  server {b.name} {b.host}:{b.port}" for b in backends)
    return f"""\
# written by seat.balancer; regenerated on every start
global
  maxconn 4096

defaults
  mode http
  timeout connect 2s
  timeout client {timeout_s}s
  timeout server {timeout_s}s
  timeout http-request 30s
  retries 3
  option redispatch

frontend chat
  bind {bind}:{port}
  use_backend rasa_socketio if {{ path_beg /socket.io }}
  default_backend rasa

backend rasa
  # one conversation's messages go to one server (hash of the REST body's "sender"): its tracker stays warm in
  # that server (seat.rasa_stores) and rides out a database outage there; other requests: round robin
  option http-buffer-request
  balance hash req.body,json_query('$.sender')
  hash-type consistent
  option httpchk GET {HEALTH_PATH}
  default-server check inter 1s fall 2 rise 1
  http-response set-header {NODE_HEADER} %s
{servers}

backend rasa_socketio
  balance source
  option httpchk GET {HEALTH_PATH}
  default-server check inter 1s fall 2 rise 1
  timeout tunnel 1h
{servers}
"""


def haproxy_available() -> bool:
    return shutil.which(HAPROXY) is not None


def haproxy_service(port: int, backends: list[Backend], config_path: Path, name: str = "balancer",
                    bind: str = "127.0.0.1") -> Service:
    """The launcher's service running HAProxy in the foreground with a config written to `config_path`
    (listening on `bind`: RASA_HOST, loopback by default like Rasa itself)."""
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(haproxy_config(port, backends, bind=bind), encoding="utf-8")
    return Service(
        name=name,
        argv=[shutil.which(HAPROXY) or HAPROXY, "-db", "-f", str(config_path)],
        ready_url=f"http://127.0.0.1:{port}{HEALTH_PATH}",
        listens=f"http://localhost:{port} (HAProxy over {len(backends)} Rasa servers: "
                + ", ".join(f"{b.host}:{b.port}" for b in backends) + ")",
    )
