"""What the bot says back: the readback before confirmation and the filed-ticket message."""
from __future__ import annotations

import re
from typing import Any, Mapping

from bot.intake import DECLINED, REQUEST_TYPE_WORDS
from nlu.phone import group_for_speech

MAX_DESCRIPTION_CHARS = 40


def short_description(text: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    """The description cut to a speakable length."""
    text = re.sub(r"（已答复：[^）]*）", "", text or "").strip()  # the answer given is in the ticket, not read back
    return text if len(text) <= limit else text[:limit].rstrip("，,。") + "等"


def location_text(slots: Mapping[str, Any]) -> str:
    """District, street and address without repeating what the address already says."""
    parts: list[str] = []
    for key in ("district", "street", "address"):
        value = slots.get(key)
        if not value or any(value in p for p in parts):
            continue
        parts = [p for p in parts if p not in value]  # the address may repeat the district and street
        parts.append(value)
    return "".join(parts)


def readback(slots: Mapping[str, Any]) -> str:
    """One short message with everything the ticket will say, ending with the confirmation question."""
    rtype = REQUEST_TYPE_WORDS.get(slots.get("request_type") or "", "诉求")
    category = (slots.get("category") or "其他").rsplit("/", 1)[-1]  # the fine name is what is spoken
    pieces = [f"{rtype}，{category}"]
    where = location_text(slots)
    if where:
        pieces.append(f"地点{where}")
    pieces.append(f"内容是{short_description(slots.get('description') or '')}")
    if slots.get("phone"):
        pieces.append(f"联系电话{group_for_speech(slots['phone'])}")
    name = slots.get("contact_name")
    if name and name != DECLINED:
        pieces.append(f"称呼{name}")
    if slots.get("request_type") == "complaint":
        pieces.append("个人信息保密" if slots.get("confidential") else "个人信息不保密")
    return "我跟您核对一下：" + "；".join(pieces) + "。以上信息是否正确？"


def ticket_filed(ticket_no: str, request_type: str | None, confidential: bool) -> str:
    """Told once the ticket is written: its number and what happens next (no question: the call can end)."""
    rtype = REQUEST_TYPE_WORDS.get(request_type or "", "诉求")
    text = f"已为您登记{rtype}，工单编号是{ticket_no}。我们会尽快转交相关单位办理，请保持电话畅通。"
    if confidential:
        text += "我们会对您的个人信息保密。"
    return text + "感谢您的来电，再见。"


def category_question(choices: list[str]) -> str:
    """At most three choices, spoken as one question."""
    if len(choices) == 1:
        return f"您反映的问题是属于{choices[0]}吗？"
    return f"您反映的问题属于哪一类：{'、'.join(choices[:-1])}，还是{choices[-1]}？"
