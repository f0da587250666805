"""How many Rasa processes answer on RASA_PORT, and how they share it.

One Rasa process uses one core. With REDIS_URL set (Rasa's lock store in Redis, so two processes never
handle the same conversation at once) the seat runs several, Rasa's own ways:

- ``haproxy`` (default): N `rasa run` processes on ports RASA_PORT+1… behind HAProxy on RASA_PORT
  (seat.balancer), the same layout as several machines behind a balancer; the admin console publishes a
  model to each of them (RASA_URLS);
- ``workers``: one `rasa run` with SANIC_WORKERS=N: Sanic forks N workers that accept on the same port.
  A model published from the admin console (`PUT /model`) reaches only the worker that took the request,
  so publish needs a restart there: opt in only where models are deployed by restarting.

Without REDIS_URL it is one process with in-process locks (several would corrupt conversations); without
the haproxy program, one process too (the start line says so). The variables (RASA_PROCESSES, RASA_SCALING)
are read in ground/settings.py.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ground.settings import RUN_DIR, Settings
from seat.balancer import Backend, haproxy_available, haproxy_service
from seat.launcher import Service


@dataclass(frozen=True)
class RasaScaling:
    """RASA_PROCESSES / RASA_SCALING as they apply with these settings."""

    processes: int
    mode: str
    why: str

    @classmethod
    def of(cls, settings: Settings) -> "RasaScaling":
        wanted, mode = settings.tier.rasa_processes, settings.tier.rasa_scaling
        if not settings.db.redis_url:
            return cls(1, "single", "one Rasa process (REDIS_URL unset: in-process conversation locks)")
        if wanted == 1:
            return cls(1, "single", "one Rasa process (RASA_PROCESSES=1)")
        if mode == "haproxy" and not haproxy_available():
            return cls(1, "single", "one Rasa process (haproxy is not installed: apt-get install haproxy)")
        how = "Sanic workers on one port" if mode == "workers" else "Rasa processes behind HAProxy"
        return cls(wanted, mode, f"{wanted} {how} (Redis lock store)")


def scaled_rasa_tier(settings: Settings, scaling: RasaScaling, make: Callable[[Settings, str], Service],
                     ports: list[int] | None = None, run_dir: Path = RUN_DIR) -> list[Service]:
    """The services answering on settings.rasa.port for `scaling` (processes > 1).

    `make(settings, name)` builds one Rasa service; `ports` are the HAProxy backends' ports
    (default RASA_PORT+1 … RASA_PORT+N).
    """
    if scaling.mode == "workers":
        svc = make(settings, "rasa")
        svc.env["SANIC_WORKERS"] = str(scaling.processes)
        svc.listens += f" [{scaling.why}]"
        return [svc]
    port = settings.rasa.port
    ports = ports or [port + 1 + i for i in range(scaling.processes)]
    servers = [make(replace(settings, rasa=replace(settings.rasa, port=p)), f"rasa{i + 1}")
               for i, p in enumerate(ports)]
    backends = [Backend(svc.name, "127.0.0.1", p) for svc, p in zip(servers, ports)]
    balancer = haproxy_service(port, backends, run_dir / f"haproxy-{port}.cfg",
                               bind=settings.internal.rasa_host)
    return [*servers, balancer]


def backend_urls(services: list[Service]) -> list[str]:
    """The URL of each Rasa server of a balanced tier (for the admin console's RASA_URLS), else []."""
    return [svc.ready_url.rstrip("/") for svc in services
            if svc.ready_url and svc.name.startswith("rasa") and svc.name != "rasa"]
