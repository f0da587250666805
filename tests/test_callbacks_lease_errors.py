"""A callback worker whose database becomes unreachable mid-call (issue 14): the lease cannot be renewed, so the call
is ended at once, long before the lease runs out; the try is settled (now or by recovery) and the citizen is never on
two calls for one try. The database is the real PostgreSQL, reached through a TCP link the test cuts."""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy.engine import make_url

from callbacks.dialers import CallResult, InstantDialer
from callbacks.worker import CallbackWorker
from ground.db import create_engine
from ground.store.survey_tries import schedule_closed
from ground.store.surveys import complete
from ground.tables.tickets import utcnow
from tests.callbacks_support import always_open_env, attempts_of, closed_ticket, policy_from, result_of
from tests.faults.dur_support import TcpProxy

pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="leases are tested on PostgreSQL")


@dataclass
class HangingDialer:
    """Records each call: when it started and ended, and whether it was hung up by the worker (cancelled)."""

    calls: list = field(default_factory=list)

    async def call(self, request) -> CallResult:
        record = {"attempt": request.attempt_id, "start": time.monotonic(), "end": None, "cancelled": False}
        self.calls.append(record)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            record["cancelled"] = True
            raise
        finally:
            record["end"] = time.monotonic()
        return CallResult("answered")  # pragma: no cover - never reached


def proxied(database_url: str, proxy: TcpProxy) -> str:
    return make_url(database_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


@pytest.fixture
def due_try(clean_db):
    now = utcnow()
    policy = policy_from({**os.environ, **always_open_env(now)})
    no = closed_ticket(clean_db, now - timedelta(hours=1))
    schedule_closed(clean_db, policy, now)
    return no, policy


async def _call_until_cut(database_url: str, policy, restore_after_cancel: bool):
    proxy = TcpProxy(make_url(database_url).port or 5432)
    engine = create_engine(proxied(database_url, proxy))
    dialer = HangingDialer()
    worker = CallbackWorker(engine, dialer, policy, worker_id="cut-off", renew_every_s=0.3)
    task = asyncio.ensure_future(worker.run_once())
    try:
        for _ in range(200):
            if dialer.calls:
                break
            await asyncio.sleep(0.05)
        assert dialer.calls, "the worker never called"
        await asyncio.sleep(0.5)  # a renewal or two succeed
        proxy.cut()  # the database is gone for this worker
        cut_at = time.monotonic()
        for _ in range(100):
            if dialer.calls[0]["end"] is not None:
                break
            await asyncio.sleep(0.05)
        if restore_after_cancel:
            proxy.restore()
        result = await asyncio.wait_for(task, 30)
    finally:
        proxy.cut()
        engine.dispose()
    return result, dialer, worker, cut_at


async def test_a_renewal_error_ends_the_call_before_the_lease_and_recovery_calls_once(clean_db, database_url, due_try):
    no, policy = due_try
    result, dialer, worker, cut_at = await _call_until_cut(database_url, policy, restore_after_cancel=False)
    [first] = dialer.calls
    assert first["cancelled"] and first["end"] - cut_at < 2 < policy.lease.total_seconds()
    assert worker.stop_reason.startswith("lease renewal failed")
    assert result == "unrecorded:failed"  # the database was still down when the call ended
    [held] = attempts_of(clean_db, no)
    assert held.claimed_by == "cut-off" and held.outcome is None

    def rescuer(clock, calls: list) -> CallbackWorker:
        async def survey(request) -> None:
            calls.append((request.attempt_id, time.monotonic()))
            await asyncio.to_thread(complete, clean_db, request.attempt_id, {
                "survey_contacted": True, "survey_resolved": True, "survey_satisfaction": "satisfied"}, clock())
        return CallbackWorker(clean_db, InstantDialer(survey=survey), policy, clock=clock, worker_id="rescuer")

    calls: list = []
    # while the cut-off worker's lease runs, nobody else calls
    assert await rescuer(utcnow, calls).run_once() is None and calls == []
    later = lambda: utcnow() + policy.lease + timedelta(seconds=1)  # noqa: E731
    worker2 = rescuer(later, calls)
    assert await worker2.run_once() == "recovered:retried"
    while await worker2.run_once() is not None:
        pass
    [(attempt_id, started)] = calls  # called again once, after the first call had ended
    assert started > first["end"]
    tries = attempts_of(clean_db, no)
    assert [(a.attempt, a.outcome, a.counted) for a in tries] == [(1, "failed", False), (2, "answered", True)]
    assert result_of(clean_db, no).completed_at is not None


async def test_when_the_database_is_back_at_once_the_try_is_ended_and_rescheduled_without_a_second_call(
        clean_db, database_url, due_try):
    no, policy = due_try
    result, dialer, worker, _ = await _call_until_cut(database_url, policy, restore_after_cancel=True)
    assert result == "failed" and dialer.calls[0]["cancelled"]
    first, retry = attempts_of(clean_db, no)
    assert first.outcome == "failed" and "lease renewal failed" in (first.note or "")
    assert retry.outcome is None and retry.started_at is None  # rescheduled, not called
    # a second worker, now and after the lease: nothing is due before the retry spacing
    calls: list = []
    for clock in (utcnow, lambda: utcnow() + policy.lease + timedelta(seconds=1)):
        other = CallbackWorker(clean_db, InstantDialer(), policy, clock=clock, worker_id="other")
        assert await other.run_once() is None
        calls += other.dialer.calls
    assert calls == []
    tries = attempts_of(clean_db, no)
    assert len(tries) == 2 and tries[1].outcome is None and tries[1].scheduled_at > utcnow() + timedelta(minutes=30)
