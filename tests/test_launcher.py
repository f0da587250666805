"""The launcher runs real processes: prefixed logs, readiness, and a clean stop of all of them."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

from ground.settings import REPO_ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(services: str) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import asyncio, sys
        from seat.launcher import Launcher, Service
        sys.exit(asyncio.run(Launcher({services}, colour=False).run()))
    """)
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )


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


def test_a_dying_service_stops_the_others_with_an_error():
    p1 = _free_port()
    py = sys.executable
    proc = _launch(
        f"[Service('web', [{py!r}, '-m', 'http.server', '{p1}', '--bind', '127.0.0.1'], ready_url='http://127.0.0.1:{p1}/'),"
        f" Service('crasher', [{py!r}, '-c', 'import time; time.sleep(1); raise SystemExit(3)'])]"
    )
    out, _ = proc.communicate(timeout=60)
    assert "crasher exited; stopping the others" in out
    assert proc.returncode == 1
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
