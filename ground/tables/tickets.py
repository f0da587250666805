"""SQLAlchemy ORM models of the ticket store, and the value objects callers get.

The schema here must match ``migrations/versions``; ``tests/test_migrations.py``
checks that Alembic autogenerate finds no differences after ``upgrade head``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import declarative_base
from sqlalchemy.types import DateTime, TypeDecorator

from ground.masking import mask_name, mask_phone

REQUEST_TYPES: tuple[str, ...] = ("consultation", "help", "complaint", "suggestion", "praise")
STATUSES: tuple[str, ...] = ("new", "dispatched", "in_progress", "closed")
UNIT_KINDS: tuple[str, ...] = ("district_government", "municipal_department", "street_office")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
Base = declarative_base(metadata=metadata)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def in_list(column: str, values: tuple[str, ...]) -> str:
    """SQL text ``column IN ('a', 'b')`` for CHECK constraints (constants only)."""
    quoted = ", ".join("'" + v + "'" for v in values)
    return column + " IN (" + quoted + ")"


class UTCDateTime(TypeDecorator):
    """``DateTime(timezone=True)`` that always hands back aware UTC datetimes.

    Naive values are taken as UTC. SQLite has no time zone support, so values
    are stored there as naive UTC and re-tagged on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Dialect) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Optional[datetime], dialect: Dialect) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class TicketModel(Base):
    """One citizen request (work order)."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("conversation_id", "request_key"),
        CheckConstraint(in_list("request_type", REQUEST_TYPES), name="request_type"),
        CheckConstraint(in_list("status", STATUSES), name="status"),
        Index(None, "status", "created_at"),
        Index(None, "created_at"),
        # the survey scheduler's query: closed tickets by closing time (ground.store.survey_tries.schedule_closed)
        Index("ix_tickets_status_closed_at", "status", "closed_at"),
    )

    id = Column(Integer, primary_key=True)
    ticket_no = Column(String(32), nullable=False, unique=True)
    request_type = Column(String(20), nullable=False)
    category = Column(String(100), nullable=True)
    description = Column(Text, nullable=False)
    district = Column(String(50), nullable=True)
    street = Column(String(100), nullable=True)
    address = Column(Text, nullable=True)
    occurred_at = Column(UTCDateTime(), nullable=True)
    contact_name = Column(String(100), nullable=True)
    phone = Column(String(32), nullable=True)
    confidential = Column(Boolean, nullable=False, default=False, server_default=false())
    channel = Column(String(20), nullable=False, default="rest")
    conversation_id = Column(String(255), nullable=False)
    request_key = Column(String(255), nullable=False)
    status = Column(String(20), nullable=False, default="new")
    assigned_unit = Column(String(200), nullable=True)
    extra = Column(JSON(none_as_null=True), nullable=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, server_default=func.now())
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow, server_default=func.now())
    closed_at = Column(UTCDateTime(), nullable=True)


class TicketEventModel(Base):
    """Audit row: one status change of a ticket (creation is ``None -> new``)."""

    __tablename__ = "ticket_events"
    __table_args__ = (
        CheckConstraint(in_list("to_status", STATUSES), name="to_status"),
        Index(None, "ticket_id"),
    )

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id"), nullable=False)
    actor = Column(String(100), nullable=False)
    from_status = Column(String(20), nullable=True)
    to_status = Column(String(20), nullable=False)
    note = Column(Text, nullable=True)
    assigned_unit = Column(String(200), nullable=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, server_default=func.now())


class TicketCounterModel(Base):
    """Per-day ticket number counter (day in the hotline's local time zone)."""

    __tablename__ = "ticket_counters"

    day = Column(Date, primary_key=True)
    last_value = Column(Integer, nullable=False)


class UnitModel(Base):
    """An organisation tickets can be dispatched to."""

    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint(in_list("kind", UNIT_KINDS), name="kind"),
        Index(None, "parent_code"),
    )

    id = Column(Integer, primary_key=True)
    code = Column(String(200), nullable=False, unique=True)
    name = Column(String(200), nullable=False)
    kind = Column(String(40), nullable=False)
    parent_code = Column(String(200), ForeignKey("units.code"), nullable=True)
    district = Column(String(50), nullable=True)
    active = Column(Boolean, nullable=False, default=True, server_default=true())
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow, server_default=func.now())


HANDOFF_STATUSES: tuple[str, ...] = ("waiting", "claimed", "closed", "cancelled", "abandoned")
HANDOFF_OPEN_STATUSES: tuple[str, ...] = ("waiting", "claimed")
HANDOFF_OUTCOMES: tuple[str, ...] = ("ticket", "resolved", "cancelled", "abandoned", "callback_ticket")


