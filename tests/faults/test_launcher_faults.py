"""Faults of the launcher itself: killed with SIGKILL (no child survives, grandchildren included), SIGHUP
(everything stops), and a child printing a 1 MB line (the relay survives, the child keeps running)."""
from __future__ import annotations

import os
import signal
import sys
import urllib.request

import pytest

from seat.launcher import Service
from tests.e2e.conftest import free_port
from tests.faults.support import LauncherProcess, alive, wait_until

pytestmark = pytest.mark.faults

# a service that starts a grandchild of its own (as Rasa's or Sanic's workers would) and prints its pid
WITH_GRANDCHILD = ("import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', "
                   "'import time; time.sleep(600)']); print('grandchild', c.pid, flush=True); time.sleep(600)")


def _two_services(port: int) -> list[Service]:
    return [Service("web", [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                    ready_url=f"http://127.0.0.1:{port}/"),
            Service("parent", [sys.executable, "-c", WITH_GRANDCHILD])]


def _grandchild(launcher: LauncherProcess) -> int:
    at = launcher.wait_for("parent | grandchild ", 30)
    return int(launcher.output()[at:].split()[3])


def test_the_launchers_sigkill_leaves_no_child_running(tmp_path):
    port = free_port()
    launcher = LauncherProcess(_two_services(port), tmp_path / "state.json", tmp_path / "out.log")
    try:
        launcher.wait_for("all services are up", 60)
        pids = [launcher.pid("web"), launcher.pid("parent"), _grandchild(launcher)]
        assert all(alive(p) for p in pids)
        launcher.proc.kill()  # kill -9: no handler runs in the launcher
        launcher.proc.wait(10)
        wait_until(lambda: not any(alive(p) for p in pids), 15, f"children {pids} gone after the launcher's kill -9")
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
    finally:
        launcher.stop()
        for pid in pids if "pids" in locals() else []:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_sighup_stops_every_service(tmp_path):
    port = free_port()
    launcher = LauncherProcess(_two_services(port), tmp_path / "state.json", tmp_path / "out.log")
    try:
        launcher.wait_for("all services are up", 60)
        pids = [launcher.pid("web"), launcher.pid("parent"), _grandchild(launcher)]
        launcher.proc.send_signal(signal.SIGHUP)  # the terminal closed
        assert launcher.proc.wait(30) == 0
        assert "all services stopped" in launcher.output()
        wait_until(lambda: not any(alive(p) for p in pids), 10, f"children {pids} gone after SIGHUP")
    finally:
        launcher.stop()


def test_a_one_megabyte_line_is_cut_and_the_child_keeps_running(tmp_path):
    code = ("import sys, time\nsys.stdout.write('x' * 1_000_000 + '\\n'); sys.stdout.flush()\n"
            "for i in range(600):\n    print('tick', i, flush=True); time.sleep(0.2)")
    launcher = LauncherProcess([Service("chatty", [sys.executable, "-c", code])], tmp_path / "state.json",
                               tmp_path / "out.log")
    try:
        launcher.wait_for("all services are up", 60)
        pid = launcher.pid("chatty")
        launcher.wait_for("chatty | tick 10", 30)  # output after the long line still flows
        out = launcher.output()
        assert "[line cut: 1000000 bytes]" in out
        assert max(len(line) for line in out.splitlines()) < 20_000
        assert alive(pid) and launcher.services()["chatty"]["restarts"] == 0
        assert "exited" not in out
    finally:
        launcher.stop()


CRASH_WHEN_TOLD = ("import os, time\nwhile not os.path.exists({flag!r}):\n    time.sleep(0.1)\n"
                   "raise SystemExit(3)")


def _seat_status(state) -> tuple[int, str]:
    import subprocess

    from ground.settings import REPO_ROOT

    result = subprocess.run([sys.executable, "-m", "seat", "status", "--state", str(state)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout


def test_seat_status_shows_a_given_up_service_as_failed_and_the_rest_up(tmp_path):
    port = free_port()
    services = [Service("web", [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                        ready_url=f"http://127.0.0.1:{port}/"),
                Service("crasher", [sys.executable, "-c", CRASH_WHEN_TOLD.format(flag=str(tmp_path / "crash"))])]
    launcher = LauncherProcess(services, tmp_path / "state.json", tmp_path / "out.log",
                               supervision={"backoff_first_s": 0.1, "crash_limit": 3})
    try:
        launcher.wait_for("all services are up", 60)
        code, out = _seat_status(launcher.state)
        assert code == 0, out
        rows = {line.split()[0]: line.split() for line in out.splitlines()[1:-1]}
        assert rows["web"][1:4] == [str(port), "up", str(launcher.pid("web"))]
        assert rows["crasher"][1:3] == ["up", str(launcher.pid("crasher"))]  # no health URL: its live pid
        assert f"launcher: running (pid {launcher.proc.pid})" in out
        (tmp_path / "crash").touch()  # from now on it crashes at once, each time it is started
        launcher.wait_for("giving up on it", 60)
        code, out = _seat_status(launcher.state)
        assert code == 1, out
        rows = {line.split()[0]: line.split() for line in out.splitlines()[1:-1]}
        assert rows["crasher"][1:4] == ["failed", "-", "2"]  # no port; given up after its 2nd restart
        assert rows["web"][2] == "up"
    finally:
        launcher.stop()
    code, out = _seat_status(launcher.state)  # the launcher is gone: said so, nothing is up
    assert code == 1 and "launcher: not running" in out
