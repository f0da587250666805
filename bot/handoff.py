"""Handing over to a person, as plain functions: what the citizen is told while waiting, and what a message
does to a wait (the Rasa actions in bot/actions/escalation.py and bot/actions/waiting.py are thin wrappers)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from bot.intake import describe, has_description
from nlu.handoff_words import asks_for_person, wants_to_stop_waiting
from nlu.phone import extract_phone

CALLBACK_REQUEST_TYPE = "help"  # a request for a person filed after hours, when the citizen named no type
CALLBACK_DESCRIPTION_VOICE = "来电要求人工服务（非人工服务时间），请回电了解诉求。"
CANCEL_HINT = "您可以继续描述问题，或说“取消”结束等待。"


def minutes(wait_s: int) -> int:
    """Whole minutes to announce (at least 1)."""
    return max(1, math.ceil(wait_s / 60))


def place(position: int, wait_s: int) -> str:
    """"前面还有2位，预计等待3分钟" (or: you are next)."""
    ahead = f"前面还有{position}位" if position > 0 else "您是下一位"
    return f"{ahead}，预计等待{minutes(wait_s)}分钟"


def waiting_message(position: int, wait_s: int) -> str:
    """Said when the handoff is opened on a chat."""
    return f"正在为您转接人工客服，{place(position, wait_s)}。{CANCEL_HINT}"


def waiting_ack(position: int, wait_s: int) -> str:
    """Said to every message while waiting (the message stays in the conversation for the operator)."""
    return f"已记下，人工客服接入后会看到。{place(position, wait_s)}。说“取消”可以结束等待。"


CANCELLED = "好的，已为您取消转人工。需要的话，我可以帮您登记工单，请直接说您要反映的问题。"
ENDED = "人工服务已结束。还有其他需要帮您的吗？"
GAVE_UP = "由于较长时间没有收到您的消息，本次排队已结束。如还需要人工服务，请再说“转人工”。"


def after_hours(hours: str, missing: tuple[str, ...]) -> str:
    """Nobody on duty: what happens instead, and what is still needed for the call-back ticket."""
    text = f"现在不是人工服务时间（人工客服每天{hours}在线）。我先为您登记，工作人员上班后会给您回电。"
    return text + ask_missing(missing) if missing else text


def ask_missing(missing: tuple[str, ...]) -> str:
    if missing == ("description", "phone"):
        return "请说一下您要反映的问题和您的联系电话。"
    if missing == ("description",):
        return "请说一下您要反映的问题。"
    return "请留下您的联系电话。"


def callback_filed(ticket_no: str) -> str:
    return f"已为您登记，工单编号是{ticket_no}。工作人员上班后会给您回电，请保持电话畅通。"


def missing_for_callback(slots: Mapping[str, Any]) -> tuple[str, ...]:
    """What a call-back ticket still needs: a description and a phone number."""
    return tuple(s for s in ("description", "phone") if not slots.get(s))


@dataclass
class WaitTurn:
    """What one message does while the citizen waits for a person."""

    cancel: bool = False
    changes: dict[str, Any] = field(default_factory=dict)  # slots filled for a call-back ticket


def wait_turn(text: str, intent: Optional[str], slots: Mapping[str, Any], collecting: bool) -> WaitTurn:
    """`collecting`: nobody on duty and the call-back ticket still lacks something; the message may give it."""
    if intent == "cancel" or wants_to_stop_waiting(text):
        return WaitTurn(cancel=True)
    turn = WaitTurn()
    if not collecting or asks_for_person(text):
        return turn
    found = extract_phone(text)
    if found.ok and not slots.get("phone"):
        turn.changes["phone"] = found.phone
    if not slots.get("description") and has_description(text):
        turn.changes["description"] = describe(text)
    return turn
