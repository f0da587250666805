"""Handoffs to human agents: the operators' queue (issue 16).

A handoff is opened by the dialogue (the citizen asked for a person, the bot failed twice, ...) and lives as
``waiting`` -> ``claimed`` (one operator took it; exactly one of concurrent claims wins) -> ``closed`` (with a
ticket, resolved, or a ticket flagged for a call back), or ends while waiting as ``cancelled`` (the citizen said
so) or ``abandoned`` (waited too long / gone). An operator who leaves releases it: ``claimed`` -> ``waiting``.
When no operator is on duty the dialogue files a ticket and :func:`mark_callback` keeps the handoff waiting in the
queue with outcome ``callback_ticket`` (the operator calls back, then closes it); such handoffs are not live
waits: they do not count in queue positions and are never marked abandoned.

Plain functions over an Engine; every function takes `now` (aware UTC) so callers and tests own the clock.
"""
from __future__ import annotations

import json
import logging
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import MetaData, Table, and_, func, inspect, or_, select, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError

from ground.calling_window import DEFAULT_TIMEZONE
from ground.masking import mask_name, mask_phone
from ground.store.tickets import MAX_CHANNEL_CHARS, MAX_SENDER_CHARS, _json_safe, check_ref
from ground.tables.console import operator_presence
from ground.tables.tickets import (
    HANDOFF_OPEN_STATUSES,
    HANDOFF_OUTCOMES,
    dialect_insert,
    handoffs,
    tickets,
)

log = logging.getLogger(__name__)

DEFAULT_HANDLING_S = 180  # mean handling time before any handoff was closed
HANDLING_SAMPLE = 20  # closed handoffs the mean handling time is taken over
ONLINE_WINDOW_S = 120  # an operator whose workspace pinged within this is on duty
CLOSING_OUTCOMES = ("ticket", "resolved", "callback_ticket")  # what close() accepts
RASA_EVENTS = "events"  # Rasa's SQLTrackerStore table (not ours; read only, when present)
INPUT_CHANNEL_NAMES = {"socketio": "web", "cmdline": "shell"}  # Rasa input channel -> seat channel (bot.actions)
MAX_OPERATOR_CHARS = 64


class HandoffError(ValueError):
    """A handoff change that is not allowed (unknown handoff, wrong state, another operator's handoff)."""


@dataclass(frozen=True)
class Handoff:
    """A stored handoff (detached snapshot). ``repr`` keeps what was collected (personal data) out of logs."""

    id: int
    conversation_id: str
    reason: str
    collected: dict[str, Any] = field(repr=False)
    channel: str
    status: str
    created_at: datetime
    updated_at: datetime
    claimed_by: Optional[str] = None
    claimed_at: Optional[datetime] = None
    closed_at: Optional[datetime] = None
    outcome: Optional[str] = None
    ticket_no: Optional[str] = None
    call_id: Optional[str] = None
    note: Optional[str] = field(default=None, repr=False)

    @classmethod
    def from_row(cls, row: Row) -> "Handoff":
        values = {f.name: getattr(row, f.name) for f in fields(cls)}
        collected = values["collected"]
        if isinstance(collected, str):  # JSON as text on some drivers
            collected = json.loads(collected)
        values["collected"] = dict(collected or {})
        return cls(**values)

    @property
    def is_open(self) -> bool:
        return self.status in HANDOFF_OPEN_STATUSES

    @property
    def live(self) -> bool:
        """A citizen (or caller) is waiting for a person now (not a call-back kept in the queue)."""
        return self.status == "waiting" and self.outcome is None

    def masked(self) -> dict[str, Any]:
        """Log- and list-safe summary: phone and name masked, no description or address."""
        c = self.collected
        return {
            "id": self.id, "conversation_id": self.conversation_id, "channel": self.channel, "status": self.status,
            "reason": self.reason, "request_type": c.get("request_type"), "category": c.get("category"),
            "district": c.get("district"), "phone": mask_phone(c.get("phone")),
            "contact_name": mask_name(c.get("contact_name")), "claimed_by": self.claimed_by,
            "outcome": self.outcome, "ticket_no": self.ticket_no, "call_id": self.call_id,
        }


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        return now.replace(tzinfo=timezone.utc)
    return now.astimezone(timezone.utc)


def _one(conn: Connection, *where: Any) -> Optional[Handoff]:
    row = conn.execute(select(handoffs).where(*where).order_by(handoffs.c.id.desc()).limit(1)).first()
    return Handoff.from_row(row) if row is not None else None


