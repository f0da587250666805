"""Rasa tracker and lock stores configured from DATABASE_URL and REDIS_URL.

endpoints.yml names these classes, so `rasa run` follows the same settings as the ticket store:
no settings → the SQLite file and an in-process lock store; DATABASE_URL → that database
(PostgreSQL in production); REDIS_URL → a Redis lock store shared by several Rasa servers.
"""
from __future__ import annotations

import logging
from typing import Any, Optional
from urllib.parse import urlparse

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
import sqlalchemy as sa
import sqlalchemy.orm
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
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
