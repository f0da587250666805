"""Engine and session factories. Nothing is created at import time."""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.future import create_engine as _create_engine
from sqlalchemy.orm import Session, sessionmaker


def create_engine(url: str, **kwargs) -> Engine:
    """A 2.0-style engine for `url`; SQLite gets foreign keys and a busy timeout."""
    parsed = make_url(url)
    kwargs.setdefault("hide_parameters", True)  # statement parameters hold phones and names: never log them
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = _create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return _create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker:
    """Sessions bound to `engine`, 2.0 style, objects usable after commit."""
    return sessionmaker(bind=engine, future=True, expire_on_commit=False, class_=Session)
