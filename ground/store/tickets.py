"""Ticket repository: create (idempotent), look up, change status, audit, handoffs.

Synchronous on purpose: async callers run these methods in a thread.
Never log raw phone numbers or names; use :meth:`Ticket.masked`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from prometheus_client import Counter

from ground.db import session_factory
from ground.metrics import channel_label, handoff_reason_label, label
from ground.settings import current, opt_out_secret
from ground.tables.console import audit_log
from ground.tables.tickets import (
    REQUEST_TYPES,
    STATUSES,
    Ticket,
    TicketCounterModel,
    TicketDraft,
    TicketEvent,
    TicketEventModel,
    TicketModel,
    dialect_insert,
    supports_insert_returning,
    utcnow,
)
from ground.store.numbering import (
    DEFAULT_TIMEZONE,
    format_ticket_no,
    normalize_phone,
    normalize_ticket_no,
    ticket_day,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "InvalidTicketData",
    "InvalidTransition",
    "Ticket",
    "TicketDraft",
    "TicketEvent",
    "TicketNotFound",
    "TicketStore",
    "TicketStoreError",
    "TooManyLookups",
]

log = logging.getLogger(__name__)

# Observed where they are written (issue 14): each process that writes counts its own (action server, page's
# form, voice gateway); Prometheus adds them up.
TICKETS_WRITTEN = Counter("seat_tickets_written", "New tickets written (a retried write of the same request is not "
                          "counted), by channel and request type", ["channel", "request_type"])
HANDOFFS = Counter("seat_handoffs", "Handoffs to a person recorded, by reason (asked, not_understood, store_error, "
                   "dialogue_unavailable, other) and channel", ["reason", "channel"])
ASSIGN_NOTE = "改派：{old} → {new}"  # shown in the console's ticket history
REOPEN_NOTE = "reopen requested by the citizen in the satisfaction survey"

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"dispatched", "closed"}),
    "dispatched": frozenset({"in_progress", "closed"}),
    "in_progress": frozenset({"closed"}),
    "closed": frozenset({"in_progress"}),  # reopen
}


class TicketStoreError(ValueError):
    """Base class of the store's errors."""


class TicketNotFound(TicketStoreError):
    """No ticket with that number."""


class TooManyLookups(TicketStoreError):
    """Too many failed status look-ups for this phone lately (issue 13, finding 9)."""


# Status look-ups (issue 13, finding 9): ticket numbers are sequential per day, so someone who knows a
# phone could try them one by one. Failed look-ups are counted per phone in the database, across
# conversations, channels and processes; past the limit the phone is refused until the window passes.
LOOKUP_MAX_MISSES = 5
LOOKUP_WINDOW = timedelta(hours=24)
LOOKUP_MISS_ACTION = "status_lookup_miss"


def _lookup_key(digits: str) -> str:
    """The phone as a short one-way key for the miss counter (the audit log holds no phone numbers): an HMAC under
    the same secret as the opt-out list, so a dump of the database cannot be brute-forced back to numbers."""
    key = opt_out_secret(current())
    return "phone:" + hmac.new(key, ("status-lookup:" + digits).encode(), hashlib.sha256).hexdigest()[:32]


class InvalidTransition(TicketStoreError):
    """The status change is not allowed (or lost a race against another change)."""


class InvalidTicketData(TicketStoreError):
    """A draft or argument has a missing or unknown value."""


def _json_safe(value: Any) -> Any:
    """Round-trip through JSON so dates and other objects become plain values."""

    def default(obj: Any) -> Any:
        if isinstance(obj, (datetime, date)):
            return obj.isoformat()
        if isinstance(obj, (set, frozenset, tuple)):
            return list(obj)
        return str(obj)

    return json.loads(json.dumps(value, default=default, ensure_ascii=False))


def _required(value: Optional[str], name: str) -> str:
    if value is None or not str(value).strip():
        raise InvalidTicketData(f"{name} is required")
    return str(value).strip()


MAX_SENDER_CHARS = 255  # conversation_id / request_key columns (and Rasa's sender_id)
MAX_CHANNEL_CHARS = 20  # channel columns


def check_ref(value: Optional[str], name: str, max_chars: int) -> str:
    """A conversation id, request key or channel as stored: present, at most `max_chars`, no NUL byte (issue 13,
    finding 8: PostgreSQL refuses NUL and over-long values mid-insert; here the error says what is wrong)."""
    text = _required(value, name)
    if len(text) > max_chars:
        raise InvalidTicketData(f"{name} is {len(text)} characters long; at most {max_chars} are allowed")
    if "\x00" in text:
        raise InvalidTicketData(f"{name} contains a NUL character")
    return text


