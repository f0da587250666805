"""Helpers of the fault tests: a launcher process with a state file, reading pids, waiting on processes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from ground.settings import REPO_ROOT

LAUNCH_SNIPPET = """
import asyncio, json, os, sys
from pathlib import Path
from seat.launcher import Launcher, Service, Supervision
spec = json.loads(os.environ.pop("STACK_SPEC"))
policy = Supervision(**json.loads(os.environ.pop("STACK_SUPERVISION", "{}")))
launcher = Launcher([Service(**s) for s in spec], colour=False, state_path=Path(os.environ.pop("STACK_STATE")),
                    supervision=policy)
sys.exit(asyncio.run(launcher.run()))
"""


class LauncherProcess:
    """The launcher as `make run` runs it, in a process of its own; its output collected in a file."""

    def __init__(self, services: list, state: Path, log: Path, env: dict[str, str] | None = None,
                 supervision: dict | None = None) -> None:
        self.state, self.log = state, log
        spec = json.dumps([s.__dict__ for s in services], default=list)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH_SNIPPET], cwd=REPO_ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {}), "STACK_SPEC": spec, "STACK_STATE": str(state),
                 "STACK_SUPERVISION": json.dumps(supervision or {})},
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float, after: int = 0) -> int:
        """Wait until `needle` appears in the output (past character `after`); its position."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            at = self.output().find(needle, after)
            if at >= 0:
                return at
            if self.proc.poll() is not None:
                break
            time.sleep(0.3)
        raise AssertionError(f"{needle!r} not seen within {timeout} s:\n{self.output()[-6000:]}")

    def services(self) -> dict[str, dict]:
        return {s["name"]: s for s in json.loads(self.state.read_text())["services"]}

    def pid(self, name: str) -> int:
        pid = self.services()[name]["pid"]
        assert pid, f"{name} has no pid: {self.services()[name]}"
        return pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


class HealthWatch:
    """Polls health URLs in a thread; records every answer (status) or failure (None)."""

    def __init__(self, urls: dict[str, str], every_s: float = 0.5) -> None:
        import urllib.error
        import urllib.request

        self.answers: dict[str, list] = {name: [] for name in urls}
        self._stop = threading.Event()

        def poll() -> None:
            while not self._stop.is_set():
                for name, url in urls.items():
                    try:
                        with urllib.request.urlopen(url, timeout=5) as resp:
                            self.answers[name].append(resp.status)
                    except urllib.error.HTTPError as exc:
                        self.answers[name].append(exc.code)
                    except OSError:
                        self.answers[name].append(None)
                self._stop.wait(every_s)

        self._thread = threading.Thread(target=poll, daemon=True)

    def __enter__(self) -> "HealthWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
