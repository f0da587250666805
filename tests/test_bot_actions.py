"""Custom actions run as the action server runs them: Tracker.from_dict + CollectingDispatcher, real store."""
from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from bot import runtime
from bot.actions.escalation import ActionEmergency, ActionFallback, ActionHandoff
from bot.actions.intake_form import ActionAskConfirmed, ValidateTicketForm
from bot.actions.status import ActionTicketStatus, ValidateStatusForm
from bot.actions.submit import ActionCancelRequest, ActionSubmitTicket
from ground.store import TicketDraft
from ground.tables.tickets import handoffs as handoffs_table
from ground.tables.tickets import tickets as tickets_table

DOMAIN: dict[str, Any] = {"forms": {"ticket_form": {"required_slots": []}}, "slots": {}}

CONFIRMED = {
    "request_key": "req-1", "request_type": "complaint", "description": "工地每天晚上十一点以后还在施工",
    "category": "噪音扰民", "district": "朝阳区", "street": "望京街道", "address": "望京西园三区",
    "phone": "13911112222", "contact_name": "王先生", "confidential": True, "confirmed": True,
}


def tracker(slots: dict | None = None, text: str = "", intent: str = "inform", sender: str = "conv-1",
            channel: str = "rest", active_loop: str | None = None, events: list | None = None,
            metadata: dict | None = None) -> Tracker:
    return Tracker.from_dict({
        "sender_id": sender,
        "slots": slots or {},
        "latest_message": {"text": text, "intent": {"name": intent, "confidence": 0.9},
                           "intent_ranking": [{"name": intent, "confidence": 0.9}], "entities": [],
                           "metadata": metadata or {}},
        "latest_input_channel": channel,
        "events": events or [],
        "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action_name": "action_listen",
    })


@pytest.fixture
def store(ticket_store):
    runtime.reset_ticket_store(ticket_store)
    yield ticket_store
    runtime.reset_ticket_store(None)


def count(store, table) -> int:
    with store_engine(store).connect() as c:
        return c.execute(select(func.count()).select_from(table)).scalar()


def store_engine(store):
    return getattr(store, "engine", None) or getattr(store, "_engine")


def ends_loop(events: list[dict]) -> bool:
    return any(e.get("event") == "active_loop" and e.get("name") is None for e in events)


def slot_events(events: list[dict]) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def test_submit_writes_one_ticket_and_tells_its_number(store):
    d = CollectingDispatcher()
    events = await ActionSubmitTicket().run(d, tracker(CONFIRMED, "对"), DOMAIN)
    ticket_no = slot_events(events)["ticket_no"]
    t = store.get(ticket_no)
    assert (t.request_type, t.district, t.street, t.phone, t.confidential) == ("complaint", "朝阳区", "望京街道", "13911112222", True)
    assert t.conversation_id == "conv-1" and t.channel == "rest" and t.status == "new"
    assert t.assigned_unit == "street.朝阳区.望京街道"
    assert ticket_no in d.messages[0]["text"] and "？" not in d.messages[0]["text"]
    assert "保密" in d.messages[0]["text"]
    # the form slots are cleared for the next request
    assert slot_events(events)["confirmed"] is None and slot_events(events)["request_key"] is None
    # a retried action (same conversation and request) does not make a second ticket
    d2 = CollectingDispatcher()
    events2 = await ActionSubmitTicket().run(d2, tracker(CONFIRMED, "对"), DOMAIN)
    assert slot_events(events2)["ticket_no"] == ticket_no
    assert count(store, tickets_table) == 1


async def test_voice_metadata_sets_the_channel(store):
    events = await ActionSubmitTicket().run(CollectingDispatcher(), tracker(CONFIRMED, metadata={"channel": "voice"}), DOMAIN)
    assert store.get(slot_events(events)["ticket_no"]).channel == "voice"


async def test_nothing_is_filed_without_confirmation(store):
    for slots in ({**CONFIRMED, "confirmed": None}, {**CONFIRMED, "confirmed": None, "end_reason": "outside_beijing"}):
        d = CollectingDispatcher()
        await ActionSubmitTicket().run(d, tracker(slots), DOMAIN)
        assert d.messages == []
    assert count(store, tickets_table) == 0


async def test_cancel_clears_the_request(store):
    d = CollectingDispatcher()
    events = await ActionCancelRequest().run(d, tracker({**CONFIRMED, "confirmed": None}, "算了", "cancel"), DOMAIN)
    assert ends_loop(events)
    assert slot_events(events)["phone"] is None
    assert d.messages[0]["response"] == "utter_cancelled"
    assert count(store, tickets_table) == 0


