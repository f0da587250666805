"""The survey dialogue's decisions (bot/survey.py): answers spoken or keyed, the reason only when needed,
busy / wrong person / refusal at any point, confidential tickets named by number only."""
from __future__ import annotations

import pytest

from bot.survey import intro, parse_contacted, parse_satisfaction, question, step


def _run(answers: list[tuple[str, bool]]) -> tuple[dict, list]:
    slots: dict = {}
    requested = None
    trail = []
    for text, dtmf in [("", False), *answers]:
        out = step(slots, requested, text, dtmf)
        slots.update(out.changes)
        requested = out.next_slot
        trail.append(out.outcome or out.next_slot)
    return slots, trail


def test_all_keyed_satisfied_survey() -> None:
    slots, trail = _run([("1", True), ("1", True), ("1", True), ("1", True)])
    assert trail == ["survey_consent", "survey_contacted", "survey_resolved", "survey_satisfaction", "completed"]
    assert (slots["survey_contacted"], slots["survey_resolved"], slots["survey_satisfaction"]) == (True, True, "satisfied")
    assert slots.get("survey_reason") is None


def test_unresolved_spoken_survey_asks_why() -> None:
    slots, trail = _run([("可以，你说吧", False), ("没有人联系过我", False), ("没解决", False), ("不太满意", False),
                         ("垃圾还是没人清，天天都臭", False)])
    assert trail[-2:] == ["survey_reason", "completed"]
    assert slots["survey_contacted"] is False and slots["survey_resolved"] is False
    assert slots["survey_satisfaction"] == "unsatisfied" and slots["survey_reason"] == "垃圾还是没人清，天天都臭"


def test_solved_but_unsatisfied_also_asks_why_and_basically_satisfied_does_not() -> None:
    _, trail = _run([("好的", False), ("联系了", False), ("解决了", False), ("3", True), ("态度不好", False)])
    assert trail[-2:] == ["survey_reason", "completed"]
    _, trail = _run([("好的", False), ("联系了", False), ("解决了", False), ("还行吧", False)])
    assert trail[-1] == "completed"


@pytest.mark.parametrize("text,outcome", [("我在开车，晚点再打吧", "busy"), ("现在不方便", "busy"), ("2", "busy"),
                                          ("你打错了，我没反映过", "wrong_person"), ("不接受回访，别再打了", "refused")])
def test_consent_answers_that_end_the_call(text: str, outcome: str) -> None:
    slots, trail = _run([(text, text.isdigit())])
    assert trail[-1] == outcome and slots["survey_outcome"] == outcome


def test_busy_in_the_middle_keeps_what_was_answered() -> None:
    slots, trail = _run([("1", True), ("1", True), ("等会儿再说，我在开会", False)])
    assert trail[-1] == "busy" and slots["survey_contacted"] is True and slots.get("survey_resolved") is None


def test_unclear_answer_is_asked_again_once_then_the_try_fails() -> None:
    out = step({"survey_reprompts": 0.0}, "survey_satisfaction", "今天天气怎么样")
    assert out.next_slot == "survey_satisfaction" and "满意、基本满意" in out.say[0]
    out = step({"survey_reprompts": 1.0}, "survey_satisfaction", "今天天气怎么样")
    assert out.outcome == "failed"


def test_the_citizen_coming_back_to_the_chat_is_asked_again() -> None:
    out = step({"survey_consent": True}, "survey_resolved", "/greet")
    assert out.next_slot == "survey_resolved" and out.outcome is None


def test_intro_names_the_ticket_and_never_more_for_confidential_tickets() -> None:
    text = intro("20261126-000007", "环境卫生/垃圾清运", False, voice=True)
    assert text.startswith("您好，这里是12345市民服务热线回访，您反映的编号20261126-000007关于垃圾清运的问题已办结")
    assert text.endswith("可以请按1，不方便请按2。")
    secret = intro("20261126-000008", "环境卫生/垃圾清运", True, voice=False)
    assert "垃圾" not in secret and "20261126-000008" in secret and "按" not in secret
    assert question("survey_satisfaction", True).endswith("满意请按1，基本满意请按2，不满意请按3。")


@pytest.mark.parametrize("text,expected", [("满意", "satisfied"), ("非常满意", "satisfied"), ("基本满意", "basically_satisfied"),
                                           ("一般般吧", "basically_satisfied"), ("不满意", "unsatisfied"),
                                           ("很不满意", "unsatisfied"), ("不知道", None)])
def test_satisfaction_words(text: str, expected) -> None:
    assert parse_satisfaction(text) == expected


@pytest.mark.parametrize("text,expected", [("联系过了", True), ("打过电话", True), ("是的", True), ("没有人联系我", False),
                                           ("一直没人来", False), ("不是", False)])
def test_contacted_words(text: str, expected) -> None:
    assert parse_contacted(text) == expected
