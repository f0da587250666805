"""Finding 9 (issue 13): status look-ups cannot enumerate a day's tickets for a known phone, and never
read an operator's internal note aloud.

Ticket numbers are sequential per day; with 3 tries per conversation (and a fresh conversation for each
3), anyone who knew a citizen's phone could walk the day's numbers and hear the citizen's ticket, status
and the operator's last note. Failed look-ups now count per phone in the database, across conversations.
"""
from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import runtime
from bot.actions.status import ActionTicketStatus
from ground.store import TicketDraft

PHONE = "13911112222"


@pytest.fixture
def store(ticket_store):
    runtime.reset_ticket_store(ticket_store)
    yield ticket_store
    runtime.reset_ticket_store(None)


def _file(store, n: int):
    return store.create_ticket(TicketDraft(
        request_type="complaint", description="工地每天晚上十一点以后还在施工", conversation_id=f"conv-{n}",
        request_key=f"key-{n}", category="噪音扰民", district="朝阳区", phone=PHONE, contact_name="王先生",
        assigned_unit="unit-a"))


def _ask(sender: str, ticket_no: str, phone: str) -> str:
    tracker = Tracker.from_dict({
        "sender_id": sender, "events": [], "active_loop": {}, "latest_action_name": "action_listen",
        "slots": {"status_ticket_no": ticket_no, "status_phone": phone},
        "latest_message": {"text": "", "intent": {"name": "inform", "confidence": 1.0}, "entities": []},
    })
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionTicketStatus().run(dispatcher, tracker, {}))
    return " ".join(m.get("text") or "" for m in dispatcher.messages)


def test_walking_the_days_numbers_from_fresh_conversations_is_stopped(store) -> None:
    ticket = _file(store, 1)
    day, seq = ticket.ticket_no[:8], int(ticket.ticket_no[-6:])
    wrong = [f"{day}-{seq + k:06d}" for k in range(1, 12)]  # tickets that are not this phone's
    answers = [_ask(f"attacker-{i}", number, PHONE) for i, number in enumerate(wrong)]  # one conversation each
    assert all("没有查到" in a for a in answers[:5])
    assert all("次数太多" in a for a in answers[5:])
    # The limit holds even for the right number now: a guesser learns nothing more today.
    assert "次数太多" in _ask("attacker-x", ticket.ticket_no, PHONE)
    # Another citizen's phone is not affected.
    assert "没有查到" in _ask("someone", ticket.ticket_no, "13700001111")


def test_the_operators_internal_note_is_never_read_aloud(store) -> None:
    ticket = _file(store, 2)
    store.change_status(ticket.ticket_no, "dispatched", actor="admin:li", note="内部备注：此人多次投诉，先拖着")
    said = _ask("citizen", ticket.ticket_no, PHONE)
    assert "已派发" in said
    assert "内部备注" not in said and "先拖着" not in said
