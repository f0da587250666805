"""TicketStore: creation, idempotency, lookups, status changes, handoffs."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from ground.store import (
    InvalidTicketData,
    InvalidTransition,
    TicketDraft,
    TicketNotFound,
    TicketStore,
    TicketStoreError,
)
from ground.tables.tickets import HandoffModel, TicketModel
from tests.calendar_support import beijing_day

SHANGHAI = ZoneInfo("Asia/Shanghai")
PHONE = "13912342222"


def draft(key: str = "r1", conversation: str = "conv-1", **kw) -> TicketDraft:
    values = dict(
        request_type="complaint",
        description="小区门口夜间施工噪音扰民",
        conversation_id=conversation,
        request_key=key,
        category="噪音扰民",
        district="朝阳区",
        street="望京街道",
        address="望京西园三区",
        contact_name="王五",
        phone="139-1234-2222",
        channel="web",
    )
    values.update(kw)
    return TicketDraft(**values)


class FixedClock:
    """A settable clock for the store."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_create_ticket_stores_normalised_fields_and_creation_event(ticket_store: TicketStore, calendar_now) -> None:
    ticket = ticket_store.create_ticket(draft(occurred_at=datetime(2026, 11, 25, 22, 30)))
    # numbered by the Beijing day, which at 00:01 is already the next day in UTC terms
    assert ticket.ticket_no == f"{beijing_day(calendar_now)}-000001"
    assert ticket.status == "new"
    assert ticket.phone == PHONE
    assert ticket.confidential is False
    assert ticket.channel == "web"
    assert ticket.created_at.tzinfo is not None and ticket.created_at.utcoffset() == timedelta(0)
    # naive occurred_at is hotline local time, stored as UTC
    assert ticket.occurred_at == datetime(2026, 11, 25, 14, 30, tzinfo=timezone.utc)

    stored = ticket_store.get(ticket.ticket_no)
    assert stored == ticket
    assert stored.occurred_at == datetime(2026, 11, 25, 14, 30, tzinfo=timezone.utc)

    [event] = ticket_store.events(ticket.ticket_no)
    assert (event.from_status, event.to_status, event.actor) == (None, "new", "bot")
    assert event.ticket_id == ticket.id


def test_ticket_numbers_follow_the_shanghai_day(ticket_store: TicketStore) -> None:
    clock = FixedClock(datetime(2026, 11, 25, 15, 59, 59, tzinfo=timezone.utc))
    store = TicketStore(ticket_store.engine, clock=clock)
    assert store.create_ticket(draft("a")).ticket_no == "20261125-000001"
    assert store.create_ticket(draft("b")).ticket_no == "20261125-000002"
    clock.now = datetime(2026, 11, 25, 16, 0, 0, tzinfo=timezone.utc)  # 00:00 in Beijing
    assert store.create_ticket(draft("c")).ticket_no == "20261126-000001"
    assert store.create_ticket(draft("d")).ticket_no == "20261126-000002"


def test_empty_description_is_stored_not_refused(ticket_store: TicketStore) -> None:
    # the citizen already confirmed; losing the request would be worse than a blank description
    assert ticket_store.create_ticket(draft(description="  ")).description == ""


def test_sequential_retry_returns_the_same_ticket(ticket_store: TicketStore) -> None:
    first = ticket_store.create_ticket(draft("same"))
    again = ticket_store.create_ticket(draft("same", description="重复提交"))
    assert again == first
    other_conversation = ticket_store.create_ticket(draft("same", conversation="conv-2"))
    assert other_conversation.ticket_no != first.ticket_no
    with ticket_store.engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(TicketModel).where(TicketModel.request_key == "same")
        ).scalar_one()
    assert count == 2
    assert len(ticket_store.events(first.ticket_no)) == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"request_type": "gossip"},
        {"conversation_id": ""},
        {"request_key": ""},
        {"channel": ""},
    ],
)
def test_invalid_drafts_are_rejected(ticket_store: TicketStore, changes: dict) -> None:
    with pytest.raises(InvalidTicketData) as info:
        ticket_store.create_ticket(draft(**changes))
    assert isinstance(info.value, ValueError)
    assert ticket_store.list_tickets() == []


