"""Rasa tracker and lock stores configured from DATABASE_URL and REDIS_URL.

endpoints.yml names these classes, so `rasa run` follows the same settings as the ticket store:
no settings → the SQLite file and an in-process lock store; DATABASE_URL → that database
(PostgreSQL in production); REDIS_URL → a Redis lock store shared by several Rasa servers.
"""
from __future__ import annotations

import itertools
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlparse

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
import sqlalchemy as sa
import sqlalchemy.orm
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.engine import make_url

from ground.settings import current

logger = logging.getLogger(__name__)


def sql_store_kwargs(database_url: str) -> dict[str, Any]:
    """Split a SQLAlchemy URL into the keyword arguments of Rasa's SQLTrackerStore."""
    url = make_url(database_url)
    dialect = url.drivername
    if url.get_backend_name() == "sqlite":
        return {"dialect": "sqlite", "db": url.database or "rasa.db"}
    return {
        "dialect": dialect,
        "host": url.host,
        "port": url.port,
        "db": url.database,
        "username": url.username,
        "password": url.password,
        "query": dict(url.query) or None,
    }


class DatabaseUrlTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on the seat's database (DATABASE_URL, default the SQLite file)."""

    def __init__(self, domain=None, host: Optional[str] = None, event_broker=None, **kwargs: Any) -> None:
        for key in ("dialect", "db", "port", "username", "password", "query", "url"):
            kwargs.pop(key, None)  # the URL comes from the environment only
        url = current().db.url  # Rasa builds the stores: nothing is passed down to them
        store_kwargs = sql_store_kwargs(url)
        logger.info("tracker store: %s", make_url(url).render_as_string(hide_password=True))
        super().__init__(domain=domain, event_broker=event_broker, **store_kwargs, **kwargs)
        if self.engine.dialect.name != "sqlite":
            # Rasa's engine has no pool_pre_ping: after a PostgreSQL restart the first message on each pooled
            # connection would fail (for a phone call: a handoff). The same engine, with a ping on checkout.
            old = self.engine
            self.engine = sa.create_engine(old.url, pool_pre_ping=True, **create_engine_kwargs(old.url))
            old.dispose()
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        # Rasa builds its engine without hide_parameters: a failed statement would log the events it carries
        # (the citizens' words, phones, addresses). The engine reads the flag when it reports an error.
        self.engine.hide_parameters = True
        self._recent: "OrderedDict[str, _Kept]" = OrderedDict()
        self._live: "OrderedDict[str, _Live]" = OrderedDict()

    # -- not re-reading and re-writing whole trackers (issue 15) ------------------------------------------------
    # Rasa's SQLTrackerStore reads every event of the conversation's session on each message (JSON-decoding and
    # replaying them into a new tracker) and, on save, counts them again to find the new ones. Here the tracker this
    # server saved last is kept with the id of its last stored event: the next retrieve asks the database only for
    # that conversation's highest event id; if nothing was written since (by this or another server) and the tracker
    # was not changed without being saved, the same tracker goes on, and save inserts only the events after the
    # stored ones. Any difference (another Rasa server answered in between, a handler that failed before saving,
    # an outage) falls back to Rasa's full read. The conversation lock (lock store) keeps two handlers of one
    # conversation apart, as for Rasa's own read-modify-write.

    def _last_event_id(self, session: Any, sender_id: str) -> Optional[int]:
        return session.query(sa.func.max(self.SQLEvent.id)).filter(self.SQLEvent.sender_id == sender_id).scalar()

    def _remember(self, tracker: DialogueStateTracker, last_id: Optional[int]) -> None:
        if last_id is None or self.event_broker is not None:  # a broker diffs against a fresh read: keep Rasa's
            self._live.pop(tracker.sender_id, None)
            return
        self._live[tracker.sender_id] = _Live(tracker, len(tracker.events), last_id, time.monotonic())
        self._live.move_to_end(tracker.sender_id)
        now = time.monotonic()
        while self._live:
            sender, live = next(iter(self._live.items()))
            if len(self._live) <= RECENT_CONVERSATIONS and now - live.at < RECENT_IDLE_S:
                break
            del self._live[sender]

    def _live_tracker(self, sender_id: str) -> Optional[DialogueStateTracker]:
        """The kept tracker of `sender_id` if the database holds exactly what it holds, else None."""
        live = self._live.get(sender_id)
        if live is None:
            return None
        if len(live.tracker.events) != live.stored:  # changed but never saved (a failed turn): read it again
            del self._live[sender_id]
            return None
        with self.session_scope() as session:
            if self._last_event_id(session, sender_id) != live.last_id:
                del self._live[sender_id]
                return None
        live.at = time.monotonic()
        return live.tracker

    async def _save_new_events(self, tracker: DialogueStateTracker) -> bool:
        """Insert the events after the stored ones of a kept tracker; False when the tracker is not the kept one."""
        live = self._live.get(tracker.sender_id)
        if live is None or live.tracker is not tracker or len(tracker.events) < live.stored:
            return False
        await self.stream_events(tracker)
        new = list(itertools.islice(tracker.events, live.stored, None))
        if not new:
            return True
        with self.session_scope() as session:
            rows = [self._row(tracker.sender_id, event) for event in new]
            session.add_all(rows)
            session.flush()
            last_id = rows[-1].id
            session.commit()
        self._remember(tracker, last_id)
        return True

    def _row(self, sender_id: str, event: Any) -> Any:
        """The row of one event, as SQLTrackerStore.save writes it."""
        data = event.as_dict()
        return self.SQLEvent(sender_id=sender_id, type_name=event.type_name, timestamp=data.get("timestamp"),
                             intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                             action_name=data.get("name"), data=json.dumps(data))

    async def _save_all(self, tracker: DialogueStateTracker) -> None:
        """Rasa's save (counting the stored events), then remember the tracker with its last event id."""
        self._live.pop(tracker.sender_id, None)
        await super().save(tracker)
        with self.session_scope() as session:
            self._remember(tracker, self._last_event_id(session, tracker.sender_id))

    async def _retrieve_all(self, sender_id: str) -> Optional[DialogueStateTracker]:
        """Rasa's full read of the session's events, remembered with the last event id."""
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
            events = [json.loads(row.data) for row in rows]
            last_id = rows[-1].id if rows else None
        if not (self.domain and events):
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        self._remember(tracker, last_id)
        return tracker

    # -- riding out a database outage ------------------------------------------------------------------------
    # Rasa's FailSafeTrackerStore answers a failed retrieve with None: during an outage every message would start
    # a new, empty conversation (the citizen's collected request gone). Here the latest trackers this server saved
    # are kept in memory (RECENT_CONVERSATIONS): a failed retrieve answers from them, a failed save keeps the
    # tracker there and writes it to the database (all its missing events) on the conversation's next turn once the
    # database is back. With several Rasa servers a conversation stays on its server during an outage only if the
    # balancer keeps it there (sticky by sender); otherwise that conversation restarts, as without this cache.

    def _keep(self, tracker: DialogueStateTracker, saved: bool) -> None:
        now = time.monotonic()
        self._recent[tracker.sender_id] = _Kept(list(tracker.events), saved, now)
        self._recent.move_to_end(tracker.sender_id)
        while self._recent:  # oldest first: drop the idle saved ones, and any beyond the cap
            sender, kept = next(iter(self._recent.items()))
            if len(self._recent) <= RECENT_CONVERSATIONS and (not kept.saved or now - kept.at < RECENT_IDLE_S):
                break
            del self._recent[sender]
            if not kept.saved:
                logger.error("tracker store: conversation %s dropped from memory before the database came back",
                             sender)

    def _rebuild(self, sender_id: str, kept: "_Kept") -> DialogueStateTracker:
        return DialogueStateTracker.from_events(sender_id, kept.events, self.domain.slots if self.domain else None)

    async def save(self, tracker: DialogueStateTracker) -> None:
        try:
            if not await self._save_new_events(tracker):
                await self._save_all(tracker)
        except Exception as exc:
            self._live.pop(tracker.sender_id, None)
            logger.error("tracker store: database unreachable (%s); conversation %s kept in memory until it is back",
                         type(exc).__name__, tracker.sender_id)
            self._keep(tracker, saved=False)
            return
        self._keep(tracker, saved=True)

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        kept = self._recent.get(sender_id)
        if kept is not None and not kept.saved:  # newer than the database: write it first, then go on from it
            tracker = self._rebuild(sender_id, kept)
            await self.save(tracker)
            if self._recent[sender_id].saved:
                logger.info("tracker store: conversation %s written after the outage", sender_id)
            return tracker
        try:
            return self._live_tracker(sender_id) or await self._retrieve_all(sender_id)
        except Exception as exc:
            self._live.pop(sender_id, None)
            if kept is None:
                raise
            logger.error("tracker store: database unreachable (%s); conversation %s goes on from memory",
                         type(exc).__name__, sender_id)
            return self._rebuild(sender_id, kept)


