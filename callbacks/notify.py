"""Wake the scheduler as soon as a ticket is closed (PostgreSQL ``LISTEN ticket_closed``; the migration's
trigger notifies on every closure, whoever writes it). The periodic scheduling pass stays the safety net:
a missed notification (listener reconnecting, SQLite) only delays the survey until the next poll."""
from __future__ import annotations

import asyncio
import logging
import select
import threading
from typing import Optional

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)
CHANNEL = "ticket_closed"


class ClosureListener:
    """A thread holding one LISTEN connection; sets `wake` (an asyncio.Event) on each closure."""

    def __init__(self, engine: Engine, wake: asyncio.Event, loop: asyncio.AbstractEventLoop) -> None:
        self.engine, self.wake, self.loop = engine, wake, loop
        self.closed_tickets = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.listening = threading.Event()

    @staticmethod
    def supported(engine: Engine) -> bool:
        return engine.dialect.name == "postgresql"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="closure-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # connection lost: the poll covers the gap, then listen again
                log.warning("closure listener: %s; reconnecting", exc)
                self.listening.clear()
                self._stop.wait(5)

    def _listen(self) -> None:
        raw = self.engine.raw_connection()
        raw.detach()  # its own connection, closed at the end, never handed back to the pool
        try:
            conn = raw.driver_connection if hasattr(raw, "driver_connection") else raw.connection
            conn.set_isolation_level(0)  # autocommit: LISTEN takes effect at once
            with conn.cursor() as cur:
                cur.execute("LISTEN " + CHANNEL)
            self.listening.set()
            while not self._stop.is_set():
                if select.select([conn], [], [], 1.0) == ([], [], []):
                    continue
                conn.poll()
                if conn.notifies:
                    self.closed_tickets += len(conn.notifies)
                    conn.notifies.clear()
                    self.loop.call_soon_threadsafe(self.wake.set)
        finally:
            raw.close()
