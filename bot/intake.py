"""The intake form's decisions as plain functions: what a message fills, what is still needed.

The Rasa validation action (bot/actions/intake_form.py) is a thin wrapper around `step()`, so the
dialogue logic is testable without a running Rasa.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Sequence

from nlu import answers, categories, places
from nlu.facts import extract_facts
from nlu.handoff_words import asks_for_person
from nlu.phone import extract_phone
from nlu.when import parse_occurred_at

REQUEST_TYPE_WORDS = {
    "consultation": "咨询", "help": "求助", "complaint": "投诉", "suggestion": "建议", "praise": "表扬",
}
INTENT_TO_TYPE = {
    "complain": "complaint", "seek_help": "help", "consult": "consultation", "suggest": "suggestion", "praise": "praise",
}
# Intents that leave the form to the rules (answered elsewhere, or end the form).
INTERRUPT_INTENTS = {"cancel", "human_handoff", "emergency", "ask_ticket_status", "faq", "out_of_scope"}
DECLINED = "__declined__"
# Failing twice in a row on one of these hands the citizen over to a person.
ESSENTIAL = {"request_type", "description", "district", "phone", "confirmed"}
FORM_SLOTS = (
    "request_type", "description", "category", "district", "street", "address", "occurred_at",
    "phone", "contact_name", "confidential", "confirmed",
)
BOOKKEEPING_SLOTS = ("request_key", "category_choices", "correction_pending", "reprompts", "end_reason", "phone_offer")
MIN_INTENT_CONFIDENCE_FOR_TYPE = 0.15
SURE_INTENT = 0.9

_FILLERS = re.compile(
    r"(你好|您好|喂|麻烦|请问|那个|就是|我想|我要|我来|想要|要|给你们|跟你们|向你们|一下|一个事|个事|件事|"
    r"问题|情况|事情|投诉|举报|反映|求助|咨询|建议|表扬|感谢|帮忙|帮我|我|的|了|呢|啊|吧|嗯|哦|呃|，|。|,|\.|！|!|？|\?|、|\s)"
)
_PHONE_CUE = re.compile(r"(我的)?(联系)?(电话|手机|联系方式|号码)(号码|号)?(是|为|：|:)?\s*$")
_ORDINALS = {"第一": 0, "第1": 0, "1": 0, "一": 0, "第二": 1, "第2": 1, "2": 1, "二": 1, "第三": 2, "第3": 2, "3": 2, "三": 2}
_CORRECTION_HINTS = {
    "address": ("地址", "位置", "地点", "小区", "门牌", "在"),
    "contact_name": ("姓", "叫", "名字", "称呼"),
    "description": ("问题", "描述", "内容", "情况", "事情"),
    "confidential": ("保密", "公开"),
}


@dataclass
class Turn:
    """One citizen message as the form sees it."""

    text: str
    intent: str | None = None
    confidence: float = 1.0
    ranking: Sequence[Mapping[str, Any]] = ()
    requested_slot: str | None = None
    now: datetime | None = None
    caller: str | None = None  # the calling number (voice channel metadata), if known


@dataclass
class Outcome:
    """What the form does with a message: slot changes, what to say, or leave it to the rules."""

    changes: dict[str, Any] = field(default_factory=dict)
    say: list[str] = field(default_factory=list)
    reject: bool = False
    end: str | None = None  # "outside_beijing" or "handoff": the form ends without a ticket

    @property
    def understood(self) -> bool:
        return (bool(set(self.changes) - set(BOOKKEEPING_SLOTS)) or self.end is not None
                or self.changes.get("phone_offer") == DECLINED)


def clean_description(text: str) -> str:
    """The citizen's words without the phone number they dictated along with them."""
    found = extract_phone(text)
    if found.start is not None and found.end is not None:
        before = _PHONE_CUE.sub("", text[: found.start])
        text = before + text[found.end :].lstrip(" ，,。")
    return text.strip(" ，,。.；;")


_OPENERS = re.compile(
    r"^(?:(?:喂|你好|您好|那个|就是)[，,。！!\s]*"
    r"|(?:是)?12345(?:吗|吧|是吧|对吧)?[？?，,。！!\s]*"
    r"|我(?:是|住在|住|家在)[^，,。]{2,24}?的[，,。\s]+"
    r"|(?:我们?)?(?:要|想|来|得)?(?:投诉|举报|反映|咨询|求助|建议|表扬)(?:一下|个事儿?|件事|个问题)?[，,。：:\s]+"
    r"|我有个(?:建议|问题|事儿?)[，,。：:\s]*)"
)


