"""kill -9 of a callback worker mid-call (issue 14): another worker, running the service's loop all along, leaves
the try alone while the dead worker's lease runs, then recovers it and calls once; the citizen's phone never rings
twice at the same time and the survey ends answered."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from ground.settings import REPO_ROOT
from ground.store.survey_tries import schedule_closed
from ground.tables.tickets import utcnow
from tests.callbacks_support import always_open_env, attempts_of, closed_ticket, policy_from, result_of

pytestmark = [pytest.mark.faults,
              pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="leases are tested on PostgreSQL")]
LEASE_MINUTES = "0.1"  # 6 s: renewed every 2 s


def start_worker(env: dict, name: str, hang: bool) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from tests.faults.dur_support import recording_worker_main as m; m()"],
        cwd=REPO_ROOT, env={**env, "WORKER_ID": name, "HANG": "1" if hang else "0"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def phone_log(path) -> list[tuple[float, str, str, int, str]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        at, who, event, attempt, ticket = line.split()
        rows.append((float(at), who, event, int(attempt), ticket))
    return rows


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_kill_9_of_a_worker_mid_call_is_recovered_and_the_citizen_called_once_at_a_time(clean_db, database_url,
                                                                                         tmp_path):
    now = utcnow()
    env = {**os.environ, "DATABASE_URL": database_url, **always_open_env(now), "CALLBACK_LEASE_MINUTES": LEASE_MINUTES,
           "PHONE_LOG": str(tmp_path / "phone.log")}
    policy = policy_from(env)
    assert policy.lease == timedelta(seconds=6)
    no = closed_ticket(clean_db, now - timedelta(hours=1))
    schedule_closed(clean_db, policy, now)
    log = tmp_path / "phone.log"
    doomed = start_worker(env, "doomed", hang=True)
    rescuer = None
    try:
        assert wait_for(lambda: any(r[2] == "ring" for r in phone_log(log)), 120), doomed.stdout.read()
        rescuer = start_worker(env, "rescuer", hang=False)
        assert rescuer.stdout.readline().strip() == "ready"
        time.sleep(5)  # the rescuer polls while the doomed worker renews its lease: nobody else calls
        assert [r[1:3] for r in phone_log(log)] == [("doomed", "ring")]
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(30)
        killed_at = time.time()
        assert wait_for(lambda: any(r[1:3] == ("rescuer", "hangup") for r in phone_log(log)), 120), \
            phone_log(log)
        time.sleep(3)  # and nothing more
    finally:
        for proc in (doomed, rescuer):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    calls = phone_log(log)
    assert [r[1:3] for r in calls] == [("doomed", "ring"), ("rescuer", "ring"), ("rescuer", "hangup")], calls
    assert calls[1][0] > killed_at  # the second call only after the first one's worker (and its call) was gone
    assert calls[1][0] - killed_at < 60
    tries = attempts_of(clean_db, no)
    assert [(a.attempt, a.outcome, a.counted) for a in tries] == [(1, "failed", False), (2, "answered", True)]
    assert tries[0].note == "worker lost mid-call; retried"
    assert result_of(clean_db, no).completed_at is not None
