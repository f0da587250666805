"""The launcher runs real processes: prefixed logs, readiness, restarts with backoff, giving up on a crash loop,
and a clean stop of all of them."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from ground.settings import REPO_ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_LAUNCHED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_launcher_left():
    """A launcher of a failed test is stopped anyway (SIGTERM: it stops its services)."""
    yield
    while _LAUNCHED:
        proc = _LAUNCHED.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def _launch(services: str, supervision: str = "Supervision()") -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import asyncio, sys
        from seat.launcher import Launcher, Service, Supervision
        sys.exit(asyncio.run(Launcher({services}, colour=False, supervision={supervision}).run()))
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )
    _LAUNCHED.append(proc)
    return proc


def _wait_for(proc: subprocess.Popen, needle: str, timeout: float = 30) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not seen in:\n{''.join(lines)}")


def test_services_start_log_with_prefix_and_stop_on_ctrl_c():
    p1, p2 = _free_port(), _free_port()
    py = sys.executable
    proc = _launch(
        f"[Service('web1', [{py!r}, '-m', 'http.server', '{p1}', '--bind', '127.0.0.1'], ready_url='http://127.0.0.1:{p1}/', listens='http://127.0.0.1:{p1}'),"
        f" Service('web2', [{py!r}, '-m', 'http.server', '{p2}', '--bind', '127.0.0.1'], ready_url='http://127.0.0.1:{p2}/', listens='http://127.0.0.1:{p2}')]"
    )
    lines = _wait_for(proc, "press Ctrl-C")
    text = "".join(lines)
    assert f"web1 ready: http://127.0.0.1:{p1}" in text and f"web2 ready: http://127.0.0.1:{p2}" in text
    # a request shows up in the service's prefixed log
    import urllib.request

    urllib.request.urlopen(f"http://127.0.0.1:{p1}/", timeout=5).read()
    _wait_for(proc, "web1 | ")
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does to the foreground process group
    out, _ = proc.communicate(timeout=30)
    assert "all services stopped" in out
    assert proc.returncode == 0
    for port in (p1, p2):  # nothing left listening
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0


def test_a_crashed_service_is_restarted_with_backoff_and_the_others_keep_serving():
    p1 = _free_port()
    py = sys.executable
    proc = _launch(
        f"[Service('web', [{py!r}, '-m', 'http.server', '{p1}', '--bind', '127.0.0.1'], ready_url='http://127.0.0.1:{p1}/'),"
        f" Service('crasher', [{py!r}, '-c', 'import time; time.sleep(1); raise SystemExit(3)'])]",
        "Supervision(backoff_first_s=0.2, crash_limit=10)",
    )
    lines = _wait_for(proc, "restarting in 0.4 s (restart 2)")
    text = "".join(lines)
    assert "crasher exited (code 3); restarting in 0.2 s (restart 1)" in text
    assert text.count("started crasher") == 2  # the first start and restart 1
    import urllib.request

    assert urllib.request.urlopen(f"http://127.0.0.1:{p1}/", timeout=5).status == 200  # web never stopped
    assert "started web" in text and text.count("started web") == 1
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert "all services stopped" in out and proc.returncode == 0


def test_a_crash_looping_service_is_given_up_and_the_rest_keeps_running():
    p1 = _free_port()
    py = sys.executable
    proc = _launch(
        f"[Service('web', [{py!r}, '-m', 'http.server', '{p1}', '--bind', '127.0.0.1'], ready_url='http://127.0.0.1:{p1}/'),"
        f" Service('crasher', [{py!r}, '-c', 'import time; time.sleep(1); raise SystemExit(3)'])]",
        "Supervision(backoff_first_s=0.1, crash_limit=3, crash_window_s=60)",
    )
    lines = _wait_for(proc, "giving up on it")
    assert "".join(lines).count("started crasher") == 3
    import urllib.request

    time.sleep(1)
    assert proc.poll() is None  # the launcher keeps the rest running
    assert urllib.request.urlopen(f"http://127.0.0.1:{p1}/", timeout=5).status == 200
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert "started crasher" not in out  # never started again
    assert proc.returncode == 1  # a service was given up: the run did not end well
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", p1)) != 0


def test_a_port_in_use_is_reported_before_starting_anything():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        py = sys.executable
        proc = _launch(f"[Service('web', [{py!r}, '-m', 'http.server', '{port}'], ready_url='http://127.0.0.1:{port}/')]")
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert f"already in use: web (port {port})" in out and "started web" not in out