class HandoffModel(Base):
    """A conversation handed over to a human agent, with what was collected so far, and its life in the
    operators' queue: waiting -> claimed (an operator took it) -> closed, or cancelled / abandoned while waiting.
    A conversation has at most one open (waiting or claimed) handoff (partial unique index)."""

    __tablename__ = "handoffs"
    __table_args__ = (
        CheckConstraint(in_list("status", HANDOFF_STATUSES), name="status"),
        CheckConstraint("outcome IS NULL OR " + in_list("outcome", HANDOFF_OUTCOMES), name="outcome"),
        Index(None, "conversation_id"),
        Index(None, "status", "created_at"),
        Index(None, "call_id"),
        Index("uq_handoffs_open_conversation", "conversation_id", unique=True,
              postgresql_where=text("status IN ('waiting', 'claimed')"),
              sqlite_where=text("status IN ('waiting', 'claimed')")),
    )

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False)
    reason = Column(Text, nullable=False)
    collected: Any = Column(JSON, nullable=False)
    channel = Column(String(20), nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, server_default=func.now())
    status = Column(String(20), nullable=False, default="waiting", server_default="closed")  # see migration 0008
    claimed_by = Column(String(64), nullable=True)
    claimed_at = Column(UTCDateTime(), nullable=True)
    closed_at = Column(UTCDateTime(), nullable=True)
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow, server_default=func.now())
    outcome = Column(String(20), nullable=True)
    ticket_no = Column(String(32), nullable=True)
    call_id = Column(String(255), nullable=True)
    note = Column(Text, nullable=True)


# -- value objects handed to callers (detached snapshots) ---------------------


@dataclass
class TicketDraft:
    """What the bot collected. Naive ``occurred_at`` is taken as hotline local time."""

    request_type: str
    description: str = field(repr=False)
    conversation_id: str
    request_key: str
    category: Optional[str] = None
    district: Optional[str] = None
    street: Optional[str] = None
    address: Optional[str] = field(default=None, repr=False)
    occurred_at: Optional[datetime] = None
    contact_name: Optional[str] = field(default=None, repr=False)
    phone: Optional[str] = field(default=None, repr=False)
    confidential: bool = False
    channel: str = "rest"
    assigned_unit: Optional[str] = None
    extra: Optional[dict[str, Any]] = field(default=None, repr=False)


@dataclass(frozen=True)
class Ticket:
    """A stored ticket (detached snapshot). ``repr`` hides personal data."""

    id: int
    ticket_no: str
    request_type: str
    category: Optional[str]
    description: str = field(repr=False)
    district: Optional[str] = None
    street: Optional[str] = None
    address: Optional[str] = field(default=None, repr=False)
    occurred_at: Optional[datetime] = None
    contact_name: Optional[str] = field(default=None, repr=False)
    phone: Optional[str] = field(default=None, repr=False)
    confidential: bool = False
    channel: str = "rest"
    conversation_id: str = ""
    request_key: str = ""
    status: str = "new"
    assigned_unit: Optional[str] = None
    extra: Optional[dict[str, Any]] = field(default=None, repr=False)
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None
    closed_at: Optional[datetime] = None

    @classmethod
    def from_row(cls, row: TicketModel) -> "Ticket":
        """Snapshot of an ORM row."""
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    @property
    def masked_phone(self) -> Optional[str]:
        """Phone for logs and read-back, e.g. ``139****2222``."""
        return mask_phone(self.phone)

    @property
    def masked_name(self) -> Optional[str]:
        """Contact name for logs, e.g. ``王*``."""
        return mask_name(self.contact_name)

    def masked(self) -> dict[str, Any]:
        """Log-safe summary: no description/address, phone and name masked."""
        return {
            "ticket_no": self.ticket_no,
            "status": self.status,
            "request_type": self.request_type,
            "category": self.category,
            "district": self.district,
            "street": self.street,
            "channel": self.channel,
            "conversation_id": self.conversation_id,
            "assigned_unit": self.assigned_unit,
            "confidential": self.confidential,
            "contact_name": self.masked_name,
            "phone": self.masked_phone,
        }


@dataclass(frozen=True)
class TicketEvent:
    """One audit entry of a ticket's status history."""

    id: int
    ticket_id: int
    actor: str
    from_status: Optional[str]
    to_status: str
    note: Optional[str]
    assigned_unit: Optional[str]
    created_at: datetime

    @classmethod
    def from_row(cls, row: TicketEventModel) -> "TicketEvent":
        """Snapshot of an ORM row."""
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


# Core tables, for callers that query without the ORM (``select(tickets)``).
tickets = TicketModel.__table__
ticket_events = TicketEventModel.__table__
ticket_counters = TicketCounterModel.__table__
units = UnitModel.__table__
handoffs = HandoffModel.__table__


def dialect_insert(dialect_name: str) -> Any:
    """The dialect's ``insert`` construct that supports ``on_conflict_do_update``."""
    if dialect_name == "postgresql":
        return pg_insert
    if dialect_name == "sqlite":
        return sqlite_insert
    raise NotImplementedError(f"upsert not supported for dialect {dialect_name!r}")


def supports_insert_returning(dialect: Dialect) -> bool:
    """Whether ``INSERT ... RETURNING`` compiles for this dialect (SQLAlchemy 1.4 and 2.0)."""
    return bool(getattr(dialect, "insert_returning", getattr(dialect, "full_returning", False)))
