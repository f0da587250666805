"""The daily privacy purge (RETENTION_DAYS): the callbacks service runs it once at start and then once a day.

Several callbacks services may run it: the purge is idempotent (what is already anonymised is not touched)."""
from __future__ import annotations

import asyncio
import logging

from sqlalchemy.engine import Engine

from ground.store.privacy import purge

log = logging.getLogger(__name__)
DAY_S = 24 * 3600.0


async def purge_daily(engine: Engine, retention_days: int, stop: asyncio.Event, every_s: float = DAY_S) -> int:
    """Purge personal data older than `retention_days` now and every `every_s` seconds until `stop`; the number
    of passes made. A failed pass is logged and retried at the next one."""
    passes = 0
    while not stop.is_set():
        try:
            await asyncio.to_thread(purge, engine, retention_days)
            passes += 1
        except Exception:
            log.exception("privacy purge failed (retried in %.0f s)", every_s)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every_s)
        except asyncio.TimeoutError:
            pass
    return passes
