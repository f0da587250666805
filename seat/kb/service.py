"""The running knowledge base: an index over the database entries, rebuilt when they change."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from sqlalchemy.engine import Engine

from seat.kb import repository
from seat.kb.index import Decision, KbIndex
from seat.settings import HOTLINE_TZ

logger = logging.getLogger(__name__)


class KnowledgeBase:
    """Answers questions from the entries in the database; edits take effect without retraining.

    The database's change stamp is checked at most every `check_every` seconds; a new stamp (or a new
    day, for entries with validity dates) rebuilds the index.
    """

    def __init__(self, engine: Engine, check_every: float = 2.0) -> None:
        self.engine = engine
        self.check_every = check_every
        self._lock = threading.Lock()
        self._index: KbIndex | None = None
        self._stamp: tuple | None = None
        self._checked = 0.0

    def index(self) -> KbIndex:
        """The current index, rebuilt first when the entries changed."""
        now = time.monotonic()
        with self._lock:
            if self._index is not None and now - self._checked < self.check_every:
                return self._index
            self._checked = now
            today = datetime.now(HOTLINE_TZ).date()
            stamp = (repository.version(self.engine), today)
            if stamp != self._stamp or self._index is None:
                started = time.perf_counter()
                self._index = KbIndex(repository.fetch_entries(self.engine), day=today)
                self._stamp = stamp
                logger.info("knowledge base loaded: %d entries in %.0f ms", len(self._index),
                            (time.perf_counter() - started) * 1000)
            return self._index

    def decide(self, question: str) -> Decision:
        """answer / clarify / none for a citizen's question."""
        return self.index().decide(question)
