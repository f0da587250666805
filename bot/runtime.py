"""Process-wide resources of the action server, created on first use (never at import)."""
from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any, Callable, TypeVar

from bot.knowledge import KnowledgeBase
from ground.db import create_engine
from ground.settings import current
from ground.store.spool import Spool
from ground.store.tickets import TicketStore

T = TypeVar("T")
_lock = threading.Lock()
_store = None
_kb = None
_spool = None


def _store_unlocked():
    global _store
    if _store is None:
        _store = TicketStore(create_engine(current().db.url))
    return _store


def ticket_store():
    """The TicketStore on DATABASE_URL (or the SQLite default), created once per process."""
    with _lock:
        return _store_unlocked()


def ticket_store_engine():
    """The engine of the seat's database (tickets and knowledge base share it)."""
    return ticket_store().engine


def knowledge_base():
    """The KnowledgeBase on the seat's database, created once per process; it reloads edited entries."""
    global _kb
    with _lock:
        if _kb is None:
            _kb = KnowledgeBase(_store_unlocked().engine)
        return _kb


def spool() -> Spool:
    """Where tickets and handoffs wait while the database is down (SEAT_SPOOL_DIR), one per process."""
    global _spool
    with _lock:
        if _spool is None:
            _spool = Spool(current().db.spool_dir)
        return _spool


def reset_ticket_store(store: Any = None, spool_dir: Any = None) -> None:
    """Replace (tests) or forget the process-wide store, knowledge base and spool."""
    global _store, _kb, _spool
    with _lock:
        _store = store
        _kb = None
        _spool = Spool(spool_dir) if spool_dir is not None else None


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking database work off the event loop."""
    return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
