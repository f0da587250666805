"""Console login throttling in the database (issue 13, finding 5).

Failures are counted per (name, address): someone guessing a name from their address slows down only
themselves; the real user, from their own address, still logs in. After FREE_FAILURES failures each
further one blocks that pair for BASE_DELAY doubled per failure, capped at MAX_DELAY: nobody is locked
out for longer than MAX_DELAY, however many failures. Rows untouched for FORGET_AFTER are deleted
(the table stays small whatever names an attacker invents); a success clears the pair.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ground.tables.console import admin_login_failures as failures_table
from ground.tables.tickets import utcnow

FREE_FAILURES = 5
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)
FORGET_AFTER = timedelta(days=1)


def _key(name: str, address: str | None) -> str:
    return hashlib.sha256(f"{name.casefold()}\0{address or '-'}".encode()).hexdigest()


def delay_after(failures: int) -> timedelta:
    """How long a pair is blocked after its `failures`-th failure (0 while under the free ones)."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    return min(MAX_DELAY, BASE_DELAY * (2 ** min(failures - FREE_FAILURES, 16)))


def blocked_for(engine: Engine, name: str, address: str | None, now: datetime | None = None) -> timedelta:
    """How long this name may not log in from this address (zero: go ahead)."""
    now = now or utcnow()
    with engine.connect() as conn:
        until = conn.execute(select(failures_table.c.blocked_until)
                             .where(failures_table.c.key == _key(name, address))).scalar_one_or_none()
    return until - now if until is not None and until > now else timedelta(0)


def failed(engine: Engine, name: str, address: str | None, now: datetime | None = None) -> int:
    """Count one failure; returns the pair's failures so far."""
    now = now or utcnow()
    key = _key(name, address)
    with engine.begin() as conn:
        conn.execute(delete(failures_table).where(failures_table.c.last_failure_at < now - FORGET_AFTER))
        count = conn.execute(select(failures_table.c.failures).where(failures_table.c.key == key)
                             ).scalar_one_or_none()
        count = (count or 0) + 1
        values = dict(failures=count, last_failure_at=now, blocked_until=now + delay_after(count))
        if count == 1:
            try:
                with conn.begin_nested():
                    conn.execute(failures_table.insert().values(key=key, **values))
                return count
            except IntegrityError:  # another replica counted the first failure meanwhile
                count = 2
                values.update(failures=count, blocked_until=now + delay_after(count))
        conn.execute(update(failures_table).where(failures_table.c.key == key).values(**values))
    return count


def succeeded(engine: Engine, name: str, address: str | None) -> None:
    """A good login clears the pair's failures."""
    with engine.begin() as conn:
        conn.execute(delete(failures_table).where(failures_table.c.key == _key(name, address)))