def _require(conn: Connection, handoff_id: int) -> Handoff:
    found = _one(conn, handoffs.c.id == int(handoff_id))
    if found is None:
        raise HandoffError(f"no handoff {handoff_id}")
    return found


def _operator(value: Optional[str]) -> str:
    value = (value or "").strip()
    if not value:
        raise HandoffError("operator is required")
    if len(value) > MAX_OPERATOR_CHARS:
        raise HandoffError(f"operator name longer than {MAX_OPERATOR_CHARS} characters")
    return value


_OPEN = handoffs.c.status.in_(HANDOFF_OPEN_STATUSES)
_LIVE = and_(handoffs.c.status == "waiting", handoffs.c.outcome.is_(None))


# -- opening and reading -------------------------------------------------------


def open_handoff(engine: Engine, conversation_id: str, reason: str, collected: dict[str, Any], channel: str,
                 call_id: Optional[str] = None, now: Optional[datetime] = None) -> Handoff:
    """Put the conversation in the operators' queue (waiting). Idempotent: the conversation's open handoff is
    returned instead of a second one (also when two requests race); a call id it lacked is added."""
    now = _utc(now or datetime.now(timezone.utc))
    conversation_id = check_ref(conversation_id, "conversation_id", MAX_SENDER_CHARS)
    reason = (reason or "").strip()
    if not reason:
        raise HandoffError("reason is required")
    values = dict(conversation_id=conversation_id, reason=reason, collected=_json_safe(dict(collected or {})),
                  channel=check_ref(channel, "channel", MAX_CHANNEL_CHARS), status="waiting",
                  call_id=(str(call_id)[:255] if call_id else None), created_at=now, updated_at=now)
    for _ in range(2):
        with engine.begin() as conn:
            existing = _one(conn, handoffs.c.conversation_id == conversation_id, _OPEN)
            if existing is not None:
                if call_id and not existing.call_id:
                    conn.execute(update(handoffs).where(handoffs.c.id == existing.id)
                                 .values(call_id=values["call_id"], updated_at=now))
                    existing = _require(conn, existing.id)
                return existing
        try:
            with engine.begin() as conn:
                new_id = conn.execute(handoffs.insert().values(**values)).inserted_primary_key[0]
                opened = _require(conn, new_id)
        except IntegrityError:  # another request opened it first: return that one
            continue
        log.info("handoff %s opened for %s (%s, %s)", opened.id, conversation_id, opened.channel, reason)
        return opened
    raise HandoffError(f"could not open a handoff for {conversation_id!r}")  # pragma: no cover


def get(engine: Engine, handoff_id: int) -> Optional[Handoff]:
    with engine.connect() as conn:
        return _one(conn, handoffs.c.id == int(handoff_id))


def open_for(engine: Engine, conversation_id: str) -> Optional[Handoff]:
    """The conversation's waiting or claimed handoff, if any."""
    with engine.connect() as conn:
        return _one(conn, handoffs.c.conversation_id == conversation_id, _OPEN)


def by_call(engine: Engine, call_id: str) -> Optional[Handoff]:
    """The (latest) handoff of a phone call, for the operator who takes the call."""
    if not call_id:
        return None
    with engine.connect() as conn:
        return _one(conn, handoffs.c.call_id == str(call_id))


def list_open(engine: Engine) -> list[Handoff]:
    """The queue: live waits oldest first, then call-backs kept in the queue (oldest first), then claimed ones."""
    with engine.connect() as conn:
        rows = conn.execute(select(handoffs).where(_OPEN).order_by(handoffs.c.created_at, handoffs.c.id)).all()
    found = [Handoff.from_row(r) for r in rows]
    rank = {True: 0, False: 1}
    return sorted(found, key=lambda h: (h.status == "claimed", rank[h.live] if h.status == "waiting" else 0))


def queue_position(engine: Engine, handoff_id: int) -> int:
    """How many live waits are ahead of this one (0 = next); 0 when it is not a live wait."""
    with engine.connect() as conn:
        me = _require(conn, handoff_id)
        if not me.live:
            return 0
        ahead = or_(handoffs.c.created_at < me.created_at,
                    and_(handoffs.c.created_at == me.created_at, handoffs.c.id < me.id))
        return int(conn.execute(select(func.count()).select_from(handoffs).where(_LIVE, ahead)).scalar_one())


def mean_handling_s(engine: Engine) -> float:
    """Mean claimed -> closed time of the last closed handoffs, else the default."""
    with engine.connect() as conn:
        rows = conn.execute(select(handoffs.c.claimed_at, handoffs.c.closed_at).where(
            handoffs.c.status == "closed", handoffs.c.claimed_at.is_not(None), handoffs.c.closed_at.is_not(None))
            .order_by(handoffs.c.closed_at.desc()).limit(HANDLING_SAMPLE)).all()
    spans = [(r.closed_at - r.claimed_at).total_seconds() for r in rows if r.closed_at >= r.claimed_at]
    return sum(spans) / len(spans) if spans else float(DEFAULT_HANDLING_S)


