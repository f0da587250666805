"""Callback benchmark: N closed tickets surveyed by simulated callees with 1 and 4 workers on PostgreSQL.

Each worker is its own process (own engine, own event loop) running `callbacks.worker.CallbackWorker` with an
in-process instant-answer dialer whose callee completes the survey at once (`ground.store.surveys.complete`):
what is measured is the claim / settle path on the database, not speech. For each worker count: surveys/s,
the ratio against the 1-worker baseline of the same run, and duplicates (tickets called more than once, and
the database's own count of answered tries and completed surveys per ticket) — which must be zero.

    .venv/bin/python bench/callbacks.py                                   # 10,000 tickets, 1 and 4 workers
    .venv/bin/python bench/callbacks.py --tickets 2000 --workers 1,2,4 --server postgresql://postgres@127.0.0.1/test
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from ground.db import create_engine  # noqa: E402
from ground.tables.tickets import utcnow  # noqa: E402

ANSWERS = {"survey_contacted": True, "survey_resolved": True, "survey_satisfaction": "satisfied"}


def _policy():
    from ground.survey_policy import SurveyPolicy
    from ground.calling_window import CallingWindow
    from datetime import time as dtime

    # every day, all day: the benchmark must not depend on the hour it runs at
    today = utcnow().date()
    days = frozenset(today + timedelta(days=k) for k in range(-2, 3))
    return SurveyPolicy(delay=timedelta(0), window=CallingWindow(start=dtime(0, 0), end=dtime(23, 59, 59),
                                                                 extra_workdays=days))


def _worker(url: str, name: str) -> list[str]:
    """One worker process: survey until nothing is due; the ticket numbers it called."""
    from callbacks.dialers import InstantDialer
    from ground.store.surveys import complete
    from callbacks.worker import CallbackWorker

    engine = create_engine(url, pool_size=2)

    async def callee(request) -> None:
        await asyncio.to_thread(complete, engine, request.attempt_id, ANSWERS, utcnow())

    dialer = InstantDialer(survey=callee)
    worker = CallbackWorker(engine, dialer, _policy(), worker_id=name)

    async def drain() -> None:
        while await worker.run_once() is not None:
            pass

    asyncio.run(drain())
    engine.dispose()
    return [c.ticket_no for c in dialer.calls]


def _fill(url: str, count: int) -> None:
    """`count` closed tickets (bulk insert), then one scheduling pass."""
    from ground.store.survey_tries import schedule_closed
    from ground.tables.tickets import tickets

    engine = create_engine(url)
    now = utcnow()
    rows = [dict(ticket_no=f"20261001-{i:06d}", request_type="complaint", category="环境卫生/垃圾清运",
                 description="bench", channel="rest", conversation_id=f"bench-{i}", request_key="k", status="closed",
                 phone=f"139{i:08d}", assigned_unit=f"unit-{i % 20}", created_at=now - timedelta(days=2),
                 updated_at=now, closed_at=now - timedelta(hours=1)) for i in range(count)]
    with engine.begin() as conn:
        for start in range(0, count, 2000):
            conn.execute(tickets.insert(), rows[start:start + 2000])
    result = schedule_closed(engine, _policy(), now)
    assert result.scheduled == count, result
    engine.dispose()


def _check(url: str, count: int) -> tuple[int, int]:
    """(tickets with more than one answered try, completed surveys) from the database."""
    from ground.tables.callbacks import callback_attempts, survey_results

    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        doubled = conn.execute(select(func.count()).select_from(
            select(callback_attempts.c.ticket_id).where(callback_attempts.c.outcome == "answered")
            .group_by(callback_attempts.c.ticket_id).having(func.count() > 1).subquery())).scalar_one()
        completed = conn.execute(select(func.count()).select_from(survey_results)
                                 .where(survey_results.c.completed_at.is_not(None))).scalar_one()
    engine.dispose()
    return doubled, completed


def run_level(server: str, tickets: int, workers: int) -> dict:
    from ground.store import migrate

    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"{make_url(server).database or 'postgres'}_bench{secrets.token_hex(3)}"
    quoted = admin.dialect.identifier_preparer.quote(name)
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE " + quoted))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        _fill(url, tickets)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers) as pool:
            pool.map(abs, range(workers))  # start the processes (and their imports) before the clock
            started = time.perf_counter()
            called = pool.starmap(_worker, [(url, f"w{i}") for i in range(workers)])
            elapsed = time.perf_counter() - started
        per_ticket = Counter(no for batch in called for no in batch)
        doubled, completed = _check(url, tickets)
        return {"workers": workers, "tickets": tickets, "seconds": elapsed, "rate": tickets / elapsed,
                "called": len(per_ticket), "duplicate_calls": sum(1 for v in per_ticket.values() if v > 1),
                "doubled_in_db": doubled, "completed": completed, "per_worker": [len(b) for b in called]}
    finally:
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS " + quoted + " WITH (FORCE)"))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--workers", default="1,4", help="comma-separated worker counts; the first is the baseline")
    parser.add_argument("--server", default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
                        help="PostgreSQL server URL (a scratch database is created there and dropped)")
    args = parser.parse_args()
    levels = [int(w) for w in args.workers.split(",")]
    results = [run_level(args.server, args.tickets, w) for w in levels]
    base = results[0]["rate"]
    print(f"{'workers':>7} {'tickets':>8} {'seconds':>8} {'surveys/s':>10} {'vs base':>8} {'called':>7} "
          f"{'dup calls':>9} {'dup in db':>9} {'completed':>9}  per worker")
    ok = True
    for r in results:
        print(f"{r['workers']:>7} {r['tickets']:>8} {r['seconds']:>8.1f} {r['rate']:>10.1f} {r['rate'] / base:>7.2f}x "
              f"{r['called']:>7} {r['duplicate_calls']:>9} {r['doubled_in_db']:>9} {r['completed']:>9}  {r['per_worker']}")
        ok = ok and r["duplicate_calls"] == 0 and r["doubled_in_db"] == 0 and r["completed"] == r["tickets"] == r["called"]
    print("zero duplicates, every ticket surveyed once" if ok else "FAILED: duplicates or missing surveys")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
