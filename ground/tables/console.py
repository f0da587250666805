"""Admin console tables, on the ticket store's metadata (one set of migrations)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Column, Index, Integer, String, Text, func, true

from ground.tables.tickets import Base, UTCDateTime, utcnow

ROLES = ("admin", "editor", "operator", "viewer")


class AdminUserModel(Base):
    """A person who may log in to the admin console (argon2 password hash, one role)."""

    __tablename__ = "admin_users"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    password_hash = Column(String(255), nullable=False)
    role = Column(String(16), nullable=False)
    active = Column(Boolean, nullable=False, default=True, server_default=true())
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, server_default=func.now())
    last_login_at = Column(UTCDateTime(), nullable=True)


class FlowRevisionModel(Base):
    """One saved change of a dialogue file: who, when, the unified diff and the full new content."""

    __tablename__ = "flow_revisions"
    __table_args__ = (Index(None, "file", "id"),)

    id = Column(Integer, primary_key=True)
    file = Column(String(255), nullable=False)
    author = Column(String(64), nullable=False)
    summary = Column(String(255), nullable=False, default="")
    diff = Column(Text, nullable=False)
    content = Column(Text, nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, server_default=func.now())


class ModelVersionModel(Base):
    """A trained model: candidate, or published (kept for roll back); at most one is active."""

    __tablename__ = "model_versions"

    id = Column(Integer, primary_key=True)
    name = Column(String(128), nullable=False, unique=True)
    file = Column(Text, nullable=False)
    sha256 = Column(String(64), nullable=False)
    trained_at = Column(UTCDateTime(), nullable=True)
    trained_by = Column(String(64), nullable=True)
    test_report: Any = Column(JSON, nullable=True)
    published_at = Column(UTCDateTime(), nullable=True)
    published_by = Column(String(64), nullable=True)
    active = Column(Boolean, nullable=False, default=False, server_default="0")


class AuditLogModel(Base):
    """Who did what in the admin console (never with personal data)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "created_at"),)

    id = Column(Integer, primary_key=True)
    actor = Column(String(64), nullable=False)
    action = Column(String(64), nullable=False)
    target = Column(String(255), nullable=True)
    detail: Any = Column(JSON, nullable=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, server_default=func.now())


class AdminSessionModel(Base):
    """A console login (issue 13, finding 5): the cookie carries a random id, the table its SHA-256; logout,
    a password change or a role change revokes it at once, on every replica."""

    __tablename__ = "admin_sessions"
    __table_args__ = (Index(None, "username"),)

    id = Column(String(64), primary_key=True)  # SHA-256 hex of the cookie's session id
    username = Column(String(64), nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, server_default=func.now())
    expires_at = Column(UTCDateTime(), nullable=False)
    revoked_at = Column(UTCDateTime(), nullable=True)


class AdminLoginFailureModel(Base):
    """Failed console logins per (name, address) (issue 13, finding 5): in the database, so the limit holds
    across replicas; keyed by both, so guessing from one address never locks the user out elsewhere."""

    __tablename__ = "admin_login_failures"

    key = Column(String(64), primary_key=True)  # SHA-256 hex of name and address
    failures = Column(Integer, nullable=False, default=0)
    blocked_until = Column(UTCDateTime(), nullable=True)
    last_failure_at = Column(UTCDateTime(), nullable=False)


class OperatorPresenceModel(Base):
    """When an operator's workspace was last open (its page pings): who is on duty for the wait estimate."""

    __tablename__ = "operator_presence"

    username = Column(String(64), primary_key=True)
    seen_at = Column(UTCDateTime(), nullable=False)


admin_users = AdminUserModel.__table__
admin_sessions = AdminSessionModel.__table__
admin_login_failures = AdminLoginFailureModel.__table__
flow_revisions = FlowRevisionModel.__table__
model_versions = ModelVersionModel.__table__
audit_log = AuditLogModel.__table__
operator_presence = OperatorPresenceModel.__table__
