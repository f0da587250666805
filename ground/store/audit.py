"""The audit log: every change made through the console (no personal data in it)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ground.tables.console import audit_log
from ground.tables.tickets import utcnow

log = logging.getLogger("ground.store.audit")


@dataclass(frozen=True)
class AuditEntry:
    id: int
    actor: str
    action: str
    target: str | None
    detail: Any
    created_at: datetime


def record(engine: Engine, actor: str, action: str, target: str | None = None, detail: Any = None) -> None:
    """Store one audit entry and log it."""
    detail = json.loads(json.dumps(detail, ensure_ascii=False, default=str)) if detail is not None else None
    with engine.begin() as conn:
        conn.execute(audit_log.insert().values(actor=actor, action=action, target=target, detail=detail,
                                               created_at=utcnow()))
    log.info("%s %s %s", actor, action, target or "")


def recent(engine: Engine, limit: int = 200, action: str | None = None) -> list[AuditEntry]:
    stmt = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if action:
        stmt = stmt.where(audit_log.c.action == action)
    with engine.connect() as conn:
        return [AuditEntry(r.id, r.actor, r.action, r.target, r.detail, r.created_at) for r in conn.execute(stmt)]