RECENT_CONVERSATIONS = 200  # trackers kept in memory per Rasa server to ride out a database outage
RECENT_IDLE_S = 20 * 60  # a saved conversation idle this long is no longer kept


@dataclass
class _Live:
    tracker: DialogueStateTracker
    stored: int  # events of the tracker that are in the database
    last_id: int  # the id of the last of them
    at: float


@dataclass
class _Kept:
    events: list
    saved: bool
    at: float


class EnvLockStore(LockStore):
    """Lock store chosen by REDIS_URL: Redis when set (several Rasa servers), else in-process."""

    def __new__(cls, endpoint_config=None, **_: Any) -> LockStore:  # type: ignore[misc]
        redis_url = current().db.redis_url
        if not redis_url:
            logger.info("lock store: in memory (set REDIS_URL to share conversations between servers)")
            return InMemoryLockStore()
        parsed = urlparse(redis_url)
        db = int(parsed.path.lstrip("/") or 0)
        logger.info("lock store: redis %s:%s/%s", parsed.hostname, parsed.port or 6379, db)
        return RedisLockStore(
            host=parsed.hostname or "localhost",
            port=parsed.port or 6379,
            db=db,
            username=parsed.username or None,
            password=parsed.password,
            use_ssl=parsed.scheme == "rediss",
            key_prefix="hotline",
        )