def describe(text: str) -> str:
    """The problem in the citizen's own words, without greeting, 'I want to complain', self-introduction or phone."""
    desc = clean_description(text)
    while (shorter := _OPENERS.sub("", desc, count=1)) != desc:
        desc = shorter
    return desc if len(desc) >= 4 else clean_description(text)


def has_description(text: str) -> bool:
    """Whether `text` says what the problem is, beyond 'I want to complain'."""
    facts = extract_facts(text)
    rest = clean_description(text)
    for known in (facts.district, facts.street):
        if known:
            rest = rest.replace(known, "")
    rest = _FILLERS.sub("", rest)
    return len(rest) >= 4


def infer_request_type(turn: Turn) -> str | None:
    """The request type from explicit words (投诉, 求助 …), else the request intent, else weak words (反映, 问问)."""
    said = answers.parse_request_type(turn.text, weak=False)
    if said:
        return said
    if turn.intent in INTENT_TO_TYPE and turn.confidence >= SURE_INTENT:
        return INTENT_TO_TYPE[turn.intent]
    said = answers.parse_request_type(turn.text)  # weak words ("想问问", "反映") beat an unsure intent
    if said:
        return said
    if turn.intent in INTENT_TO_TYPE:
        return INTENT_TO_TYPE[turn.intent]
    for entry in turn.ranking:
        name = entry.get("name")
        if name in INTENT_TO_TYPE and float(entry.get("confidence") or 0) >= MIN_INTENT_CONFIDENCE_FOR_TYPE:
            return INTENT_TO_TYPE[name]
    return None


def looks_like_request(turn: Turn) -> bool:
    """A message the NLU was unsure about that still describes a problem, praise or wish worth filing."""
    return has_description(turn.text) and (
        infer_request_type(turn) is not None or bool(categories.classify(turn.text)))


def needed_slots(slots: Mapping[str, Any]) -> list[str]:
    """The form's slots in asking order, for what this request needs."""
    rtype = slots.get("request_type")
    order = ["request_type", "description"]
    if slots.get("category_choices") and not slots.get("category"):
        order.append("category")
    order.append("district")
    if rtype in ("complaint", "help"):
        order.append("address")
        if slots.get("category") and categories.asks_when(slots["category"]):
            order.append("occurred_at")
    order += ["phone", "contact_name"]
    if rtype == "complaint":
        order.append("confidential")
    order.append("confirmed")
    return order


def next_slot(slots: Mapping[str, Any]) -> str | None:
    """The first needed slot that is still empty, or None when the form is complete."""
    return next((s for s in needed_slots(slots) if slots.get(s) is None), None)


def _categorise(description: str) -> dict[str, Any]:
    """Category, or up to three choices when the classifier is unsure."""
    said = re.sub(r"（[^）]*）", "", description)  # not the notes we add: answer given, time, other questions
    ranked = categories.classify(said or description)
    if not ranked:
        return {"category": categories.fallback_category(), "category_choices": None}
    top_name, top_score = ranked[0]
    close = [name for name, score in ranked[:4] if score >= top_score * 0.8]
    parents = {categories.label_of(n).split("/")[0] for n in close if "/" in categories.label_of(n)}
    close = [n for n in close if n not in parents]  # a fine category and its class are one choice
    top_name = close[0]
    if len(close) == 1 or top_score >= 0.75:
        return {"category": categories.label_of(top_name), "category_choices": None}
    return {"category": None, "category_choices": close[:3]}


def _pick_choice(text: str, choices: Sequence[str]) -> str:
    for choice in choices:
        if choice in text or choice[:2] in text:
            return choice
    for word, index in _ORDINALS.items():
        if word in text and index < len(choices):
            return choices[index]
    return choices[0]  # "嗯" / "都行": the classifier's best guess


