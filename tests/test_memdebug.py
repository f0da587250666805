"""Memory diagnostics (issue 15): off by default; with SEAT_MEMDEBUG_DIR a process writes tracemalloc snapshots on
SIGUSR2 that show what grew (bench/memdiff.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from bench import memdiff
from ground import memdebug
from ground.settings import MetricsSettings

REPO = Path(__file__).resolve().parent.parent

CHILD = """
import sys, time
from ground import memdebug
memdebug.install_from_env("child")
print("ready", flush=True)
kept = []
for line in sys.stdin:  # each line: grow by that many 1 kB buffers
    kept.extend(bytearray(1024) for _ in range(int(line)))
    print("grown", flush=True)
"""


def test_off_without_the_setting():
    assert memdebug.install_from_env("x", MetricsSettings()) is None


def wait_for(path_glob: Path, count: int, timeout: float = 20) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(path_glob.parent.glob(path_glob.name))
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{count} files {path_glob} not written within {timeout} s")


def test_sigusr2_writes_snapshots_that_show_the_growth(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "SEAT_MEMDEBUG_DIR": str(tmp_path), "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGUSR2)
        wait_for(tmp_path / "child-*.json", 1)
        proc.stdin.write("20000\n")  # ~20 MB of live buffers
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "grown"
        os.kill(proc.pid, signal.SIGUSR2)
        summaries = wait_for(tmp_path / "child-*.json", 2)
    finally:
        proc.kill()
        proc.wait()
    first, second = (json.loads(p.read_text()) for p in summaries)
    assert second["traced_mb"] - first["traced_mb"] > 19
    assert second["rss_kb_before_trim"]["VmRSS"] - first["rss_kb_before_trim"]["VmRSS"] > 19 * 1024
    old, new = (tracemalloc.Snapshot.load(str(p.with_suffix(".tracemalloc"))) for p in summaries)
    top = max(new.compare_to(old, "lineno"), key=lambda s: s.size_diff)
    assert top.traceback[0].lineno == 8 and top.size_diff > 19 * 2**20  # the line of the CHILD that kept them


def test_memdiff_reports_the_growing_line(tmp_path, capsys):
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "SEAT_MEMDEBUG_DIR": str(tmp_path), "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "ready"
        for k in range(3):
            proc.stdin.write("5000\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "grown"
            os.kill(proc.pid, signal.SIGUSR2)
            wait_for(tmp_path / "child-*.json", k + 1)
    finally:
        proc.kill()
        proc.wait()
    assert memdiff.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "snapshot 1 -> 2" in out and "<string>:8" in out.split("top lines:")[1].splitlines()[1]
