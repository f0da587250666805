"""Concurrent writers: unique consecutive ticket numbers and idempotent retries.

Every thread has its own engine, hence its own database connection.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Callable, TypeVar

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ground.db import create_engine
from ground.store import Ticket, TicketDraft, TicketStore
from ground.tables.tickets import TicketCounterModel, TicketEventModel, TicketModel

WRITERS = 50
NOW = datetime(2026, 11, 25, 16, 30, tzinfo=timezone.utc)  # 2026-11-26 00:30 in Beijing
DAY = "20261126"
T = TypeVar("T")


def _clock() -> datetime:
    return NOW


def run_concurrently(database_url: str, count: int, work: Callable[[TicketStore, int], T]) -> list[T]:
    """Run `work` in `count` threads released together, each on its own connection."""
    barrier = threading.Barrier(count)
    engines = [create_engine(database_url) for _ in range(count)]

    def one(i: int) -> T:
        store = TicketStore(engines[i], clock=_clock)
        with engines[i].connect():  # open the connection before the start signal
            pass
        barrier.wait(timeout=60)
        return work(store, i)

    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(one, range(count)))
    finally:
        for eng in engines:
            eng.dispose()


def make_draft(conversation: str, key: str) -> TicketDraft:
    return TicketDraft(
        request_type="help",
        description="路灯不亮",
        conversation_id=conversation,
        request_key=key,
        district="海淀区",
        phone="13800001111",
    )


def count_rows(engine: Engine, model, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_concurrent_writers_get_unique_consecutive_numbers(clean_db: Engine, database_url: str) -> None:
    tickets: list[Ticket] = run_concurrently(
        database_url, WRITERS, lambda store, i: store.create_ticket(make_draft(f"conv-{i}", "k"))
    )
    numbers = sorted(t.ticket_no for t in tickets)
    assert numbers == [f"{DAY}-{n:06d}" for n in range(1, WRITERS + 1)]
    assert len({t.id for t in tickets}) == WRITERS
    assert count_rows(clean_db, TicketModel) == WRITERS
    assert count_rows(clean_db, TicketEventModel, TicketEventModel.to_status == "new") == WRITERS
    with clean_db.connect() as conn:
        assert conn.execute(select(TicketCounterModel.last_value)).scalar_one() == WRITERS


def test_concurrent_retries_create_exactly_one_ticket(clean_db: Engine, database_url: str) -> None:
    tickets = run_concurrently(
        database_url, WRITERS, lambda store, i: store.create_ticket(make_draft("conv-r", "submit-1"))
    )
    assert len({t.ticket_no for t in tickets}) == 1
    assert len({t.id for t in tickets}) == 1
    assert count_rows(clean_db, TicketModel) == 1
    assert count_rows(clean_db, TicketEventModel) == 1
    # losers rolled back their counter bump: the next number has no gap
    follow_up = TicketStore(clean_db, clock=_clock).create_ticket(make_draft("conv-r", "submit-2"))
    assert tickets[0].ticket_no == f"{DAY}-000001"
    assert follow_up.ticket_no == f"{DAY}-000002"


def test_mixed_new_tickets_and_retries(clean_db: Engine, database_url: str) -> None:
    # 50 threads, 25 distinct requests, each submitted twice at the same moment
    tickets = run_concurrently(
        database_url, WRITERS, lambda store, i: store.create_ticket(make_draft(f"conv-{i // 2}", "k"))
    )
    by_conversation: dict[str, set[str]] = {}
    for t in tickets:
        by_conversation.setdefault(t.conversation_id, set()).add(t.ticket_no)
    assert all(len(nos) == 1 for nos in by_conversation.values())
    numbers = sorted(nos.pop() for nos in by_conversation.values())
    assert numbers == [f"{DAY}-{n:06d}" for n in range(1, WRITERS // 2 + 1)]
    assert count_rows(clean_db, TicketModel) == WRITERS // 2


def test_concurrent_status_changes_apply_once(clean_db: Engine, database_url: str) -> None:
    store = TicketStore(clean_db, clock=_clock)
    no = store.create_ticket(make_draft("conv-s", "k")).ticket_no
    count = 10

    def close(s: TicketStore, i: int) -> str:
        try:
            s.change_status(no, "closed", f"agent-{i}")
            return "ok"
        except ValueError:
            return "refused"

    results = run_concurrently(database_url, count, close)
    assert results.count("ok") == 1 and results.count("refused") == count - 1
    assert [e.to_status for e in store.events(no)] == ["new", "closed"]