def _apply_facts(slots: Mapping[str, Any], turn: Turn, out: Outcome, override: bool) -> None:
    """Fill district, street, phone, name and time from anything the citizen said."""
    facts = extract_facts(turn.text)
    current = {**slots, **out.changes}

    def put(slot: str, value: Any) -> None:
        if value is None or value == "":
            return
        if override or current.get(slot) is None or turn.requested_slot == slot:
            if current.get(slot) != value:
                out.changes[slot] = value

    if facts.district:
        put("district", facts.district)
        if current.get("street") and facts.street is None and override and current.get("district") != facts.district:
            out.changes["street"] = None  # the old street belongs to the old district
    if facts.street:
        put("street", facts.street)
    if facts.address and (facts.district or facts.street) and current.get("address") is None:
        out.changes["address"] = facts.address  # a place given while answering something else
    if facts.phone:
        put("phone", facts.phone)
    elif facts.phone_error and turn.requested_slot in ("phone", "confirmed"):
        out.say.append(facts.phone_error)
    if facts.contact_name and (override or turn.requested_slot == "contact_name" or current.get("contact_name") is None):
        put("contact_name", facts.contact_name)
    if facts.confidential is not None and current.get("confidential") is None:
        out.changes["confidential"] = facts.confidential  # "我不想让单位知道是我反映的"
    if facts.occurred_at and current.get("occurred_at") is None:
        out.changes["occurred_at"] = facts.occurred_at.isoformat()
    if facts.outside_beijing and not facts.district and not current.get("district") and turn.requested_slot in (None, "district", "address"):
        out.end = "outside_beijing"


_PLACE_FILLERS = re.compile(r"^(我是|我在|我家在|我家住在|我住在|住在|在|就在|是)|(的|那儿|这儿|那边|这边|附近)$")


def _place_rest(text: str, facts: Any) -> str | None:
    """What a location answer says beyond the district and street ("兴华大街一家健身房")."""
    if not (facts.district or facts.street):
        return None
    rest = text
    for match in (places.find_district(text), places.find_street(text)):
        if match is not None:
            rest = rest.replace(text[match.start : match.end], "", 1)
    rest = _PLACE_FILLERS.sub("", rest.strip(" ，,。"))
    return rest if len(rest) >= 2 and not extract_phone(rest).found else None


def _answer_requested(slots: Mapping[str, Any], turn: Turn, out: Outcome) -> None:
    """Interpret the message as the answer to the question just asked."""
    slot, text = turn.requested_slot, turn.text.strip()
    if slot == "request_type":
        rtype = infer_request_type(turn)
        if rtype:
            out.changes["request_type"] = rtype
    elif slot == "description":
        desc = describe(text)
        if len(_FILLERS.sub("", desc)) >= 2:
            out.changes["description"] = desc
    elif slot == "category":
        choices = slots.get("category_choices") or []
        if choices:
            out.changes["category"] = categories.label_of(_pick_choice(text, choices))
    elif slot in ("district", "address"):
        facts = extract_facts(text)
        address = facts.address or _place_rest(text, facts)
        if slot == "address" and not address and len(_FILLERS.sub("", text)) >= 2 and not facts.phone:
            address = text.strip(" ，,。")
        if address and {**slots, **out.changes}.get("district"):
            out.changes["address"] = address
    elif slot == "occurred_at":
        when = parse_occurred_at(text, turn.now or datetime.now()) if text else None
        out.changes["occurred_at"] = when.isoformat() if when else ""  # "" = said, but no exact time
        said = _FILLERS.sub("", text)
        if said and slots.get("description"):
            out.changes["description"] = f"{slots['description']}（时间：{text.strip(' ，,。')}）"
    elif slot == "phone" and slots.get("phone_offer") not in (None, DECLINED):
        if not {**slots, **out.changes}.get("phone"):
            verdict = _OFFER_KEYS.get(text, answers.parse_yes_no(text))
            if verdict is True:
                out.changes["phone"] = slots["phone_offer"]
            elif verdict is False:
                out.changes["phone_offer"] = DECLINED
    elif slot == "contact_name":
        name = answers.parse_name(text)
        if name is None:
            bare = _FILLERS.sub("", text)
            name = bare if 1 <= len(bare) <= 6 else DECLINED
        out.changes["contact_name"] = DECLINED if name == answers.DECLINED else name
    elif slot == "confidential":
        value = answers.parse_confidential(text)
        if value is None:
            value = answers.parse_yes_no(text)
        if value is not None:
            out.changes["confidential"] = value


_OFFER_KEYS = {"1": True, "2": False}  # keypad answers to the caller-number offer


def caller_offer(slots: Mapping[str, Any], caller: str | None) -> str | None:
    """The calling number to offer as the contact phone: valid, not yet declined, no phone given yet."""
    if not caller or slots.get("phone") or slots.get("phone_offer") == DECLINED:
        return None
    found = extract_phone(caller, expected=True)
    return found.phone if found.ok else None


def caller_offer_question(number: str) -> str:
    """The offer, saying only the last four digits."""
    return f"您是用尾号{number[-4:]}的号码来电，可以用这个号码联系您吗？可以请按1，换一个号码请按2或直接说出号码。"