def estimated_wait_s(engine: Engine, handoff_id: int, now: datetime) -> int:
    """(position + 1) x mean handling time / max(1, operators on duty), in whole seconds."""
    position = queue_position(engine, handoff_id)
    operators = max(1, operators_online(engine, now))
    return int(math.ceil((position + 1) * mean_handling_s(engine) / operators))


# -- operators -------------------------------------------------------------------


def claim(engine: Engine, handoff_id: int, operator: str, now: datetime) -> Optional[Handoff]:
    """Take a waiting handoff. Race-safe: exactly one of concurrent claims wins; None for the loser (or when the
    handoff is no longer waiting)."""
    operator, now = _operator(operator), _utc(now)
    with engine.begin() as conn:
        done = conn.execute(update(handoffs).where(handoffs.c.id == int(handoff_id), handoffs.c.status == "waiting")
                            .values(status="claimed", claimed_by=operator, updated_at=now,
                                    claimed_at=func.coalesce(handoffs.c.claimed_at, now)))
        if done.rowcount != 1:
            return None
        claimed = _require(conn, handoff_id)
    log.info("handoff %s claimed by %s", claimed.id, operator)
    return claimed


def _owned(conn: Connection, handoff_id: int, operator: str) -> Handoff:
    current = _require(conn, handoff_id)
    if current.status != "claimed" or current.claimed_by != operator:
        raise HandoffError(f"handoff {handoff_id} is not claimed by {operator}")
    return current


def release(engine: Engine, handoff_id: int, operator: str, now: datetime) -> Handoff:
    """The operator left: the handoff waits again (in its old place: the queue is by creation time). The first
    claim time is kept (the citizen's wait for a person ended then)."""
    operator, now = _operator(operator), _utc(now)
    with engine.begin() as conn:
        _owned(conn, handoff_id, operator)
        conn.execute(update(handoffs).where(handoffs.c.id == int(handoff_id), handoffs.c.status == "claimed",
                                            handoffs.c.claimed_by == operator)
                     .values(status="waiting", claimed_by=None, updated_at=now))
        released = _require(conn, handoff_id)
    log.info("handoff %s released by %s", released.id, operator)
    return released


def close(engine: Engine, handoff_id: int, operator: str, outcome: str, now: datetime,
          ticket_no: Optional[str] = None, note: Optional[str] = None) -> Handoff:
    """Finish a handoff: `outcome` ticket (with its ticket number), resolved, or callback_ticket. A claimed
    handoff is closed by its operator; a waiting one (a call-back kept in the queue) by any operator."""
    operator, now = _operator(operator), _utc(now)
    if outcome not in CLOSING_OUTCOMES:
        raise HandoffError(f"outcome must be one of {CLOSING_OUTCOMES}, not {outcome!r}")
    if outcome == "ticket" and not ticket_no:
        raise HandoffError("closing with a ticket needs its ticket number")
    with engine.begin() as conn:
        current = _require(conn, handoff_id)
        if current.status == "claimed":
            _owned(conn, handoff_id, operator)
        elif current.status != "waiting":
            raise HandoffError(f"handoff {handoff_id} is already {current.status}")
        same_holder = (handoffs.c.claimed_by == operator if current.status == "claimed"
                       else handoffs.c.claimed_by.is_(None))
        done = conn.execute(update(handoffs).where(handoffs.c.id == int(handoff_id),
                                                   handoffs.c.status == current.status, same_holder)
                            .values(status="closed", outcome=outcome, closed_at=now, updated_at=now,
                                    claimed_by=current.claimed_by or operator,
                                    claimed_at=current.claimed_at or now,
                                    ticket_no=ticket_no or current.ticket_no,
                                    note=(note or "").strip() or current.note))
        if done.rowcount != 1:
            raise HandoffError(f"handoff {handoff_id} changed meanwhile")
        closed = _require(conn, handoff_id)
    log.info("handoff %s closed by %s: %s", closed.id, operator, outcome)
    return closed


