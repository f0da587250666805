"""Rasa tracker and lock stores configured from DATABASE_URL and REDIS_URL.

endpoints.yml names these classes, so `rasa run` follows the same settings as the ticket store:
no settings → the SQLite file and an in-process lock store; DATABASE_URL → that database
(PostgreSQL in production); REDIS_URL → a Redis lock store shared by several Rasa servers.
"""
from __future__ import annotations

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
            await super().save(tracker)
        except Exception as exc:
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
            return await super().retrieve(sender_id)
        except Exception as exc:
            if kept is None:
                raise
            logger.error("tracker store: database unreachable (%s); conversation %s goes on from memory",
                         type(exc).__name__, sender_id)
            return self._rebuild(sender_id, kept)


RECENT_CONVERSATIONS = 200  # trackers kept in memory per Rasa server to ride out a database outage
RECENT_IDLE_S = 20 * 60  # a saved conversation idle this long is no longer kept


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
