"""Asking for a person at every step, waiting in the queue, cancelling, nobody on duty (issue 16).

Plain functions (words, the intake form's decision at every requested slot, texts, service hours) and the custom
actions run as the action server runs them, on the real store."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from bot import handoff as texts
from bot import runtime
from bot.actions.escalation import ActionFallback, ActionHandoff
from bot.actions.intake_form import ValidateTicketForm
from bot.actions.status import ValidateStatusForm
from bot.actions.waiting import ActionHandoffWait
from bot.intake import FORM_SLOTS, Turn, step
from ground.service_hours import ServiceHours
from ground.store import handoffs
from ground.tables.tickets import tickets as tickets_table
from nlu.handoff_words import asks_for_person, wants_to_stop_waiting
from tests.test_bot_actions import DOMAIN, slot_events, store_engine, tracker

ASKS = ("转人工", "人工", "找客服", "我要跟人说", "人工服务", "我要找客服", "给我转人工", "有没有真人啊", "接线员呢",
        "我不跟机器说，换个人", "请转人工坐席", "人工人工", "我想和工作人员直接沟通")
NOT_ASKS = ("我要投诉，小区物业乱收停车费", "房屋物业", "交通出行", "朝阳区", "13912345678", "是的", "不对",
            "人工湖的水很臭", "装修的人工费怎么算", "快递公司的客服不接电话", "我要投诉你们的人工客服态度不好",
            "物业说要派人来修但一直没来", "我跟物业工作人员说了好几次都不管", "王", "不用了")


@pytest.mark.parametrize("text", ASKS)
def test_requests_for_a_person(text: str) -> None:
    assert asks_for_person(text)


@pytest.mark.parametrize("text", NOT_ASKS)
def test_not_requests_for_a_person(text: str) -> None:
    assert not asks_for_person(text)


def test_stop_waiting_words() -> None:
    for text in ("取消", "不等了", "算了", "不用了，谢谢", "别转了"):
        assert wants_to_stop_waiting(text), text
    for text in ("转人工", "还要等多久", "好的", "我再补充一下，停车费每月三百"):
        assert not wants_to_stop_waiting(text), text


# every state of the intake form: the slot asked for, with what was collected before it
FORM_STATES = {
    "request_type": {},
    "description": {"request_type": "complaint"},
    "category": {"request_type": "complaint", "description": "小区物业乱收停车费",
                 "category_choices": ["房屋物业", "交通出行"]},
    "district": {"request_type": "complaint", "description": "小区物业乱收停车费", "category": "房屋物业"},
    "street": {"request_type": "complaint", "description": "小区物业乱收停车费", "category": "房屋物业",
               "district": "朝阳区"},
    "address": {"request_type": "complaint", "description": "小区物业乱收停车费", "category": "房屋物业",
                "district": "朝阳区"},
    "occurred_at": {"request_type": "complaint", "description": "工地夜间施工", "category": "噪音扰民",
                    "district": "朝阳区", "address": "望京西园"},
    "phone": {"request_type": "complaint", "description": "小区物业乱收停车费", "category": "房屋物业",
              "district": "朝阳区", "address": "望京西园"},
    "contact_name": {"request_type": "complaint", "description": "小区物业乱收停车费", "category": "房屋物业",
                     "district": "朝阳区", "address": "望京西园", "phone": "13912345678"},
    "confidential": {"request_type": "complaint", "description": "小区物业乱收停车费", "category": "房屋物业",
                     "district": "朝阳区", "address": "望京西园", "phone": "13912345678", "contact_name": "王先生"},
    "confirmed": {"request_type": "complaint", "description": "小区物业乱收停车费", "category": "房屋物业",
                  "district": "朝阳区", "address": "望京西园", "phone": "13912345678", "contact_name": "王先生",
                  "confidential": False},
}


def test_every_form_slot_is_covered() -> None:
    assert set(FORM_STATES) == set(FORM_SLOTS)


@pytest.mark.parametrize("slot", sorted(FORM_STATES))
@pytest.mark.parametrize("text", ("转人工", "人工", "找客服", "我要跟人说"))
def test_a_request_for_a_person_is_never_a_slot_value(slot: str, text: str) -> None:
    slots = {"request_key": "k", **FORM_STATES[slot]}
    for intent in ("human_handoff", "inform"):  # also when the statistical intent got it wrong
        out = step(slots, Turn(text=text, intent=intent, requested_slot=slot, now=datetime.now()))
        assert out.reject and not out.changes, (slot, text, intent)
    # a correction pending after "不对" is a state of its own
    pending = {**slots, "correction_pending": True} if slot == "confirmed" else slots
    assert step(pending, Turn(text=text, intent="human_handoff", requested_slot=slot)).reject


def test_the_issue_category_question_hands_off() -> None:
    """Issue 16: '转人工' after '您反映的问题属于哪一类：房屋物业，还是交通出行？' was taken as the category."""
    slots = {"request_key": "k", **FORM_STATES["category"]}
    assert step(slots, Turn(text="转人工", intent="human_handoff", requested_slot="category")).reject
    assert step(slots, Turn(text="房屋物业", intent="inform", requested_slot="category")).changes["category"]


async def test_validation_rejects_a_request_for_a_person_at_every_slot() -> None:
    for slot, collected in FORM_STATES.items():
        t = tracker({"request_key": "k", **collected, "requested_slot": slot}, "找客服", "human_handoff",
                    active_loop="ticket_form")
        assert await ValidateTicketForm().run(CollectingDispatcher(), t, DOMAIN) == [], slot


async def test_status_form_leaves_a_request_for_a_person_to_the_rules() -> None:
    for slot in ("status_ticket_no", "status_phone"):
        t = tracker({"requested_slot": slot}, "转人工", "human_handoff", active_loop="status_form")
        assert await ValidateStatusForm().run(CollectingDispatcher(), t, DOMAIN) == []


def test_texts() -> None:
    assert texts.waiting_message(2, 170) == ("正在为您转接人工客服，前面还有2位，预计等待3分钟。"
                                             "您可以继续描述问题，或说“取消”结束等待。")
    assert "您是下一位，预计等待1分钟" in texts.waiting_message(0, 10)
    assert texts.waiting_ack(1, 360).startswith("已记下，人工客服接入后会看到。前面还有1位，预计等待6分钟。")
    assert texts.after_hours("08:00到20:00", ("phone",)).endswith("请留下您的联系电话。")


def test_wait_turn() -> None:
    assert texts.wait_turn("不等了", "inform", {}, collecting=False).cancel
    assert texts.wait_turn("取消", "cancel", {}, collecting=True).cancel
    kept = texts.wait_turn("停车费一个月收三百", "inform", {}, collecting=False)
    assert not kept.cancel and kept.changes == {}
    filled = texts.wait_turn("小区物业乱收停车费，电话13912345678", "complain", {}, collecting=True)
    assert filled.changes["phone"] == "13912345678" and "停车费" in filled.changes["description"]


def test_service_hours() -> None:
    hours = ServiceHours.parse("08:00-20:00")
    beijing = timezone(timedelta(hours=8))
    assert hours.on_duty(datetime(2026, 12, 3, 8, 0, tzinfo=beijing))
    assert not hours.on_duty(datetime(2026, 12, 3, 20, 0, tzinfo=beijing))
    assert not hours.on_duty(datetime(2026, 12, 3, 12, 30, tzinfo=timezone.utc))  # 20:30 Beijing
    night = ServiceHours.parse("22:00-06:00")
    assert night.on_duty(datetime(2026, 12, 3, 23, 0, tzinfo=beijing))
    assert not night.on_duty(datetime(2026, 12, 3, 12, 0, tzinfo=beijing))
    assert ServiceHours.parse("00:00-24:00").on_duty(datetime(2026, 12, 3, 23, 59, tzinfo=beijing))
    assert hours.spoken() == "08:00到20:00"
    for bad in ("8-20", "25:00-26:00", "08:00-24:30", ""):
        with pytest.raises(ValueError):
            ServiceHours.parse(bad)


# -- the actions, on the real store ------------------------------------------------------------------------


@pytest.fixture
def store(ticket_store, monkeypatch):
    monkeypatch.setenv("HANDOFF_HOURS", "00:00-24:00")
    runtime.reset_ticket_store(ticket_store)
    yield ticket_store
    runtime.reset_ticket_store(None)


def texts_of(d: CollectingDispatcher) -> list[str]:
    return [m["text"] for m in d.messages if m.get("text")]


async def test_handoff_tells_the_place_and_every_message_while_waiting_is_acknowledged(store) -> None:
    engine = store_engine(store)
    for i in range(2):  # two citizens already waiting
        handoffs.open_handoff(engine, f"before-{i}", "citizen asked for a human agent", {}, "web")
    d = CollectingDispatcher()
    slots = {"request_key": "k", "request_type": "complaint", "description": "小区物业乱收停车费"}
    events = await ActionHandoff().run(d, tracker(slots, "转人工", "human_handoff", sender="conv-w",
                                                  channel="socketio"), DOMAIN)
    handoff_id = slot_events(events)["handoff_id"]
    waiting = handoffs.get(engine, int(handoff_id))
    assert waiting.status == "waiting" and waiting.channel == "rest"
    assert waiting.collected["description"] == "小区物业乱收停车费"
    assert texts_of(d)[0] == ("正在为您转接人工客服，前面还有2位，预计等待9分钟。"
                              "您可以继续描述问题，或说“取消”结束等待。")
    # the earlier loop ("好的。还有其他需要帮您的吗？") is gone: each message gets the place
    for text, intent in (("好的", "affirm"), ("停车费每个月三百", "inform"), ("转人工", "human_handoff")):
        d = CollectingDispatcher()
        wait_slots = {**slots, "handoff_id": handoff_id}
        assert await ActionHandoffWait().run(d, tracker(wait_slots, text, intent, sender="conv-w"), DOMAIN) == []
        assert texts_of(d) == ["已记下，人工客服接入后会看到。前面还有2位，预计等待9分钟。说“取消”可以结束等待。"]
    handoffs.claim(engine, handoffs.list_open(engine)[0].id, "op1", datetime.now(timezone.utc))
    d = CollectingDispatcher()
    await ActionHandoffWait().run(d, tracker({"handoff_id": handoff_id}, "还要多久", "inform", sender="conv-w"), DOMAIN)
    assert "前面还有1位" in texts_of(d)[0]


async def test_cancel_while_waiting(store) -> None:
    engine = store_engine(store)
    d = CollectingDispatcher()
    events = await ActionHandoff().run(d, tracker({}, "人工", "human_handoff", sender="conv-c"), DOMAIN)
    handoff_id = slot_events(events)["handoff_id"]
    d = CollectingDispatcher()
    events = await ActionHandoffWait().run(d, tracker({"handoff_id": handoff_id}, "不等了", "inform",
                                                      sender="conv-c"), DOMAIN)
    assert texts_of(d) == [texts.CANCELLED]
    assert slot_events(events)["handoff_id"] is None
    assert handoffs.get(engine, int(handoff_id)).status == "cancelled"


async def test_a_wait_closed_elsewhere_is_forgotten(store) -> None:
    engine = store_engine(store)
    h = handoffs.open_handoff(engine, "conv-x", "citizen asked for a human agent", {}, "web")
    handoffs.mark_abandoned(engine, timedelta(0), datetime.now(timezone.utc) + timedelta(seconds=1))
    d = CollectingDispatcher()
    events = await ActionHandoffWait().run(d, tracker({"handoff_id": str(h.id)}, "在吗", "greet", sender="conv-x"),
                                           DOMAIN)
    assert texts_of(d) == [texts.GAVE_UP] and slot_events(events)["handoff_id"] is None
    handoffs.open_handoff(engine, "conv-y", "citizen asked for a human agent", {}, "web")
    closed = handoffs.open_for(engine, "conv-y")
    handoffs.claim(engine, closed.id, "op1", datetime.now(timezone.utc))
    handoffs.close(engine, closed.id, "op1", "resolved", datetime.now(timezone.utc))
    d = CollectingDispatcher()
    await ActionHandoffWait().run(d, tracker({"handoff_id": str(closed.id)}, "在吗", "greet", sender="conv-y"), DOMAIN)
    assert texts_of(d) == [texts.ENDED]


async def test_two_misunderstandings_hand_over_into_the_queue(store) -> None:
    fallback = {"event": "user", "text": "呜啦啦", "parse_data": {"intent": {"name": "nlu_fallback"}}}
    d = CollectingDispatcher()
    events = await ActionFallback().run(d, tracker(events=[fallback, fallback], intent="nlu_fallback",
                                                   sender="conv-f2"), DOMAIN)
    assert slot_events(events)["handoff_id"] and texts_of(d)[0].startswith("正在为您转接人工客服，您是下一位")


async def test_after_hours_asks_for_the_phone_then_files_a_call_back_ticket(store, monkeypatch) -> None:
    monkeypatch.setenv("HANDOFF_HOURS", "00:00-00:00")  # nobody on duty
    engine = store_engine(store)
    slots = {"request_key": "k", "request_type": "complaint", "description": "小区物业乱收停车费",
             "district": "朝阳区", "category": "房屋物业"}
    d = CollectingDispatcher()
    events = await ActionHandoff().run(d, tracker(slots, "转人工", "human_handoff", sender="conv-n",
                                                  channel="socketio"), DOMAIN)
    assert texts_of(d) == ["现在不是人工服务时间（人工客服每天00:00到00:00在线）。我先为您登记，工作人员上班后会给您回电。"
                           "请留下您的联系电话。"]
    handoff_id = slot_events(events)["handoff_id"]
    d = CollectingDispatcher()
    await ActionHandoffWait().run(d, tracker({**slots, "handoff_id": handoff_id}, "好的", "affirm",
                                             sender="conv-n"), DOMAIN)
    assert texts_of(d) == ["请留下您的联系电话。"]
    d = CollectingDispatcher()
    events = await ActionHandoffWait().run(d, tracker({**slots, "handoff_id": handoff_id}, "13912345678", "inform",
                                                      sender="conv-n", channel="socketio"), DOMAIN)
    said = texts_of(d)[0]
    assert said.startswith("已为您登记，工单编号是") and slot_events(events)["handoff_id"] is None
    with engine.connect() as conn:
        ticket = conn.execute(select(tickets_table)).mappings().one()
    assert ticket["phone"] == "13912345678" and ticket["channel"] == "rest" and ticket["extra"]["call_back"] is True
    assert ticket["request_type"] == "complaint" and ticket["ticket_no"] in said
    kept = handoffs.get(engine, int(handoff_id))
    assert (kept.status, kept.outcome, kept.ticket_no) == ("waiting", "callback_ticket", ticket["ticket_no"])
    assert kept in handoffs.list_open(engine)


async def test_after_hours_on_the_phone_files_with_the_caller_number_and_hangs_up(store, monkeypatch) -> None:
    monkeypatch.setenv("HANDOFF_HOURS", "00:00-00:00")
    engine = store_engine(store)
    d = CollectingDispatcher()
    await ActionHandoff().run(d, tracker({}, "转人工", "human_handoff", sender="call-9",
                                         metadata={"channel": "voice", "call_id": "call-9",
                                                   "caller": "13800001111"}), DOMAIN)
    assert d.messages[-1]["response"] == "utter_goodbye"
    with engine.connect() as conn:
        ticket = conn.execute(select(tickets_table)).mappings().one()
    assert ticket["phone"] == "13800001111" and ticket["channel"] == "voice"
    assert handoffs.by_call(engine, "call-9").outcome == "callback_ticket"


async def test_phone_handoff_names_the_handoff_for_the_dialplan(store) -> None:
    engine = store_engine(store)
    d = CollectingDispatcher()
    events = await ActionHandoff().run(d, tracker({}, "转人工", "human_handoff", sender="call-1",
                                                  metadata={"channel": "voice", "call_id": "call-1"}), DOMAIN)
    payload = [m["custom"] for m in d.messages if m.get("custom")][0]
    assert payload["end_call"] == "handoff" and payload["handoff_id"] == int(slot_events(events)["handoff_id"])
    assert handoffs.by_call(engine, "call-1").id == payload["handoff_id"]
    assert d.messages[0]["response"] == "utter_handoff"