def mark_callback(engine: Engine, handoff_id: int, ticket_no: str, now: datetime) -> Handoff:
    """No operator on duty: the request was filed as ticket `ticket_no` flagged for a call back; the handoff stays
    in the queue (waiting, outcome callback_ticket) until an operator calls back and closes it."""
    now = _utc(now)
    with engine.begin() as conn:
        done = conn.execute(update(handoffs).where(handoffs.c.id == int(handoff_id), handoffs.c.status == "waiting")
                            .values(outcome="callback_ticket", ticket_no=ticket_no, updated_at=now))
        if done.rowcount != 1:
            raise HandoffError(f"handoff {handoff_id} is not waiting")
        return _require(conn, handoff_id)


def cancel(engine: Engine, conversation_id: str, now: datetime) -> Optional[Handoff]:
    """The citizen stopped waiting: their live wait is cancelled. None when they had none (not waiting, or an
    operator has already taken it)."""
    now = _utc(now)
    with engine.begin() as conn:
        current = _one(conn, handoffs.c.conversation_id == conversation_id, _LIVE)
        if current is None:
            return None
        done = conn.execute(update(handoffs).where(handoffs.c.id == current.id, _LIVE)
                            .values(status="cancelled", outcome="cancelled", closed_at=now, updated_at=now))
        if done.rowcount != 1:
            return None
        cancelled = _require(conn, current.id)
    log.info("handoff %s cancelled by the citizen", cancelled.id)
    return cancelled


def touch(engine: Engine, handoff_id: int, now: datetime) -> None:
    """The waiting citizen said something: still there (``updated_at``, which :func:`mark_abandoned` reads)."""
    with engine.begin() as conn:
        conn.execute(update(handoffs).where(handoffs.c.id == int(handoff_id), _LIVE).values(updated_at=_utc(now)))


def mark_abandoned(engine: Engine, older_than: timedelta, now: datetime) -> int:
    """Live waits with no sign of the citizen (opened, or their last message while waiting, see :func:`touch`)
    for more than `older_than`: the citizen is gone. Returns how many."""
    now = _utc(now)
    with engine.begin() as conn:
        done = conn.execute(update(handoffs).where(_LIVE, handoffs.c.updated_at < now - older_than)
                            .values(status="abandoned", outcome="abandoned", closed_at=now, updated_at=now))
    if done.rowcount:
        log.info("%d waiting handoffs abandoned", done.rowcount)
    return int(done.rowcount)


def operator_seen(engine: Engine, username: str, now: datetime) -> None:
    """The operator's workspace is open (called on each page ping)."""
    username, now = _operator(username), _utc(now)
    with engine.begin() as conn:
        name = conn.dialect.name
        if name in ("postgresql", "sqlite"):
            stmt = dialect_insert(name)(operator_presence).values(username=username, seen_at=now)
            conn.execute(stmt.on_conflict_do_update(index_elements=[operator_presence.c.username],
                                                    set_={"seen_at": now}))
        else:  # pragma: no cover - other backends
            if not conn.execute(update(operator_presence).where(operator_presence.c.username == username)
                                .values(seen_at=now)).rowcount:
                conn.execute(operator_presence.insert().values(username=username, seen_at=now))


def operators_online(engine: Engine, now: datetime, window_s: int = ONLINE_WINDOW_S) -> int:
    """Operators whose workspace was seen within `window_s` seconds."""
    since = _utc(now) - timedelta(seconds=window_s)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(operator_presence)
                                .where(operator_presence.c.seen_at >= since)).scalar_one())


# -- figures ---------------------------------------------------------------------


@dataclass(frozen=True)
class HandoffStats:
    """One day (hotline local time) and channel (``all`` when not split by channel).

    conversations: distinct conversations that started that day: those with a ticket or a handoff, plus every
    conversation in Rasa's tracker events table (when it is in this database) whose first user message was that
    day. A conversation's day and channel are those of its first sign (first user message, ticket or handoff).
    handoffs: of those conversations, the ones with a handoff; contained = conversations - handoffs (finished
    without a person); containment = contained / conversations; handoff_rate = handoffs / conversations.
    reasons: handoff reasons (counts). wait p50/p90: created -> claimed seconds of the claimed handoffs opened that
    day (None when none). abandoned / cancelled / callbacks: handoffs opened that day that ended so."""

    day: date
    channel: str
    conversations: int
    handoffs: int
    contained: int
    containment: Optional[float]
    handoff_rate: Optional[float]
    reasons: dict[str, int]
    wait_p50_s: Optional[float]
    wait_p90_s: Optional[float]
    abandoned: int
    cancelled: int
    callbacks: int


