"""What the operator workspace shows of a handoff: the collected data (masked per role), the transcript from Rasa's
tracker, the ticket form prefilled from the slots, and which operators' workspaces are still open."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.form_rules import REQUEST_TYPES
from ground.roles import name_for, phone_for, text_for
from ground.store.handoffs import Handoff
from ground.tables.console import operator_presence

REASON_LABELS = {
    "citizen asked for a human agent": "市民要求转人工",
    "two failed understandings in a row": "连续两次没有听懂",
    "ticket store error": "工单系统故障",
    "dialogue timeout": "对话超时",
    "unsure": "机器人没有把握",
}
STATUS_LABELS = {"waiting": "等待中", "claimed": "已接入", "closed": "已结束", "cancelled": "市民已取消",
                 "abandoned": "已放弃"}
CHANNEL_LABELS = {"web": "网页", "rest": "网页", "voice": "电话", "phone": "电话", "wechat": "微信",
                  "web_form": "自助填报"}
PHONE_CHANNELS = frozenset({"voice", "phone"})
FORM_FIELDS = ("request_type", "category", "description", "district", "street", "address", "occurred_at",
               "contact_name", "phone", "confidential")


def reason_label(reason: str) -> str:
    return REASON_LABELS.get(reason, reason)


def is_phone(handoff: Handoff) -> bool:
    return handoff.channel in PHONE_CHANNELS or bool(handoff.call_id)


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.astimezone(timezone.utc).isoformat() if value is not None else None


def names_of(collected: dict[str, Any]) -> tuple[str, ...]:
    name = collected.get("contact_name")
    return (name,) if isinstance(name, str) and name.strip() else ()


def view(handoff: Handoff, role: str, now: datetime) -> dict[str, Any]:
    """The handoff as the queue shows it to `role` (phone, name and free text masked without the pii right)."""
    c = handoff.collected
    names = names_of(c)
    request_type = c.get("request_type")
    return {
        "id": handoff.id, "conversation_id": handoff.conversation_id, "channel": handoff.channel,
        "channel_label": CHANNEL_LABELS.get(handoff.channel, handoff.channel), "phone_call": is_phone(handoff),
        "call_id": handoff.call_id, "status": handoff.status,
        "status_label": STATUS_LABELS.get(handoff.status, handoff.status),
        "callback": handoff.outcome == "callback_ticket", "ticket_no": handoff.ticket_no,
        "reason": handoff.reason, "reason_label": reason_label(handoff.reason),
        "claimed_by": handoff.claimed_by, "created_at": _iso(handoff.created_at),
        "waited_s": max(0, int((now - handoff.created_at).total_seconds())),
        "collected": {
            "request_type": REQUEST_TYPES.get(request_type, request_type) if request_type else None,
            "category": c.get("category"), "district": c.get("district"), "street": c.get("street"),
            "address": text_for(role, c.get("address"), names) if c.get("address") else None,
            "phone": phone_for(role, c.get("phone")), "contact_name": name_for(role, c.get("contact_name")),
            "description": text_for(role, c.get("description"), names) if c.get("description") else None,
        },
    }


def turns(tracker: dict[str, Any], role: str, names: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The conversation's messages in order: citizen, bot, or operator (a bot event with an operator in its
    metadata), masked for `role`."""
    found = []
    for index, event in enumerate(tracker.get("events") or []):
        kind = event.get("event")
        text = (event.get("text") or "").strip()
        if kind not in ("user", "bot") or not text:
            continue
        operator = (event.get("metadata") or {}).get("operator") if kind == "bot" else None
        speaker = "citizen" if kind == "user" else ("operator" if operator else "bot")
        found.append({"i": index, "speaker": speaker, "text": text_for(role, text, names),
                      "at": event.get("timestamp"), "operator": operator})
    return found


def slots_of(tracker: dict[str, Any]) -> dict[str, Any]:
    slots = tracker.get("slots")
    return dict(slots) if isinstance(slots, dict) else {}


def prefill(handoff: Handoff, slots: dict[str, Any]) -> dict[str, Any]:
    """The ticket form's first values: the tracker's slots, else what the handoff recorded; placeholders such as
    a declined answer are left out."""
    values: dict[str, Any] = {}
    for name in FORM_FIELDS:
        value = slots.get(name)
        if value in (None, "") or (isinstance(value, str) and value.startswith("__")):
            value = handoff.collected.get(name)
        if value in (None, "") or (isinstance(value, str) and value.startswith("__")):
            continue
        values[name] = value
    values["confidential"] = values.get("confidential") in (True, "true", "yes", "是")
    return values


def seen_operators(engine: Engine, now: datetime, window_s: float) -> set[str]:
    """Operators whose workspace pinged within `window_s` seconds (read only; the store writes presence)."""
    since = now - timedelta(seconds=window_s)
    with engine.connect() as conn:
        rows = conn.execute(select(operator_presence.c.username).where(operator_presence.c.seen_at >= since))
        return {r.username for r in rows}