def _answer_confirmation(slots: Mapping[str, Any], turn: Turn, out: Outcome) -> None:
    """Yes files the ticket; a correction in free words updates the fields and reads back again."""
    before = dict(out.changes)
    _apply_facts(slots, turn, out, override=True)
    text = turn.text
    for slot, hints in _CORRECTION_HINTS.items():
        if not any(h in text for h in hints):
            continue
        if slot == "address":
            facts = extract_facts(text)
            if facts.address:
                out.changes["address"] = facts.address
        elif slot == "contact_name":
            name = answers.parse_name(text)
            if name and name != answers.DECLINED:
                out.changes["contact_name"] = name
        elif slot == "description":
            m = re.search(r"(?:改成|改为|应该是|其实是|是)(.{4,})$", text)
            if m:
                out.changes["description"] = clean_description(m.group(1))
        elif slot == "confidential":
            value = answers.parse_confidential(text)
            if value is not None:
                out.changes["confidential"] = value
    rtype = answers.parse_request_type(text)
    if rtype and rtype != slots.get("request_type"):
        out.changes["request_type"] = rtype
    corrected = {k for k in out.changes if k not in before}
    if corrected:
        out.changes["correction_pending"] = None
        if "description" in corrected:
            out.changes.update(_categorise(out.changes["description"]))
        return
    verdict = answers.parse_yes_no(text)
    if verdict is True:
        out.changes["confirmed"] = True
        if slots.get("correction_pending"):
            out.changes["correction_pending"] = None
    elif verdict is False and not slots.get("correction_pending"):
        out.changes["correction_pending"] = True
    # pending and still no correction: not understood, the reprompt rule applies


def step(slots: Mapping[str, Any], turn: Turn) -> Outcome:
    """Decide what one citizen message does to the intake form."""
    out = Outcome()
    first = slots.get("request_key") is None
    if not first and wants_person(turn):
        return Outcome(reject=True)  # never an answer to the question asked: the handoff rule takes it
    if first:
        out.changes["request_key"] = uuid.uuid4().hex
        rtype = slots.get("request_type") or infer_request_type(turn)
        if rtype:
            out.changes["request_type"] = rtype
        if slots.get("description") is None and has_description(turn.text):
            out.changes["description"] = describe(turn.text)
        _apply_facts(slots, turn, out, override=False)
    elif turn.requested_slot == "confirmed":
        if turn.intent in INTERRUPT_INTENTS and answers.parse_yes_no(turn.text) is None:
            return Outcome(reject=True)
        _answer_confirmation(slots, turn, out)
    else:
        specific = turn.requested_slot in ("request_type", "confidential", "contact_name", "category")
        if turn.intent in INTERRUPT_INTENTS and not (specific and _specific_answer(slots, turn)):
            return Outcome(reject=True)
        _apply_facts(slots, turn, out, override=False)
        if out.end is None:
            _answer_requested(slots, turn, out)
    merged = {**slots, **out.changes}
    if (turn.intent == "consult" and not first and not out.understood
            and turn.requested_slot not in ("description", "request_type", "confirmed")):
        return Outcome(reject=True)  # a question in the middle: answered by the rules, then the form resumes
    if merged.get("description") and merged.get("category") is None and not merged.get("category_choices"):
        out.changes.update(_categorise(merged["description"]))
    if not first and not out.understood and not out.changes.get("correction_pending"):
        count = int(slots.get("reprompts") or 0) + 1
        out.changes["reprompts"] = float(count)
        if count >= 2 and turn.requested_slot in ESSENTIAL:
            out.end = "handoff"
        elif not out.say:
            out.say.append("不好意思，我没有听清楚。")
    elif out.understood and slots.get("reprompts"):
        out.changes["reprompts"] = None
    return out


def wants_person(turn: Turn) -> bool:
    """A request for a person (转人工, 人工, 找客服, 我要跟人说), whatever slot was asked for."""
    return turn.intent == "human_handoff" or asks_for_person(turn.text)


def _specific_answer(slots: Mapping[str, Any], turn: Turn) -> bool:
    probe = Outcome()
    _answer_requested(slots, turn, probe)
    return bool(probe.changes)


def collected(slots: Mapping[str, Any]) -> dict[str, Any]:
    """What the form has so far, for a handoff record (without bookkeeping)."""
    return {k: slots.get(k) for k in FORM_SLOTS if slots.get(k) not in (None, DECLINED)}
