"""Process-wide resources of the action server, created on first use (never at import)."""
from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any, Callable, TypeVar

from seat.settings import Settings

T = TypeVar("T")
_lock = threading.Lock()
_store = None


def ticket_store():
    """The TicketStore on DATABASE_URL (or the SQLite default), created once per process."""
    global _store
    with _lock:
        if _store is None:
            from seat.db import create_engine
            from seat.store.tickets import TicketStore

            _store = TicketStore(create_engine(Settings.from_env().database_url))
        return _store


def reset_ticket_store(store: Any = None) -> None:
    """Replace (tests) or forget the process-wide store."""
    global _store
    with _lock:
        _store = store


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking database work off the event loop."""
    return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
