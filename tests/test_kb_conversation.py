"""Trust and conversation around knowledge-base answers, with a real knowledge base in the test database:
clarifications share the question's key entity, answers name their source, follow-ups stay on the
answered entry's topic, "不对" offers the next candidate once and then a ticket, and every consultation
(clarifications too) counts in the one-time resolution rate."""
from __future__ import annotations

from datetime import date

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from bot import runtime
from bot.actions.consultation import (
    ActionAnswerConsultation, ActionAskKbResolved, ActionKbFeedbackDone, ValidateKbFeedbackForm,
)
from bot.followup import last_answered, said_wrong_answer
from ground.store import knowledge as repository
from nlu.kb_index import KbIndex, is_follow_up, key_terms, shares_key_entity
from ground.tables.knowledge import kb_answers
from ground.store.kb_rates import one_time_resolution
from ground.store.knowledge import Entry
from tests.test_bot_actions import DOMAIN, slot_events, tracker

ID_SOURCE = "《中华人民共和国居民身份证法》"
ENTRIES = [
    Entry("sfz-1", "户籍", "身份证丢了怎么补办", ("身份证丢失补办", "二代证丢了咋办"),
          "身份证丢了可以到户籍所在地或者居住地的派出所申请补领。", source=ID_SOURCE),
    Entry("sfz-2", "户籍", "补办身份证需要带什么材料", ("补身份证要带啥",), "补领身份证请带户口本，现场采集照片和指纹。",
          source=ID_SOURCE),
    Entry("sfz-3", "户籍", "补办身份证要多长时间", ("身份证补办多久能拿到",), "补领身份证一般在受理后二十个工作日内办结。",
          source=ID_SOURCE),
    Entry("hz-1", "出入境", "办护照要多长时间", ("护照多久能办下来",), "护照一般在受理后七个工作日内签发。"),
    Entry("hz-2", "出入境", "办护照需要带什么材料", ("护照要带啥材料",), "办护照请带身份证，现场采集照片。"),
    Entry("tw-1", "出入境", "去台湾需要办什么证件", ("去台湾要办什么证", "台湾通行证怎么办"), "去台湾需要办理大陆居民往来台湾通行证和签注。"),
    Entry("gas-1", "水电气", "燃气怎么开户", ("新房燃气怎么开通", "天然气开户"), "新房开通燃气请联系燃气公司预约开户通气。"),
    Entry("bus-1", "残疾人服务", "残疾人坐公交免费吗", ("残疾人乘公交有优惠吗",), "持残疾人证的可以按规定免费乘坐公交。"),
    Entry("old-1", "养老", "老年人坐公交免费吗", ("老人乘公交有优惠吗", "老年卡坐公交"), "六十五岁以上的老人持养老助残卡免费乘坐公交。"),
]


@pytest.fixture
def kb(ticket_store):
    repository.upsert_entries(ticket_store.engine, ENTRIES)
    runtime.reset_ticket_store(ticket_store)
    yield ticket_store
    runtime.reset_ticket_store(None)


def test_a_clarification_never_proposes_an_entry_without_the_questions_key_entity():
    index = KbIndex(ENTRIES, day=date(2026, 12, 2))
    decision = index.decide("养狗要办什么证")
    assert "养狗" in key_terms("养狗要办什么证")
    assert decision.action == "none"  # never "您是想问：去台湾需要办什么证件，对吗？"
    assert not shares_key_entity("养狗要办什么证", ENTRIES[4])
    assert index.decide("去台湾要办什么证").hit.entry.key == "tw-1"
    # the elderly ask about the elderly entry, not the disabled one
    assert index.decide("老年人乘公交有优惠吗").hit.entry.key == "old-1"


def test_follow_ups_name_nothing_of_their_own():
    for text in ("那要带什么材料？", "在哪里办？", "要多久？", "多少钱", "需要本人去吗"):
        assert is_follow_up(text), text
    for text in ("公积金怎么取", "养狗要办什么证", "那护照呢"):
        assert not is_follow_up(text), text


async def test_an_answer_names_its_source(kb):
    d = CollectingDispatcher()
    events = await ActionAnswerConsultation().run(d, tracker({}, "二代证丢了咋办", "consult"), DOMAIN)
    assert slot_events(events)["kb_entry"] == "sfz-1"
    assert d.messages[0]["text"].endswith(f"（依据：{ID_SOURCE}）")
    d = CollectingDispatcher()
    await ActionAnswerConsultation().run(d, tracker({}, "新房燃气怎么开通", "consult"), DOMAIN)
    assert "依据" not in d.messages[0]["text"]  # no source, nothing claimed


async def _answered(text: str) -> dict:
    events = await ActionAnswerConsultation().run(CollectingDispatcher(), tracker({}, text, "consult"), DOMAIN)
    s = slot_events(events)
    assert s["kb_state"] == "answered", s
    return {**s, "requested_slot": "kb_resolved"}