def test_status_lifecycle_writes_events(ticket_store: TicketStore) -> None:
    ticket = ticket_store.create_ticket(draft())
    no = ticket.ticket_no
    dispatched = ticket_store.change_status(no, "dispatched", "agent-7", assigned_unit="gov.朝阳区")
    assert (dispatched.status, dispatched.assigned_unit) == ("dispatched", "gov.朝阳区")
    assert ticket_store.change_status(no, "in_progress", "gov.朝阳区").status == "in_progress"
    closed = ticket_store.change_status(no, "closed", "gov.朝阳区", note="已协调施工方停工")
    assert closed.closed_at is not None and closed.closed_at.tzinfo is not None
    assert closed.updated_at >= ticket.updated_at
    reopened = ticket_store.change_status(no, "in_progress", "agent-7", note="市民不满意")
    assert reopened.status == "in_progress" and reopened.closed_at is None
    events = ticket_store.events(no)
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, "new"),
        ("new", "dispatched"),
        ("dispatched", "in_progress"),
        ("in_progress", "closed"),
        ("closed", "in_progress"),
    ]
    assert events[3].note == "已协调施工方停工"
    assert events[1].actor == "agent-7" and events[1].assigned_unit == "gov.朝阳区"


@pytest.mark.parametrize("to_status", ["closed"])
def test_new_and_dispatched_may_close_directly(ticket_store: TicketStore, to_status: str) -> None:
    a = ticket_store.create_ticket(draft("a"))
    assert ticket_store.change_status(a.ticket_no, to_status, "agent").status == "closed"
    b = ticket_store.create_ticket(draft("b", assigned_unit="muni.ecology"))
    ticket_store.change_status(b.ticket_no, "dispatched", "agent")
    assert ticket_store.change_status(b.ticket_no, to_status, "agent").status == "closed"


@pytest.mark.parametrize(
    "path, bad",
    [
        ([], "in_progress"),
        ([], "new"),
        ([("dispatched", "gov.朝阳区")], "new"),
        ([("dispatched", "gov.朝阳区")], "dispatched"),
        ([("dispatched", "gov.朝阳区"), ("in_progress", None)], "dispatched"),
        ([("closed", None)], "dispatched"),
        ([("closed", None)], "new"),
    ],
)
def test_bad_transitions_raise_and_change_nothing(ticket_store: TicketStore, path: list, bad: str) -> None:
    no = ticket_store.create_ticket(draft()).ticket_no
    for status, unit in path:
        ticket_store.change_status(no, status, "agent", assigned_unit=unit)
    before = ticket_store.get(no)
    with pytest.raises(InvalidTransition) as info:
        ticket_store.change_status(no, bad, "agent")
    assert isinstance(info.value, ValueError)
    assert ticket_store.get(no) == before
    assert len(ticket_store.events(no)) == len(path) + 1


def test_change_status_errors(ticket_store: TicketStore) -> None:
    no = ticket_store.create_ticket(draft()).ticket_no
    with pytest.raises(TicketNotFound):
        ticket_store.change_status("20000101-000001", "closed", "agent")
    with pytest.raises(TicketNotFound):
        ticket_store.change_status("not-a-number", "closed", "agent")
    with pytest.raises(InvalidTicketData):
        ticket_store.change_status(no, "archived", "agent")
    with pytest.raises(InvalidTicketData, match="assigned_unit"):
        ticket_store.change_status(no, "dispatched", "agent")
    with pytest.raises(TicketNotFound):
        ticket_store.events("20000101-000001")
    assert issubclass(TicketNotFound, TicketStoreError) and issubclass(TicketStoreError, ValueError)


def test_find_for_citizen_requires_the_matching_phone(ticket_store: TicketStore) -> None:
    ticket = ticket_store.create_ticket(draft())
    no = ticket.ticket_no
    assert ticket_store.find_for_citizen(no, PHONE) == ticket
    assert ticket_store.find_for_citizen(no, "139 1234 2222") == ticket
    assert ticket_store.find_for_citizen(no, "+86 139-1234-2222") == ticket
    assert ticket_store.find_for_citizen(no.replace("-", ""), PHONE) == ticket  # spoken form
    assert ticket_store.find_for_citizen(no, "13912342223") is None
    assert ticket_store.find_for_citizen(no, "") is None
    assert ticket_store.find_for_citizen("20000101-000001", PHONE) is None
    anonymous = ticket_store.create_ticket(draft("anon", phone=None, contact_name=None))
    assert anonymous.phone is None
    assert ticket_store.find_for_citizen(anonymous.ticket_no, "") is None
    assert ticket_store.find_for_citizen(anonymous.ticket_no, PHONE) is None


