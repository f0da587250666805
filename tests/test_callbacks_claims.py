"""Claims on PostgreSQL: concurrent workers never call the same ticket; a worker killed mid-call loses nothing."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta

import pytest

from callbacks.dialers import InstantDialer
from ground.survey_policy import SurveyPolicy
from ground.store.survey_tries import schedule_closed
from ground.store.surveys import complete
from callbacks.worker import CallbackWorker
from ground.db import create_engine
from ground.settings import REPO_ROOT
from ground.tables.tickets import utcnow
from tests.callbacks_support import (StepClock, always_open_env, as_utc, attempts_of, closed_ticket, local,
                                     policy_from, result_of)

pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="claims are tested on PostgreSQL")
POLICY = SurveyPolicy()


def _drain(url: str, clock, name: str, calls: list, policy: SurveyPolicy = POLICY) -> None:
    """One worker with its own engine and event loop, working until nothing is due."""
    engine = create_engine(url)

    async def survey(request) -> None:
        await asyncio.to_thread(complete, engine, request.attempt_id,
                                {"survey_contacted": True, "survey_resolved": True, "survey_satisfaction": "satisfied"},
                                clock())

    dialer = InstantDialer(survey=survey)
    worker = CallbackWorker(engine, dialer, policy, clock=clock, worker_id=name)

    async def loop() -> None:
        while await worker.run_once() is not None:
            pass

    try:
        asyncio.run(loop())
    finally:
        calls.extend((name, c.ticket_no) for c in dialer.calls)
        engine.dispose()


def test_two_workers_never_call_the_same_ticket(clean_db, database_url) -> None:
    clock = StepClock(as_utc(local(2026, 11, 26, 14, 0)))
    numbers = [closed_ticket(clean_db, clock.now - timedelta(hours=3)) for _ in range(120)]
    assert schedule_closed(clean_db, POLICY, clock.now).scheduled == 120
    calls: list = []
    threads = [threading.Thread(target=_drain, args=(database_url, clock, f"w{i}", calls)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    per_ticket = Counter(no for _, no in calls)
    assert sorted(per_ticket) == sorted(numbers) and set(per_ticket.values()) == {1}
    per_worker = Counter(name for name, _ in calls)
    assert per_worker["w0"] > 0 and per_worker["w1"] > 0, per_worker  # both really worked
    assert all(result_of(clean_db, no).completed_at is not None for no in numbers)


def test_a_worker_killed_mid_call_is_recovered_and_retried_once(clean_db, database_url) -> None:
    now = utcnow()
    env = {**os.environ, "DATABASE_URL": database_url, **always_open_env(now)}
    policy = policy_from(env)
    no = closed_ticket(clean_db, now - timedelta(hours=1))
    schedule_closed(clean_db, policy, now)
    proc = subprocess.Popen([sys.executable, "-c", "from tests.callbacks_support import hanging_worker_main as m; m()"],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("calling"), line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    [held] = attempts_of(clean_db, no)
    assert held.claimed_by == "doomed" and held.started_at is not None and held.outcome is None

    calls: list = []
    # while the dead worker's lease runs, nobody else may take the call: it might still be going on
    _drain(database_url, lambda: utcnow(), "early", calls, policy)
    assert calls == []
    # after the lease: recovered (not counted as a try) and called again, once
    later = StepClock(utcnow() + policy.lease + timedelta(seconds=1))
    _drain(database_url, later, "rescuer", calls, policy)
    assert calls == [("rescuer", no)]
    tries = attempts_of(clean_db, no)
    assert [(a.attempt, a.outcome, a.counted) for a in tries] == [(1, "failed", False), (2, "answered", True)]
    assert tries[0].note == "worker lost mid-call; retried"
    assert result_of(clean_db, no).completed_at is not None


def test_a_survey_completed_before_the_worker_died_is_not_called_again(clean_db, database_url) -> None:
    from ground.store.claims import claim_next, mark_started

    clock = StepClock(as_utc(local(2026, 11, 26, 14, 0)))
    no = closed_ticket(clean_db, clock.now - timedelta(hours=3))
    schedule_closed(clean_db, POLICY, clock.now)
    claim = claim_next(clean_db, "doomed", clock.now, POLICY)
    mark_started(clean_db, claim, "doomed", clock.now, "call-x")
    complete(clean_db, claim.attempt_id, {"survey_contacted": True, "survey_resolved": True,
                                          "survey_satisfaction": "basically_satisfied"}, clock.now)
    clock.advance(minutes=5)  # the lease ran out, the worker never settled the call
    calls: list = []
    _drain(database_url, clock, "rescuer", calls)
    assert calls == []
    assert [(a.attempt, a.outcome) for a in attempts_of(clean_db, no)] == [(1, "answered")]


def test_make_run_starts_the_callback_service_and_it_schedules_closed_tickets(clean_db, database_url) -> None:
    import time
    from pathlib import Path

    from seat.services import all_services
    from ground.settings import Settings

    [svc] = [s for s in all_services(Settings.from_env({}), Path("model.tar.gz")) if s.name == "callbacks"]
    assert list(svc.argv[1:]) == ["-m", "seat", "callbacks", "serve"]
    no = closed_ticket(clean_db, utcnow() - timedelta(hours=1))
    env = {**os.environ, "DATABASE_URL": database_url, "CALLBACK_POLL_SECONDS": "1", "RASA_AUTH_TOKEN": "t"}
    proc = subprocess.Popen(list(svc.argv), cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while not attempts_of(clean_db, no) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert [a.attempt for a in attempts_of(clean_db, no)] == [1]
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "2 workers, dialer none" in out


def test_a_closure_by_another_system_wakes_the_scheduler_without_waiting_for_the_poll(clean_db) -> None:
    import time

    from sqlalchemy import text

    from callbacks.notify import ClosureListener

    no = closed_ticket(clean_db, utcnow() - timedelta(hours=1), close=False)

    async def scenario() -> list:
        stop, wake = asyncio.Event(), asyncio.Event()
        listener = ClosureListener(clean_db, wake, asyncio.get_running_loop())
        listener.start()
        worker = CallbackWorker(clean_db, None, POLICY, worker_id="sched")
        task = asyncio.create_task(worker.run(stop, idle_s=3600, schedule_every_s=3600, wake=wake))
        try:
            assert await asyncio.to_thread(listener.listening.wait, 30)
            await asyncio.sleep(0)  # the first (startup) scheduling pass has run: nothing closed yet
            assert attempts_of(clean_db, no) == []
            with clean_db.begin() as conn:  # another system closes the ticket in the shared table
                conn.execute(text("UPDATE tickets SET status = 'closed', closed_at = now() WHERE ticket_no = :no"),
                             {"no": no})
            deadline = time.monotonic() + 30
            while not attempts_of(clean_db, no) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert listener.closed_tickets == 1  # woken by the trigger's notification, not by the hourly poll
            return attempts_of(clean_db, no)
        finally:
            stop.set()
            await task
            listener.stop()

    assert [a.attempt for a in asyncio.run(scenario())] == [1]
