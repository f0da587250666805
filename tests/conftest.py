"""Shared fixtures.

Databases: SQLite files by default; PostgreSQL when ``TEST_DATABASE_URL`` is set
(e.g. ``postgresql://postgres@127.0.0.1:5432/test``). Each test session gets its
own freshly created and migrated database, dropped at the end.
"""
from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Iterator

import pytest
import time_machine
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from ground.db import create_engine
from ground.settings import current
from ground.store import TicketStore, migrate
from ground.tables.tickets import metadata
from tests.calendar_support import SWEEP
from tests.audiosocket_support import make_server  # noqa: F401  (fixture for the voice tests)
from tests.voice_session_support import ko_model, ko_model_dir  # noqa: F401  (the Korean test model, for the voice tests)


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Each test sees the environment it sets: the process-wide settings are rebuilt on first use."""
    current.cache_clear()
    yield
    current.cache_clear()


TEST_DATABASE_URL_ENV = "TEST_DATABASE_URL"


class ScratchDatabases:
    """Creates throw-away databases (PostgreSQL server or SQLite files) and drops them."""

    def __init__(self, server_url: str | None, tmp_dir: Path) -> None:
        self.server_url = server_url
        self.tmp_dir = tmp_dir
        self.created: list[str] = []
        self._admin: Engine | None = None
        if server_url:
            self._admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
            try:
                with self._admin.connect() as conn:
                    conn.execute(text("SELECT 1"))
            except SQLAlchemyError as exc:
                raise RuntimeError(
                    f"{TEST_DATABASE_URL_ENV} is set but the server is unreachable: {exc}"
                ) from exc

    @property
    def backend(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return "postgresql" if self._admin is not None else "sqlite"

    def create(self, *, migrated: bool) -> str:
        """A new empty database's URL, migrated to head if asked."""
        token = secrets.token_hex(4)
        if self._admin is None:
            url = f"sqlite:///{self.tmp_dir / ('t' + token + '.db')}"
        else:
            server = make_url(self.server_url)
            name = f"{server.database or 'postgres'}_t{token}"
            # DDL cannot take bind parameters; the name is generated and quoted by the dialect.
            quoted = self._admin.dialect.identifier_preparer.quote(name)
            with self._admin.connect() as conn:
                conn.execute(text("CREATE DATABASE " + quoted))
            url = server.set(database=name).render_as_string(hide_password=False)
        self.created.append(url)
        if migrated:
            migrate(url)
        return url

    def drop(self, url: str) -> None:
        """Drop a database made by :meth:`create` (forcing off leftover sessions)."""
        if url in self.created:
            self.created.remove(url)
        if self._admin is None:
            path = Path(make_url(url).database or "")
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            return
        quoted = self._admin.dialect.identifier_preparer.quote(make_url(url).database)
        with self._admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS " + quoted + " WITH (FORCE)"))

    def close(self) -> None:
        """Drop everything still around."""
        for url in list(self.created):
            self.drop(url)
        if self._admin is not None:
            self._admin.dispose()


@pytest.fixture(scope="session")
def scratch_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDatabases]:
    """Factory of throw-away databases on the configured backend."""
    dbs = ScratchDatabases(os.environ.get(TEST_DATABASE_URL_ENV) or None, tmp_path_factory.mktemp("db"))
    try:
        yield dbs
    finally:
        dbs.close()


@pytest.fixture(scope="session")
def database_url(scratch_databases: ScratchDatabases) -> str:
    """URL of a fresh database migrated to head, shared by the session."""
    return scratch_databases.create(migrated=True)


@pytest.fixture
def empty_database_url(scratch_databases: ScratchDatabases) -> Iterator[str]:
    """URL of a fresh, unmigrated database of its own, dropped after the test."""
    url = scratch_databases.create(migrated=False)
    try:
        yield url
    finally:
        scratch_databases.drop(url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the session database, disposed after the test."""
    eng = create_engine(database_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def clean_db(engine: Engine) -> Engine:
    """Empty all data tables before the test; returns the engine."""
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    return engine


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The Rasa model trained on the current training data (trained here if `make test` did not)."""
    from ground.rasa_models import ensure_model

    return ensure_model()


@pytest.fixture(params=list(SWEEP), ids=list(SWEEP))
def calendar_now(request: pytest.FixtureRequest) -> Iterator[datetime]:
    """The clock frozen at each instant of the calendar sweep (ticking from there); yields that instant."""
    instant = SWEEP[request.param]
    with time_machine.travel(instant, tick=True):
        yield instant


@pytest.fixture
def ticket_store(clean_db: Engine) -> TicketStore:
    """A TicketStore on an emptied database."""
    return TicketStore(clean_db)