def percentile(values: list[float], q: float) -> Optional[float]:
    """Linear-interpolated percentile (q in 0..100) of `values`, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo))


def _events_channel(data: Any) -> Optional[str]:
    try:
        event = json.loads(data) if isinstance(data, str) else (data or {})
    except ValueError:
        return None
    channel = (event.get("metadata") or {}).get("channel") or event.get("input_channel")
    return INPUT_CHANNEL_NAMES.get(channel, channel) if channel else None


def _tracker_conversations(conn: Connection, start: datetime, end: datetime) -> dict[str, tuple[datetime, str]]:
    """conversation -> (first user message time, channel) from Rasa's events table, when present."""
    if not inspect(conn).has_table(RASA_EVENTS):
        return {}
    events = Table(RASA_EVENTS, MetaData(), autoload_with=conn)
    first = (select(events.c.sender_id, func.min(events.c.id).label("first_id"))
             .where(events.c.type_name == "user", events.c.timestamp >= start.timestamp(),
                    events.c.timestamp < end.timestamp())
             .group_by(events.c.sender_id).subquery())
    found = {}
    for row in conn.execute(select(events.c.sender_id, events.c.timestamp, events.c.data)
                            .join(first, events.c.id == first.c.first_id)):
        when = datetime.fromtimestamp(float(row.timestamp), timezone.utc)
        found[row.sender_id] = (when, _events_channel(row.data) or "rest")
    return found


def stats(engine: Engine, start: datetime, end: datetime, tz: str = DEFAULT_TIMEZONE,
          by_channel: bool = True) -> list[HandoffStats]:
    """Bot containment and handoff figures per day and channel for conversations started in [start, end)."""
    start, end, zone = _utc(start), _utc(end), ZoneInfo(tz)
    first_sign: dict[str, tuple[datetime, str]] = {}

    def seen(conversation: str, when: datetime, channel: str) -> None:
        if conversation not in first_sign or when < first_sign[conversation][0]:
            first_sign[conversation] = (when, channel)

    with engine.connect() as conn:
        for row in conn.execute(select(tickets.c.conversation_id, tickets.c.created_at, tickets.c.channel)
                                .where(tickets.c.created_at >= start, tickets.c.created_at < end)):
            if not row.conversation_id.startswith("erased-"):
                seen(row.conversation_id, row.created_at, row.channel)
        rows = conn.execute(select(handoffs).where(handoffs.c.created_at >= start, handoffs.c.created_at < end)
                            .order_by(handoffs.c.created_at)).all()
        handed = [Handoff.from_row(r) for r in rows]
        for h in handed:
            seen(h.conversation_id, h.created_at, h.channel)
        for conversation, (when, channel) in _tracker_conversations(conn, start, end).items():
            known = first_sign.get(conversation)
            seen(conversation, when, known[1] if known else channel)  # our own channel name wins

    def key(conversation: str) -> tuple[date, str]:
        when, channel = first_sign[conversation]
        return when.astimezone(zone).date(), (channel if by_channel else "all")

    conversations: dict[tuple[date, str], set[str]] = defaultdict(set)
    for conversation in first_sign:
        conversations[key(conversation)].add(conversation)
    with_handoff: dict[tuple[date, str], set[str]] = defaultdict(set)
    reasons: dict[tuple[date, str], Counter] = defaultdict(Counter)
    waits: dict[tuple[date, str], list[float]] = defaultdict(list)
    ended: dict[tuple[date, str], Counter] = defaultdict(Counter)
    for h in handed:
        k = key(h.conversation_id)
        with_handoff[k].add(h.conversation_id)
        reasons[k][h.reason] += 1
        if h.claimed_at is not None:
            waits[k].append(max(0.0, (h.claimed_at - h.created_at).total_seconds()))
        if h.outcome:
            ended[k][h.outcome] += 1
    found = []
    for k in sorted(conversations):
        total, handed_off = len(conversations[k]), len(with_handoff[k])
        found.append(HandoffStats(
            day=k[0], channel=k[1], conversations=total, handoffs=handed_off, contained=total - handed_off,
            containment=(total - handed_off) / total if total else None,
            handoff_rate=handed_off / total if total else None, reasons=dict(reasons[k]),
            wait_p50_s=percentile(waits[k], 50), wait_p90_s=percentile(waits[k], 90),
            abandoned=ended[k]["abandoned"], cancelled=ended[k]["cancelled"], callbacks=ended[k]["callback_ticket"]))
    return found


__all__ = [
    "CLOSING_OUTCOMES", "DEFAULT_HANDLING_S", "HANDOFF_OUTCOMES", "Handoff", "HandoffError", "HandoffStats",
    "by_call", "cancel", "claim", "close", "estimated_wait_s", "get", "list_open", "mark_abandoned",
    "mark_callback", "mean_handling_s", "open_for", "open_handoff", "operator_seen", "operators_online",
    "percentile", "queue_position", "release", "stats", "touch",
]