def test_personal_data_is_masked_in_logs_and_repr(ticket_store: TicketStore, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    ticket = ticket_store.create_ticket(draft(confidential=True))
    ticket_store.find_for_citizen(ticket.ticket_no, "13900000000")
    masked = ticket.masked()
    assert masked["phone"] == "139****2222"
    assert masked["contact_name"] == "王*"
    assert masked["confidential"] is True
    assert "description" not in masked and "address" not in masked
    for text in (caplog.text, repr(ticket), repr(draft()), str(masked)):
        assert PHONE not in text and "王五" not in text and "望京西园" not in text
    assert "139****2222" in caplog.text


def test_list_tickets_newest_first_with_filters(ticket_store: TicketStore) -> None:
    clock = FixedClock(datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc))
    store = TicketStore(ticket_store.engine, clock=clock)
    numbers = []
    for i in range(5):
        clock.now += timedelta(minutes=1)
        numbers.append(store.create_ticket(draft(f"k{i}")).ticket_no)
    store.change_status(numbers[1], "closed", "agent")
    store.change_status(numbers[3], "closed", "agent")
    assert [t.ticket_no for t in store.list_tickets()] == numbers[::-1]
    assert [t.ticket_no for t in store.list_tickets(limit=2, offset=1)] == [numbers[3], numbers[2]]
    assert [t.ticket_no for t in store.list_tickets(status="closed")] == [numbers[3], numbers[1]]
    assert [t.ticket_no for t in store.list_tickets(status="new")] == [numbers[4], numbers[2], numbers[0]]
    with pytest.raises(InvalidTicketData):
        store.list_tickets(status="bogus")
    with pytest.raises(InvalidTicketData):
        store.list_tickets(limit=0)


def test_record_handoff(ticket_store: TicketStore) -> None:
    collected = {"district": "海淀区", "occurred_at": datetime(2026, 11, 26, 9, 0), "tags": {"噪音"}}
    handoff_id = ticket_store.record_handoff("conv-9", "user_asked_for_agent", collected, "voice")
    assert isinstance(handoff_id, int)
    with ticket_store.engine.connect() as conn:
        row = conn.execute(select(HandoffModel.__table__).where(HandoffModel.id == handoff_id)).one()
    assert row.conversation_id == "conv-9" and row.channel == "voice"
    assert row.collected == {"district": "海淀区", "occurred_at": "2026-11-26T09:00:00", "tags": ["噪音"]}
    assert row.created_at.tzinfo is not None
    with pytest.raises(InvalidTicketData):
        ticket_store.record_handoff("", "reason", {}, "voice")


def test_assign_keeps_the_status_and_audits_old_and_new_unit(ticket_store: TicketStore) -> None:
    number = ticket_store.create_ticket(draft("a1", assigned_unit="望京街道办事处")).ticket_no
    ticket_store.change_status(number, "dispatched", "op")
    ticket = ticket_store.assign(number, "朝阳区城管执法局", "op2", "属城管")
    assert (ticket.status, ticket.assigned_unit) == ("dispatched", "朝阳区城管执法局")
    event = ticket_store.events(number)[-1]
    assert (event.actor, event.from_status, event.to_status) == ("op2", "dispatched", "dispatched")
    assert event.assigned_unit == "朝阳区城管执法局"
    assert event.note == "改派：望京街道办事处 → 朝阳区城管执法局；属城管"
    with pytest.raises(InvalidTicketData):
        ticket_store.assign(number, "朝阳区城管执法局", "op2")  # already there: no empty event
    with pytest.raises(InvalidTicketData):
        ticket_store.assign(number, " ", "op2")
    with pytest.raises(TicketNotFound):
        ticket_store.assign("20260101-9999", "x", "op2")
    assert len(ticket_store.events(number)) == 3


def test_request_reopen_audits_without_changing_the_ticket(ticket_store: TicketStore) -> None:
    number = ticket_store.create_ticket(draft("r9")).ticket_no
    ticket_store.change_status(number, "closed", "op")
    before = ticket_store.get(number)
    ticket_store.request_reopen(number, "没人来处理")
    after = ticket_store.get(number)
    assert (after.status, after.closed_at, after.assigned_unit) == (before.status, before.closed_at, before.assigned_unit)
    event = ticket_store.events(number)[-1]
    assert (event.actor, event.from_status, event.to_status) == ("survey", "closed", "closed")
    assert event.note.endswith(": 没人来处理") and "reopen" in event.note
    with pytest.raises(TicketNotFound):
        ticket_store.request_reopen("20260101-9999", "x")


def test_extra_round_trips_and_none_is_sql_null(ticket_store: TicketStore) -> None:
    with_extra = ticket_store.create_ticket(draft("x1", extra={"nlu": {"intent": "complain", "confidence": 0.93}}))
    assert ticket_store.get(with_extra.ticket_no).extra == {"nlu": {"intent": "complain", "confidence": 0.93}}
    without = ticket_store.create_ticket(draft("x2"))
    assert without.extra is None
    with ticket_store.engine.connect() as conn:
        nulls = conn.execute(
            select(func.count()).select_from(TicketModel).where(TicketModel.extra.is_(None))
        ).scalar_one()
    assert nulls == 1
