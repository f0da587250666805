"""Rasa's replies as WeChat text: buttons become numbered choices, a number maps back to its payload.

WeChat text messages have no buttons; the citizen answers with the number. Pure functions.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Optional

CHOOSE = "回复数字选择："
MAX_REPLY_CHARS = 600  # a passive text reply is limited to 2048 bytes; stay well under it

VOICE_NOT_RECOGNISED = "抱歉，没能识别您的语音。请直接发送文字说明您的诉求，或拨打12345热线。"
UNSUPPORTED = "目前只能处理文字和语音消息，请用文字描述您的诉求。"
DIGITS_RE = re.compile(r"^\s*([0-9０-９]{1,2})\s*[.。、]?\s*$")


def buttons_of(messages: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """Every button of the replies, in order: ``[{title, payload}]``."""
    out: list[dict[str, str]] = []
    for m in messages:
        for b in m.get("buttons") or ():
            if isinstance(b, dict):
                title = str(b.get("title", "")).strip()
                out.append({"title": title, "payload": str(b.get("payload") or title)})
    return out


def render(messages: Iterable[dict[str, Any]], numbered: bool = True) -> str:
    """One text for WeChat: the bot's texts, then "回复数字选择：1. … 2. …" when there are buttons.

    ``numbered=False`` (messages pushed outside a reply, whose numbers the channel cannot map back):
    the choices are listed by their words, "可回复：满意、不满意"."""
    messages = list(messages)
    texts = [str(m.get("text")).strip() for m in messages if m.get("text")]
    buttons = buttons_of(messages)
    if buttons and numbered:
        texts.append(CHOOSE + " ".join(f"{i}. {b['title']}" for i, b in enumerate(buttons, 1)))
    elif buttons:
        texts.append("可回复：" + "、".join(b["title"] for b in buttons))
    text = "\n".join(t for t in texts if t)
    return text[:MAX_REPLY_CHARS]


def choice(text: str, buttons: Optional[list[dict[str, str]]]) -> Optional[str]:
    """The payload of the button the citizen picked by its number, else None."""
    if not buttons:
        return None
    match = DIGITS_RE.match(text or "")
    if not match:
        return None
    number = int(match.group(1).translate(str.maketrans("０１２３４５６７８９", "0123456789")))
    if 1 <= number <= len(buttons):
        return buttons[number - 1]["payload"]
    return None