@pytest.mark.parametrize("follow_up,expected", [("那要带什么材料？", "sfz-2"), ("要多久？", "sfz-3")])
async def test_a_follow_up_stays_on_the_answered_entrys_topic(kb, follow_up, expected):
    s = await _answered("身份证丢了怎么补办")
    d = CollectingDispatcher()
    events = await ValidateKbFeedbackForm().run(d, tracker(s, follow_up, "inform"), DOMAIN)
    got = slot_events(events)
    assert got["kb_entry"] == expected and got["kb_state"] == "answered"
    assert "身份证" in d.messages[0]["text"]
    # without the context the same words name nothing, and are never answered outright
    index = KbIndex(ENTRIES, day=date(2026, 12, 2))
    assert index.decide(follow_up).action != "answer"


async def test_a_follow_up_in_a_new_turn_uses_the_conversations_last_answer(kb):
    s = await _answered("身份证丢了怎么补办")
    history = [{"event": "slot", "name": k, "value": v} for k, v in s.items()]
    history += [{"event": "slot", "name": "kb_state", "value": "done"}, {"event": "slot", "name": "kb_entry", "value": None}]
    assert last_answered(history) == "sfz-1"
    d = CollectingDispatcher()
    events = await ActionAnswerConsultation().run(d, tracker({}, "那要多久？", "consult", events=history), DOMAIN)
    assert slot_events(events)["kb_entry"] == "sfz-3"


async def test_wrong_answer_offers_the_next_candidate_once_then_a_ticket(kb, ticket_store):
    s = await _answered("老人乘公交有优惠吗")
    assert s["kb_entry"] == "old-1"
    assert said_wrong_answer("不对，不是这个") and not said_wrong_answer("没解决")
    events = await ValidateKbFeedbackForm().run(CollectingDispatcher(), tracker(s, "不对", "deny"), DOMAIN)
    s.update(slot_events(events))
    assert s["kb_state"] == "clarify" and s["kb_entry"] == "bus-1" and s["requested_slot"] == "kb_resolved"
    d = CollectingDispatcher()
    await ActionAskKbResolved().run(d, tracker(s), DOMAIN)
    assert d.messages[0]["text"] == "您是想问：残疾人坐公交免费吗，对吗？"
    events = await ValidateKbFeedbackForm().run(CollectingDispatcher(), tracker(s, "也不对", "deny"), DOMAIN)
    s.update(slot_events(events))
    assert s["kb_state"] == "register" and s["kb_resolved"] is False and s["requested_slot"] is None
    d = CollectingDispatcher()
    done = slot_events(await ActionKbFeedbackDone().run(d, tracker(s), DOMAIN))
    assert d.messages[0]["response"] == "utter_consultation_ticket"
    assert done["request_type"] == "consultation" and "已答复" not in done["description"]
    with ticket_store.engine.connect() as c:  # one consultation, one record, not solved
        rows = c.execute(select(kb_answers.c.entry_key, kb_answers.c.kind, kb_answers.c.resolved)).all()
    assert [tuple(r) for r in rows] == [("bus-1", "clarify", False)]


async def test_wrong_answer_then_the_next_candidate_accepted(kb, ticket_store):
    s = await _answered("老人乘公交有优惠吗")
    s.update(slot_events(await ValidateKbFeedbackForm().run(CollectingDispatcher(), tracker(s, "不是我要问的", "deny"), DOMAIN)))
    d = CollectingDispatcher()
    s.update(slot_events(await ValidateKbFeedbackForm().run(d, tracker(s, "对", "affirm"), DOMAIN)))
    assert s["kb_state"] == "answered" and s["kb_entry"] == "bus-1" and "残疾人证" in d.messages[0]["text"]
    s.update(slot_events(await ValidateKbFeedbackForm().run(CollectingDispatcher(), tracker(s, "解决了", "affirm"), DOMAIN)))
    await ActionKbFeedbackDone().run(CollectingDispatcher(), tracker(s), DOMAIN)
    (rate,) = one_time_resolution(ticket_store.engine)
    assert (rate.resolved_by_kb, rate.consultations) == (1, 1)


async def test_clarifications_and_unanswered_questions_count_in_the_resolution_rate(kb, ticket_store):
    # a clarification the citizen leaves unanswered and a question with no entry both count, unsolved
    d = CollectingDispatcher()
    e1 = slot_events(await ActionAnswerConsultation().run(d, tracker({}, "坐公交要钱吗", "consult", sender="a"), DOMAIN))
    assert e1["kb_state"] == "clarify"
    e2 = slot_events(await ActionAnswerConsultation().run(d, tracker({}, "明天股票会涨吗", "consult", sender="b"), DOMAIN))
    assert e2["kb_state"] == "register"
    s = await _answered("身份证丢了怎么补办")
    s.update(slot_events(await ValidateKbFeedbackForm().run(CollectingDispatcher(), tracker(s, "解决了", "affirm"), DOMAIN)))
    await ActionKbFeedbackDone().run(CollectingDispatcher(), tracker(s), DOMAIN)
    (rate,) = one_time_resolution(ticket_store.engine)
    assert (rate.resolved_by_kb, rate.consultations) == (1, 3)
