"""Server-side admin console sessions (issue 13, finding 5).

The encrypted cookie carries only a random session id; the table keeps its SHA-256 with the user and
the expiry. A session counts only while its row is neither expired nor revoked: logout revokes one,
a password change or a role change (ground.store.users) revokes all of the user's.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, Engine

from ground.tables.console import admin_sessions
from ground.tables.tickets import utcnow


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(engine: Engine, username: str, lifetime: timedelta, now: datetime | None = None) -> str:
    """A new session for `username`; returns the id to put in the cookie (stored only hashed)."""
    now = now or utcnow()
    session_id = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(delete(admin_sessions).where(admin_sessions.c.expires_at < now))  # keeps the table small
        conn.execute(admin_sessions.insert().values(id=_key(session_id), username=username, created_at=now,
                                                    expires_at=now + lifetime))
    return session_id


def session_user(engine: Engine, session_id: str | None, now: datetime | None = None) -> str | None:
    """The user of a live session, or None (unknown, expired or revoked)."""
    if not session_id or not isinstance(session_id, str):
        return None
    now = now or utcnow()
    with engine.connect() as conn:
        row = conn.execute(select(admin_sessions.c.username).where(
            admin_sessions.c.id == _key(session_id), admin_sessions.c.revoked_at.is_(None),
            admin_sessions.c.expires_at > now)).first()
    return row.username if row else None


def revoke(engine: Engine, session_id: str | None, now: datetime | None = None) -> None:
    """End one session (logout)."""
    if session_id:
        with engine.begin() as conn:
            conn.execute(update(admin_sessions).where(admin_sessions.c.id == _key(session_id),
                                                      admin_sessions.c.revoked_at.is_(None))
                         .values(revoked_at=now or utcnow()))


def revoke_user(conn: Connection, username: str, now: datetime | None = None) -> int:
    """End every session of `username` (inside the caller's transaction); how many were live."""
    done = conn.execute(update(admin_sessions).where(admin_sessions.c.username == username,
                                                     admin_sessions.c.revoked_at.is_(None))
                        .values(revoked_at=now or utcnow()))
    return done.rowcount
