"""`seat status`: every service of the seat with its port, health, pid and restarts (issue 14).

Health comes from each service's own health answer (ground.health): up (200), degraded (503: it runs, a
dependency is down), down (no answer). Pids, states and restarts come from the launcher's state file
(`.run/launcher.json`, written by `seat run`); without a running launcher the services are still probed.
"""
from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import aiohttp

from ground.settings import RUN_DIR, Settings

STATE_FILE = RUN_DIR / "launcher.json"
PROBE_TIMEOUT_S = 3.0


@dataclass
class Row:
    name: str
    port: str
    health: str  # up, degraded, down, failed (given up by the launcher)
    pid: int | None
    restarts: int | None
    detail: str = ""


def health_urls(settings: Settings) -> dict[str, str]:
    """Each service's health URL under these settings, in start order (what `seat run` starts)."""
    return {
        "actions": f"http://127.0.0.1:{settings.rasa.action_port}/health",
        "rasa": f"http://127.0.0.1:{settings.rasa.port}/",
        "voice": f"http://127.0.0.1:{settings.voice.control_port}/health",
        "web": f"http://127.0.0.1:{settings.web.port}/health",
        "admin": f"http://127.0.0.1:{settings.admin.port}/healthz",
        "callbacks": f"http://127.0.0.1:{settings.callbacks.health_port}/health",
    }


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def read_state(path: Path) -> dict | None:
    """The launcher's state file when its launcher still runs, else None."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and _pid_alive(state.get("launcher_pid")) else None


async def _probe(http: aiohttp.ClientSession, url: str) -> tuple[str, str]:
    if not url:
        return "unknown", ""
    try:
        async with http.get(url) as resp:
            if resp.status == 200:
                return "up", ""
            body = await resp.text()
            try:
                checks = json.loads(body).get("checks") or {}
                failing = ", ".join(k for k, ok in checks.items() if not ok)
            except (ValueError, AttributeError):
                failing = ""
            return ("degraded" if resp.status == 503 else "down"), (f"{failing} down" if failing else
                                                                    f"HTTP {resp.status}")
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return "down", "no answer"


async def collect(settings: Settings, state_path: Path = STATE_FILE) -> tuple[list[Row], dict | None]:
    state = read_state(state_path)
    known = {s["name"]: s for s in (state or {}).get("services", [])}
    defaults = health_urls(settings)
    # the launcher's services as it runs them; without a launcher, the six of these settings
    urls = ({name: svc.get("health_url") or defaults.get(name, "") for name, svc in known.items()} if known
            else defaults)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)) as http:
        probes = await asyncio.gather(*(_probe(http, url) for url in urls.values()))
    rows = []
    for (name, url), (health, detail) in zip(urls.items(), probes):
        svc = known.get(name, {})
        if health == "unknown":  # no health answer: the launcher's word and a live pid
            up = svc.get("state") == "up" and _pid_alive(svc.get("pid"))
            health, detail = ("up", "process runs (no health answer)") if up else ("down", "no process")
        if svc.get("state") == "failed":
            health, detail = "failed", f"given up after repeated crashes (last exit {svc.get('last_exit')})"
        elif svc.get("state") == "restarting" and health == "down":
            detail = f"restarting (last exit {svc.get('last_exit')})"
        rows.append(Row(name, str(urlparse(url).port or ""), health, svc.get("pid"),
                        svc.get("restarts") if state else None, detail))
    return rows, state


def render(rows: list[Row], state: dict | None) -> str:
    lines = [f"{'service':<10}{'port':>6}  {'health':<9}{'pid':>8}{'restarts':>10}  detail"]
    for r in rows:
        pid = str(r.pid) if r.pid else "-"
        restarts = "-" if r.restarts is None else str(r.restarts)
        lines.append(f"{r.name:<10}{r.port:>6}  {r.health:<9}{pid:>8}{restarts:>10}  {r.detail}".rstrip())
    if state:
        lines.append(f"launcher: running (pid {state['launcher_pid']})")
    else:
        lines.append("launcher: not running (no live `seat run` state in .run/launcher.json)")
    return "\n".join(lines)


def status(settings: Settings, state_path: Path = STATE_FILE) -> int:
    """Print the table; 0 when every service is up, 1 otherwise."""
    rows, state = asyncio.run(collect(settings, state_path))
    print(render(rows, state))
    return 0 if all(r.health == "up" for r in rows) else 1
