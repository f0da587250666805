"""Revisions of the dialogue files: who changed which file when, the unified diff and the full content."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from ground.tables.console import flow_revisions
from ground.tables.tickets import utcnow


@dataclass(frozen=True)
class Revision:
    id: int
    file: str
    author: str
    summary: str
    diff: str
    content: str
    created_at: datetime


def unified_diff(old: str, new: str, file: str) -> str:
    """`diff -u` of two versions of `file`."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{file}", tofile=f"b/{file}"))


def add_revision(conn: Connection, file: str, author: str, summary: str, old: str, new: str) -> int:
    """Store one revision inside the caller's transaction; returns its id."""
    result = conn.execute(flow_revisions.insert().values(
        file=file, author=author, summary=summary[:255], diff=unified_diff(old, new, file), content=new,
        created_at=utcnow()))
    return int(result.inserted_primary_key[0])


def _revision(row) -> Revision:
    return Revision(row.id, row.file, row.author, row.summary, row.diff, row.content, row.created_at)


def list_revisions(engine: Engine, file: str | None = None, limit: int = 100) -> list[Revision]:
    """Newest first, optionally for one file."""
    stmt = select(flow_revisions).order_by(flow_revisions.c.id.desc()).limit(limit)
    if file:
        stmt = stmt.where(flow_revisions.c.file == file)
    with engine.connect() as conn:
        return [_revision(r) for r in conn.execute(stmt)]


def get_revision(engine: Engine, revision_id: int) -> Revision | None:
    with engine.connect() as conn:
        row = conn.execute(select(flow_revisions).where(flow_revisions.c.id == revision_id)).first()
    return _revision(row) if row is not None else None