def _optional(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


class TicketStore:
    """Repository over the ``tickets``, ``ticket_events`` and ``handoffs`` tables."""

    def __init__(
        self,
        engine: Engine,
        *,
        tz: str = DEFAULT_TIMEZONE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.tz = tz
        self._zone = ZoneInfo(tz)
        self._clock = clock
        self._sessions = session_factory(engine)

    def _now(self) -> datetime:
        """The clock's time as aware UTC."""
        now = self._clock()
        return (now if now.tzinfo else now.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)

    # -- creation ---------------------------------------------------------

    def create_ticket(self, draft: TicketDraft, actor: str = "bot") -> Ticket:
        """Store the draft with a new ticket number and a ``None -> new`` event.

        Idempotent on ``(conversation_id, request_key)``: a retry returns the
        ticket created first, also when the retries race each other.
        """
        values = self._draft_values(draft)
        if not values["description"]:
            log.warning("ticket for %s has an empty description", values["conversation_id"])
        existing = self._by_key(values["conversation_id"], values["request_key"])
        if existing is not None:
            return existing
        try:
            ticket = self._insert(values, _required(actor, "actor"))
        except IntegrityError:
            existing = self._by_key(values["conversation_id"], values["request_key"])
            if existing is None:
                raise
            return existing
        log.info("ticket created: %s", ticket.masked())
        TICKETS_WRITTEN.labels(channel_label(values.get("channel")), label(values["request_type"], REQUEST_TYPES)).inc()
        return ticket

    def _draft_values(self, draft: TicketDraft) -> dict[str, Any]:
        request_type = _required(draft.request_type, "request_type")
        if request_type not in REQUEST_TYPES:
            raise InvalidTicketData(f"unknown request_type {request_type!r}; expected one of {REQUEST_TYPES}")
        occurred_at = draft.occurred_at
        if occurred_at is not None and occurred_at.tzinfo is None:
            occurred_at = occurred_at.replace(tzinfo=self._zone)
        return {
            "request_type": request_type,
            "description": (draft.description or "").strip(),
            "conversation_id": check_ref(draft.conversation_id, "conversation_id", MAX_SENDER_CHARS),
            "request_key": check_ref(draft.request_key, "request_key", MAX_SENDER_CHARS),
            "category": _optional(draft.category),
            "district": _optional(draft.district),
            "street": _optional(draft.street),
            "address": _optional(draft.address),
            "occurred_at": occurred_at,
            "contact_name": _optional(draft.contact_name),
            "phone": normalize_phone(draft.phone),
            "confidential": bool(draft.confidential),
            "channel": check_ref(draft.channel, "channel", MAX_CHANNEL_CHARS),
            "assigned_unit": _optional(draft.assigned_unit),
            "extra": _json_safe(draft.extra) if draft.extra is not None else None,
        }

    def _insert(self, values: dict[str, Any], actor: str) -> Ticket:
        now = self._now()
        day = ticket_day(now, self.tz)
        with self._sessions() as session, session.begin():
            row = TicketModel(
                **values,
                ticket_no=format_ticket_no(day, self._next_counter(session, day)),
                status="new",
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            session.add(
                TicketEventModel(
                    ticket_id=row.id,
                    actor=actor,
                    from_status=None,
                    to_status="new",
                    assigned_unit=row.assigned_unit,
                    created_at=now,
                )
            )
            session.flush()
            return Ticket.from_row(row)

    @staticmethod
    def _next_counter(session: Session, day: date) -> int:
        """Atomically bump and return the day's counter (row-locked until commit)."""
        dialect = session.get_bind().dialect
        table = TicketCounterModel.__table__
        stmt = dialect_insert(dialect.name)(table).values(day=day, last_value=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.day], set_={"last_value": table.c.last_value + 1}
        )
        if supports_insert_returning(dialect):
            return int(session.execute(stmt.returning(table.c.last_value)).scalar_one())
        # SQLAlchemy 1.4 cannot compile RETURNING for SQLite; the upsert already
        # holds SQLite's write lock, so reading back in the same transaction is safe.
        session.execute(stmt)
        return int(session.execute(select(table.c.last_value).where(table.c.day == day)).scalar_one())

    def _by_key(self, conversation_id: str, request_key: str) -> Optional[Ticket]:
        with self._sessions() as session:
            row = session.execute(
                select(TicketModel).where(
                    TicketModel.conversation_id == conversation_id,
                    TicketModel.request_key == request_key,
                )
            ).scalar_one_or_none()
            return Ticket.from_row(row) if row is not None else None

    # -- reading ----------------------------------------------------------

    def get(self, ticket_no: str) -> Optional[Ticket]:
        """The ticket with that number (spoken/undashed forms accepted), else None."""
        number = normalize_ticket_no(ticket_no)
        if number is None:
            return None
        with self._sessions() as session:
            row = session.execute(
                select(TicketModel).where(TicketModel.ticket_no == number)
            ).scalar_one_or_none()
            return Ticket.from_row(row) if row is not None else None

    def find_for_citizen(self, ticket_no: str, phone: str) -> Optional[Ticket]:
        """The ticket only if `phone` matches the ticket's phone (digits compared).

        Raises TooManyLookups after LOOKUP_MAX_MISSES failed look-ups for this phone within LOOKUP_WINDOW.
        """
        digits = normalize_phone(phone)
        if digits is None:
            return None
        key = _lookup_key(digits)
        since = self._clock() - LOOKUP_WINDOW
        with self.engine.connect() as conn:
            misses = conn.execute(select(func.count()).select_from(audit_log).where(
                audit_log.c.action == LOOKUP_MISS_ACTION, audit_log.c.target == key,
                audit_log.c.created_at >= since)).scalar_one()
        if misses >= LOOKUP_MAX_MISSES:
            log.info("citizen lookup refused: %d failed look-ups for this phone in %s", misses, LOOKUP_WINDOW)
            raise TooManyLookups(ticket_no)
        ticket = self.get(ticket_no)
        if ticket is None or not ticket.phone or not hmac.compare_digest(ticket.phone.encode(), digits.encode()):
            if ticket is not None:
                log.info("citizen lookup refused for %s: phone mismatch", ticket.ticket_no)
            with self.engine.begin() as conn:
                conn.execute(audit_log.insert().values(actor="citizen", action=LOOKUP_MISS_ACTION, target=key,
                                                       created_at=self._clock()))
            return None
        return ticket

    def events(self, ticket_no: str) -> list[TicketEvent]:
        """The ticket's status history, oldest first. Raises TicketNotFound."""
        ticket = self._require(ticket_no)
        with self._sessions() as session:
            rows = session.execute(
                select(TicketEventModel)
                .where(TicketEventModel.ticket_id == ticket.id)
                .order_by(TicketEventModel.id)
            ).scalars()
            return [TicketEvent.from_row(r) for r in rows]

    def list_tickets(
        self, *, status: Optional[str] = None, limit: int = 50, offset: int = 0
    ) -> list[Ticket]:
        """Tickets newest first, optionally filtered by status."""
        if status is not None and status not in STATUSES:
            raise InvalidTicketData(f"unknown status {status!r}; expected one of {STATUSES}")
        if not 1 <= limit <= 1000 or offset < 0:
            raise InvalidTicketData("limit must be 1..1000 and offset >= 0")
        stmt = select(TicketModel).order_by(TicketModel.created_at.desc(), TicketModel.id.desc())
        if status is not None:
            stmt = stmt.where(TicketModel.status == status)
        with self._sessions() as session:
            rows = session.execute(stmt.limit(limit).offset(offset)).scalars()
            return [Ticket.from_row(r) for r in rows]

    def _require(self, ticket_no: str) -> Ticket:
        ticket = self.get(ticket_no)
        if ticket is None:
            raise TicketNotFound(f"no ticket {ticket_no!r}")
        return ticket

    # -- changes ----------------------------------------------------------

    def change_status(
        self,
        ticket_no: str,
        to_status: str,
        actor: str,
        note: Optional[str] = None,
        assigned_unit: Optional[str] = None,
    ) -> Ticket:
        """Move the ticket to `to_status` and audit it.

        Allowed: new->dispatched->in_progress->closed, new/dispatched->closed,
        closed->in_progress (reopen). Dispatching needs a unit (given or already
        assigned). Raises TicketNotFound, InvalidTransition or InvalidTicketData.
        """
        if to_status not in STATUSES:
            raise InvalidTicketData(f"unknown status {to_status!r}; expected one of {STATUSES}")
        actor = _required(actor, "actor")
        unit = _optional(assigned_unit)
        number = normalize_ticket_no(ticket_no)
        with self._sessions() as session:
            row = None
            if number is not None:
                row = session.execute(
                    select(TicketModel).where(TicketModel.ticket_no == number)
                ).scalar_one_or_none()
            if row is None:
                raise TicketNotFound(f"no ticket {ticket_no!r}")
            from_status = row.status
            if to_status not in ALLOWED_TRANSITIONS[from_status]:
                raise InvalidTransition(
                    f"ticket {row.ticket_no}: {from_status} -> {to_status} is not allowed"
                )
            unit = unit or row.assigned_unit
            if to_status == "dispatched" and not unit:
                raise InvalidTicketData(f"ticket {row.ticket_no}: dispatching needs assigned_unit")
            now = self._now()
            closed_at = now if to_status == "closed" else (None if from_status == "closed" else row.closed_at)
            result = session.execute(
                update(TicketModel)
                .where(TicketModel.id == row.id, TicketModel.status == from_status)
                .values(status=to_status, assigned_unit=unit, updated_at=now, closed_at=closed_at)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                session.rollback()
                raise InvalidTransition(
                    f"ticket {row.ticket_no} changed concurrently (was {from_status}); retry"
                )
            session.add(
                TicketEventModel(
                    ticket_id=row.id,
                    actor=actor,
                    from_status=from_status,
                    to_status=to_status,
                    note=_optional(note),
                    assigned_unit=unit,
                    created_at=now,
                )
            )
            session.flush()
            session.refresh(row)
            ticket = Ticket.from_row(row)
            session.commit()
        log.info("ticket %s: %s -> %s by %s", ticket.ticket_no, from_status, to_status, actor)
        return ticket

    def assign(self, ticket_no: str, unit: str, actor: str, note: Optional[str] = None) -> Ticket:
        """(Re)assign the ticket to `unit`, keeping its status, with an event naming the old and new unit.

        Raises TicketNotFound, InvalidTicketData (no unit, or the ticket already has it) or
        InvalidTransition (the ticket changed meanwhile).
        """
        unit = _required(unit, "assigned_unit")
        actor = _required(actor, "actor")
        with self._sessions() as session, session.begin():
            row = self._row(session, ticket_no)
            old = row.assigned_unit
            if old == unit:
                raise InvalidTicketData(f"ticket {row.ticket_no} is already assigned to {unit}")
            now = self._now()
            result = session.execute(
                update(TicketModel)
                .where(TicketModel.id == row.id, TicketModel.status == row.status,
                       TicketModel.assigned_unit.is_(None) if old is None else TicketModel.assigned_unit == old)
                .values(assigned_unit=unit, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                raise InvalidTransition(f"ticket {row.ticket_no} changed concurrently; retry")
            text = ASSIGN_NOTE.format(old=old or "（无）", new=unit)
            self._event(session, row.id, actor, row.status, row.status, unit, now,
                        text + (f"；{note.strip()}" if note and note.strip() else ""))
            session.flush()
            session.refresh(row)
            ticket = Ticket.from_row(row)
        log.info("ticket %s: reassigned by %s", ticket.ticket_no, actor)
        return ticket

    def request_reopen(self, ticket_no: str, reason: str, actor: str = "survey") -> Ticket:
        """Audit the citizen's request to reopen (an event keeping the status; the console or unit reopens it)."""
        actor = _required(actor, "actor")
        with self._sessions() as session, session.begin():
            row = self._row(session, ticket_no)
            self._event(session, row.id, actor, row.status, row.status, row.assigned_unit, self._now(),
                        f"{REOPEN_NOTE}: {_optional(reason) or ''}".rstrip(": "))
            ticket = Ticket.from_row(row)
        log.info("ticket %s: reopen requested by %s", ticket.ticket_no, actor)
        return ticket

    @staticmethod
    def _row(session: Session, ticket_no: str) -> TicketModel:
        number = normalize_ticket_no(ticket_no)
        row = None
        if number is not None:
            row = session.execute(select(TicketModel).where(TicketModel.ticket_no == number)).scalar_one_or_none()
        if row is None:
            raise TicketNotFound(f"no ticket {ticket_no!r}")
        return row

    @staticmethod
    def _event(session: Session, ticket_id: int, actor: str, from_status: Optional[str], to_status: str,
               unit: Optional[str], now: datetime, note: Optional[str] = None) -> None:
        session.add(TicketEventModel(ticket_id=ticket_id, actor=actor, from_status=from_status, to_status=to_status,
                                     note=_optional(note), assigned_unit=unit, created_at=now))

    def record_handoff(
        self, conversation_id: str, reason: str, collected: dict[str, Any], channel: str,
        call_id: Optional[str] = None,
    ) -> int:
        """Put the conversation in the operators' queue (``ground.store.handoffs.open_handoff``); returns the
        handoff's id (the conversation's open handoff when it already has one)."""
        from ground.store.handoffs import open_handoff  # handoffs builds on this module

        reason = _required(reason, "reason")
        handoff = open_handoff(self.engine, conversation_id, reason, collected, channel, call_id=call_id,
                               now=self._now())
        HANDOFFS.labels(handoff_reason_label(handoff.reason), channel_label(handoff.channel)).inc()
        return handoff.id