async def test_readback_groups_the_phone_and_asks_for_confirmation():
    d = CollectingDispatcher()
    await ActionAskConfirmed().run(d, tracker({**CONFIRMED, "confirmed": None}), DOMAIN)
    text = d.messages[0]["text"]
    assert "139 1111 2222" in text and "朝阳区望京街道望京西园三区" in text and text.endswith("以上信息是否正确？")
    assert "王先生" in text and "个人信息保密" in text


async def test_validation_fills_several_slots_and_requests_the_next():
    d = CollectingDispatcher()
    t = tracker({}, "我是西城区什刹海街道的，电话13612345678，胡同里的垃圾三天没人清运了", "complain", active_loop="ticket_form")
    events = await ValidateTicketForm().run(d, t, DOMAIN)
    s = slot_events(events)
    assert (s["district"], s["street"], s["phone"], s["request_type"]) == ("西城区", "什刹海街道", "13612345678", "complaint")
    assert s["requested_slot"] == "address"


async def test_validation_rejects_interruptions_so_rules_answer_them():
    t = tracker({"request_key": "k", "request_type": "complaint", "description": "噪音", "category": "噪音扰民",
                 "requested_slot": "district"}, "转人工", "human_handoff", active_loop="ticket_form")
    assert await ValidateTicketForm().run(CollectingDispatcher(), t, DOMAIN) == []


async def test_handoff_is_recorded_with_what_was_collected(store):
    d = CollectingDispatcher()
    slots = {"request_key": "k", "request_type": "complaint", "description": "物业乱收费", "phone": "13911112222"}
    events = await ActionHandoff().run(d, tracker(slots, "转人工", "human_handoff", sender="conv-h"), DOMAIN)
    assert d.messages[0]["text"].startswith("正在为您转接人工客服")  # a chat waits in the queue (issue 16)
    assert ends_loop(events) and slot_events(events)["handoff_id"]
    with store_engine(store).connect() as c:
        row = c.execute(select(handoffs_table)).mappings().one()
    assert row["conversation_id"] == "conv-h" and row["collected"]["description"] == "物业乱收费"


async def test_emergency_names_the_right_number_and_files_nothing(store):
    for text, number in (("楼道里着火了", "119"), ("有人晕倒了没有呼吸", "120"), ("有人拿着刀在打人", "110"), ("厨房煤气泄漏了", "119")):
        d = CollectingDispatcher()
        await ActionEmergency().run(d, tracker({}, text, "emergency"), DOMAIN)
        assert number in d.messages[0]["text"], text
    assert count(store, tickets_table) == 0


async def test_second_misunderstanding_in_a_row_hands_over(store):
    fallback = {"event": "user", "text": "呜啦啦", "parse_data": {"intent": {"name": "nlu_fallback"}}}
    ok = {"event": "user", "text": "你好", "parse_data": {"intent": {"name": "greet"}}}
    d = CollectingDispatcher()
    await ActionFallback().run(d, tracker(events=[ok, fallback], intent="nlu_fallback"), DOMAIN)
    assert d.messages[0]["response"] == "utter_not_understood"
    d = CollectingDispatcher()
    await ActionFallback().run(d, tracker(events=[fallback, fallback], intent="nlu_fallback", sender="conv-f"), DOMAIN)
    assert d.messages[0]["text"].startswith("正在为您转接人工客服")
    assert count(store, handoffs_table) == 1


async def test_status_query_needs_the_matching_phone(store):
    ticket = store.create_ticket(TicketDraft(request_type="help", description="路灯坏了", conversation_id="c", request_key="r",
                                             category="市政设施", district="海淀区", phone="13800138000"))
    v = ValidateStatusForm()
    spoken_no = " ".join(ticket.ticket_no.replace("-", ""))
    events = await v.run(CollectingDispatcher(), tracker({"requested_slot": "status_ticket_no"}, spoken_no), DOMAIN)
    assert slot_events(events)["status_ticket_no"] == ticket.ticket_no
    d = CollectingDispatcher()
    await ActionTicketStatus().run(d, tracker({"status_ticket_no": ticket.ticket_no, "status_phone": "13900000000"}), DOMAIN)
    assert "没有查到" in d.messages[0]["text"] and "路灯" not in d.messages[0]["text"]
    d = CollectingDispatcher()
    await ActionTicketStatus().run(d, tracker({"status_ticket_no": ticket.ticket_no, "status_phone": "13800138000"}), DOMAIN)
    assert ticket.ticket_no in d.messages[0]["text"] and "等待派单" in d.messages[0]["text"]


async def test_an_unsure_message_that_describes_something_starts_the_form(store):
    text = "上回打你们12345说路灯不亮，第二天就有人来修好了，特地打过来说声谢谢"
    events = await ActionFallback().run(CollectingDispatcher(), tracker({}, text, "nlu_fallback"), DOMAIN)
    assert {"event": "followup", "name": "ticket_form"}.items() <= events[0].items()
