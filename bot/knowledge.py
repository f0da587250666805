"""The running knowledge base: an index over the database entries, rebuilt in the background when they change."""
from __future__ import annotations

import logging
import threading
import time
from datetime import date, datetime
from typing import Callable, Sequence

from sqlalchemy.engine import Engine

from ground.store import knowledge as repository
from nlu.kb_index import Decision, KbIndex
from ground.store.knowledge import Entry
from ground.settings import HOTLINE_TZ

logger = logging.getLogger(__name__)

Builder = Callable[[Sequence[Entry], date], KbIndex]


class KnowledgeBase:
    """Answers questions from the entries in the database; edits take effect without retraining.

    The database's change stamp is checked at most every `check_every` seconds; a new stamp (or a new
    day, for entries with validity dates) rebuilds the index in a background thread while questions
    are still answered from the old one (a rebuild takes seconds at 10,000 entries). Only the very first
    index is built on the calling thread, since there is nothing older to serve.
    """

    def __init__(self, engine: Engine, check_every: float = 2.0, build: Builder | None = None) -> None:
        self.engine = engine
        self.check_every = check_every
        self._build = build or (lambda entries, day: KbIndex(entries, day=day))
        self._lock = threading.Lock()
        self._index: KbIndex | None = None
        self._stamp: tuple | None = None
        self._checked = 0.0
        self._rebuilding: threading.Thread | None = None

    def index(self) -> KbIndex:
        """The current index; a change to the entries starts a rebuild and serves this one meanwhile."""
        now = time.monotonic()
        with self._lock:
            if self._index is not None and (now - self._checked < self.check_every or self._rebuilding):
                return self._index
            self._checked = now
            today = datetime.now(HOTLINE_TZ).date()
            stamp = (repository.version(self.engine), today)
            if self._index is None:
                self._index, self._stamp = self._load(today), stamp
            elif stamp != self._stamp:
                self._rebuilding = threading.Thread(target=self._rebuild, args=(stamp, today),
                                                    name="kb-rebuild", daemon=True)
                self._rebuilding.start()
            return self._index

    def _load(self, today: date) -> KbIndex:
        started = time.perf_counter()
        index = self._build(repository.fetch_entries(self.engine), today)
        logger.info("knowledge base loaded: %d entries in %.0f ms", len(index), (time.perf_counter() - started) * 1000)
        return index

    def _rebuild(self, stamp: tuple, today: date) -> None:
        """Build the new index off the request path, then swap it in (the old one stays on failure)."""
        try:
            index = self._load(today)
        except Exception:  # noqa: BLE001 - a failed rebuild must not take the seat's answers down
            logger.exception("knowledge base rebuild failed; still serving the previous index")
            with self._lock:
                self._rebuilding = None
            return
        with self._lock:
            self._index, self._stamp, self._rebuilding = index, stamp, None

    def wait_for_rebuild(self, timeout: float | None = None) -> bool:
        """Block until a running rebuild has finished (for tools and tests); False on timeout."""
        thread = self._rebuilding
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def decide(self, question: str) -> Decision:
        """answer / clarify / none for a citizen's question."""
        return self.index().decide(question)
