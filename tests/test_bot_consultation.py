"""Consultation actions with a real knowledge base in the test database (Tracker.from_dict + CollectingDispatcher)."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from bot import runtime
from bot.actions.consultation import (
    ActionAnswerConsultation, ActionAnswerDigression, ActionAskKbResolved, ActionKbFeedbackDone, ValidateKbFeedbackForm,
)
from ground.store import knowledge as repository
from ground.tables.knowledge import kb_answers
from tests.test_bot_actions import DOMAIN, slot_events, tracker
from tests.test_kb import SMALL


@pytest.fixture
def kb_store(ticket_store):
    repository.upsert_entries(ticket_store.engine, SMALL)
    runtime.reset_ticket_store(ticket_store)
    yield ticket_store
    runtime.reset_ticket_store(None)


async def test_answer_then_solved_counts_for_one_time_resolution(kb_store):
    d = CollectingDispatcher()
    events = await ActionAnswerConsultation().run(d, tracker({}, "我想把公积金取出来，怎么弄", "consult"), DOMAIN)
    s = slot_events(events)
    assert s["kb_state"] == "answered" and s["kb_entry"] == "gjj-1"
    assert "公积金" in d.messages[0]["text"]
    d = CollectingDispatcher()
    await ActionAskKbResolved().run(d, tracker(s), DOMAIN)
    assert d.messages[0]["response"] == "utter_ask_kb_resolved"
    events = await ValidateKbFeedbackForm().run(CollectingDispatcher(), tracker({**s, "requested_slot": "kb_resolved"}, "解决了，谢谢", "affirm"), DOMAIN)
    s.update(slot_events(events))
    assert s["kb_resolved"] is True and s["requested_slot"] is None
    events = await ActionKbFeedbackDone().run(CollectingDispatcher(), tracker(s), DOMAIN)
    assert slot_events(events)["kb_state"] == "done"
    with kb_store.engine.connect() as c:
        assert c.execute(select(kb_answers.c.resolved)).scalar_one() is True


async def test_not_solved_goes_on_to_a_consultation_ticket_with_question_and_answer(kb_store):
    events = await ActionAnswerConsultation().run(CollectingDispatcher(), tracker({}, "办居住证需要带什么", "consult"), DOMAIN)
    s = slot_events(events)
    events = await ValidateKbFeedbackForm().run(CollectingDispatcher(), tracker({**s, "requested_slot": "kb_resolved"}, "没有解决，我想登记一下让有关部门处理", "deny"), DOMAIN)
    s.update(slot_events(events))
    assert s["kb_resolved"] is False
    events = await ActionKbFeedbackDone().run(CollectingDispatcher(), tracker(s), DOMAIN)
    done = slot_events(events)
    assert done["kb_state"] == "register" and done["request_type"] == "consultation"
    assert "办居住证" in done["description"] and "已答复" in done["description"]


async def test_unknown_question_is_not_answered(kb_store):
    d = CollectingDispatcher()
    events = await ActionAnswerConsultation().run(d, tracker({}, "明天股票会涨吗", "consult"), DOMAIN)
    assert slot_events(events)["kb_state"] == "register"
    assert d.messages[0]["response"] == "utter_consultation_ticket"


async def test_long_answer_over_voice_is_split(kb_store):
    long_entry = repository.Entry("long-1", "测试", "社保卡丢了怎么办", ("社保卡丢失",),
                                  "第一步先挂失，可以在网上或者银行网点办理。第二步申请补卡，带上身份证到社保卡服务网点。第三步领取新卡，注意保管好。")
    repository.upsert_entries(kb_store.engine, [long_entry])
    d = CollectingDispatcher()
    events = await ActionAnswerConsultation().run(d, tracker({}, "社保卡丢了怎么办", "consult", metadata={"channel": "voice"}), DOMAIN)
    s = slot_events(events)
    assert s["kb_more"] and d.messages[0]["text"] != long_entry.answer
    d = CollectingDispatcher()
    await ActionAskKbResolved().run(d, tracker(s), DOMAIN)
    assert d.messages[0]["text"] == "需要我继续说吗？"
    d = CollectingDispatcher()
    await ValidateKbFeedbackForm().run(d, tracker({**s, "requested_slot": "kb_resolved"}, "好的，继续", "affirm"), DOMAIN)
    assert d.messages[0]["text"] == s["kb_more"][0]


async def test_question_during_filing_is_answered_or_noted(kb_store):
    d = CollectingDispatcher()
    await ActionAnswerDigression().run(d, tracker({"description": "楼下油烟"}, "对了，公积金怎么提取", "consult"), DOMAIN)
    assert "公积金" in d.messages[0]["text"] and "接着" in d.messages[1]["text"]
    d = CollectingDispatcher()
    events = await ActionAnswerDigression().run(d, tracker({"description": "楼下油烟"}, "你们单位几点下班", "consult"), DOMAIN)
    assert "另问" in slot_events(events)["description"]


async def test_unclear_feedback_twice_goes_on_to_a_ticket(kb_store):
    events = await ActionAnswerConsultation().run(CollectingDispatcher(), tracker({}, "办居住证需要带什么", "consult"), DOMAIN)
    s = {**slot_events(events), "requested_slot": "kb_resolved"}
    d = CollectingDispatcher()
    s.update(slot_events(await ValidateKbFeedbackForm().run(d, tracker(s, "办居住证需要带什么", "consult"), DOMAIN)))
    assert "解决了，还是没有解决" in d.messages[0]["text"]  # the same question again is not answered twice
    s.update(slot_events(await ValidateKbFeedbackForm().run(CollectingDispatcher(), tracker(s, "嗯那个", "inform"), DOMAIN)))
    assert s["kb_state"] == "register" and s["kb_resolved"] is False and s["requested_slot"] is None
