"""The satisfaction survey's decisions as plain functions (the Rasa form in bot/actions/survey.py wraps them).

Questions in order: consent (identity and ticket in one sentence), contacted, resolved, satisfaction, and
— only when unresolved or unsatisfied — the reason. Every answer may also be spoken or keyed (DTMF 1/2/3).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from nlu.answers import parse_resolved, parse_yes_no

SURVEY_SLOTS = ("survey_consent", "survey_contacted", "survey_resolved", "survey_satisfaction", "survey_reason")
CONTEXT_SLOTS = ("survey_attempt", "survey_ticket", "survey_channel", "survey_category", "survey_confidential")
BOOKKEEPING_SLOTS = ("survey_outcome", "survey_reprompts")
SATISFACTION_WORDS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
NO_REASON = "（未说明原因）"

_WRONG_PERSON = re.compile(r"打错|不是我|不是本人|找错人|没反映过|没有反映过|没打过|没有打过|不认识|什么工单|我没(有)?(投诉|反映|打)")
_BUSY = re.compile(r"在忙|正忙|很忙|忙着|开会|开车|上班|在外面|晚点|晚一点|稍后|回头再|等会|等一会|过会|过一会|改天|"
                   r"现在不方便|不太方便|不方便|没空|没时间|待会|一会儿再|再打|明天再")
_REFUSE = re.compile(r"不需要回访|不用回访|不接受|不想(做|回答|参加)|别(再)?打|不要(再)?打|不做|拒绝|没兴趣|不参加")
_CONTACTED = re.compile(r"联系(过|了)|打(过|了)电话|来(过|了)人|上门|来看(过|了)|回(过|了)电话|找(过|了)我|有人(联系|来|打)")
_NOT_CONTACTED = re.compile(r"没(有)?(人)?(联系|来|打|找|回)|没人|从来没|一直没|没接到|没收到")
_UNSATISFIED = re.compile(r"不满意|不太满意|不怎么满意|很差|太差|差评|非常差|糟糕|失望|不行")
_BASIC = re.compile(r"基本满意|还行|还可以|一般|凑合|马马虎虎|差不多|还算|比较满意|基本")
_SATISFIED = re.compile(r"满意|很好|挺好|非常好|不错|好评|满分|可以")
_DTMF_CHOICES = {
    "survey_consent": {"1": True, "2": False},
    "survey_contacted": {"1": True, "2": False},
    "survey_resolved": {"1": True, "2": False},
    "survey_satisfaction": {"1": "satisfied", "2": "basically_satisfied", "3": "unsatisfied"},
}


@dataclass
class SurveyStep:
    """What one message changes: slots, what to say first, the next question (None: the survey ends)."""

    changes: dict[str, Any] = field(default_factory=dict)
    say: list[str] = field(default_factory=list)
    next_slot: Optional[str] = None
    outcome: Optional[str] = None  # completed, refused, busy, wrong_person, failed (when the survey ends)


def _digit(text: str) -> Optional[str]:
    t = (text or "").strip()
    return t if re.fullmatch(r"[0-9*#]", t) else None


def parse_satisfaction(text: str) -> Optional[str]:
    """满意 / 基本满意 / 不满意 (and everyday variants) -> satisfied / basically_satisfied / unsatisfied."""
    t = (text or "").strip()
    if _UNSATISFIED.search(t):
        return "unsatisfied"
    if _BASIC.search(t):
        return "basically_satisfied"
    if _SATISFIED.search(t):
        return "satisfied"
    return None


def parse_contacted(text: str) -> Optional[bool]:
    """Did the unit get in touch? Specific phrases first, then a plain yes/no."""
    t = (text or "").strip()
    if _NOT_CONTACTED.search(t):
        return False
    if _CONTACTED.search(t):
        return True
    return parse_yes_no(t)


def _parse(slot: str, text: str) -> Any:
    digit = _digit(text)
    if digit is not None:
        return _DTMF_CHOICES.get(slot, {}).get(digit)
    if slot == "survey_consent":
        return parse_yes_no(text)
    if slot == "survey_contacted":
        return parse_contacted(text)
    if slot == "survey_resolved":
        return parse_resolved(text)
    if slot == "survey_satisfaction":
        return parse_satisfaction(text)
    return None


def next_question(slots: Mapping[str, Any]) -> Optional[str]:
    """The first unanswered question; the reason only when unresolved or unsatisfied."""
    for slot in SURVEY_SLOTS[1:4]:
        if slots.get(slot) is None:
            return slot
    needs_reason = slots.get("survey_resolved") is False or slots.get("survey_satisfaction") == "unsatisfied"
    if needs_reason and slots.get("survey_reason") is None:
        return "survey_reason"
    return None


def step(slots: Mapping[str, Any], requested: Optional[str], text: str, dtmf: bool = False) -> SurveyStep:
    """Apply one message to the survey in `slots`, `requested` being the question just asked."""
    text = (text or "").strip()
    if requested is None:  # activation: ask for consent
        return SurveyStep(changes={"survey_reprompts": 0.0}, next_slot="survey_consent")
    if text.startswith("/"):  # the citizen came back (chat /greet): ask again
        return SurveyStep(changes={"survey_reprompts": 0.0}, next_slot=requested)
    if not dtmf and requested != "survey_reason":
        if _WRONG_PERSON.search(text):
            return SurveyStep(changes={"survey_outcome": "wrong_person"}, outcome="wrong_person")
        if _REFUSE.search(text):
            return SurveyStep(changes={"survey_outcome": "refused"}, outcome="refused")
        if _BUSY.search(text) and not (requested == "survey_satisfaction" and parse_satisfaction(text)):
            return SurveyStep(changes={"survey_outcome": "busy"}, outcome="busy")
    if requested == "survey_reason":
        declined = dtmf or parse_yes_no(text) is False and len(text) <= 4
        merged = {**slots, "survey_reason": NO_REASON if declined or not text else text}
        return _advance(merged, {"survey_reason": merged["survey_reason"]})
    value = _parse(requested, text)
    if value is None:
        tries = float(slots.get("survey_reprompts") or 0.0) + 1
        if tries >= 2:
            return SurveyStep(changes={"survey_outcome": "failed", "survey_reprompts": tries}, outcome="failed")
        return SurveyStep(changes={"survey_reprompts": tries}, say=[_clarify(requested, dtmf)], next_slot=requested)
    if requested == "survey_consent":
        if value is False:  # "不方便" / key 2: call back later
            return SurveyStep(changes={"survey_consent": False, "survey_outcome": "busy"}, outcome="busy")
        return _advance({**slots, "survey_consent": True}, {"survey_consent": True})
    return _advance({**slots, requested: value}, {requested: value})


def _advance(merged: Mapping[str, Any], changes: dict[str, Any]) -> SurveyStep:
    nxt = next_question(merged)
    changes = {**changes, "survey_reprompts": 0.0}
    if nxt is None:
        changes["survey_outcome"] = "completed"
        return SurveyStep(changes=changes, outcome="completed")
    return SurveyStep(changes=changes, next_slot=nxt)


def _clarify(slot: str, voice: bool) -> str:
    if slot == "survey_satisfaction":
        return "不好意思，请您说满意、基本满意，还是不满意。"
    if slot == "survey_consent":
        return "不好意思，请问现在方便做个回访吗？"
    return "不好意思，我没听清，请您说是还是不是。"


# -- what the citizen hears ------------------------------------------------------------------------------


def intro(ticket_no: str, category: Optional[str], confidential: bool, voice: bool) -> str:
    """Identity and ticket in one sentence; a confidential ticket names nothing but its number."""
    about = "" if confidential or not category else f"关于{category.split('/')[-1]}的"
    text = f"您好，这里是12345市民服务热线回访，您反映的编号{ticket_no}{about}问题已办结，想耽误您一分钟做个回访，可以吗？"
    return text + ("可以请按1，不方便请按2。" if voice else "")


QUESTIONS = {
    "survey_contacted": ("请问承办单位联系过您吗？", "联系过请按1，没有请按2。"),
    "survey_resolved": ("您反映的问题解决了吗？", "解决了请按1，没有解决请按2。"),
    "survey_satisfaction": ("您对这次办理的结果满意吗？请说满意、基本满意，或者不满意。", "满意请按1，基本满意请按2，不满意请按3。"),
    "survey_reason": ("请您简单说一下没有解决或者不满意的原因，我们会转给相关部门重新办理。", "说完后请稍等。"),
}


def question(slot: str, voice: bool) -> str:
    """The question for `slot` (with the keys to press on a call)."""
    text, keys = QUESTIONS[slot]
    return text + (keys if voice else "")


GOODBYES = {
    "completed": "感谢您的配合，您的评价我们已经记录。再见。",
    "reopen": "您的意见已经记录，我们会督促相关部门重新办理。感谢您的配合，再见。",
    "refused": "好的，不打扰您了，感谢您对12345热线的支持，再见。",
    "wrong_person": "不好意思，打扰您了，再见。",
    "busy": "好的，我们稍后再联系您，再见。",
    "failed": "不好意思，没能听清您的回答，我们稍后再联系您，再见。",
}
