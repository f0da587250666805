"""The ticket-status sentence the seat says and shows: the status of a ticket and when it
last changed (operators' notes are internal and never said).

A plain function (no Rasa): the status action (``bot.actions.status``) says it, and the citizen page's status
page (``web.form``) shows it.
"""
from __future__ import annotations

from typing import Any, List

from ground.settings import HOTLINE_TZ

STATUS_WORDS = {"new": "已登记，正在等待派单", "dispatched": "已派发给承办单位", "in_progress": "承办单位正在办理", "closed": "已办结"}


def status_message(ticket: Any, events: List[Any]) -> str:
    """Status and when it last changed, in one speakable sentence (no internal note)."""
    state = STATUS_WORDS.get(ticket.status, ticket.status)
    last = events[-1] if events else None
    when = getattr(last, "created_at", None) or ticket.updated_at
    text = f"您的工单{ticket.ticket_no}目前{state}"
    if when is not None:
        local = when.astimezone(HOTLINE_TZ)
        text += f"，最近一次更新是{local.month}月{local.day}日{local.hour}点{local.minute:02d}分"
    # The events' notes are the operators' internal notes (reassignments, reopen requests, remarks
    # for colleagues): never read to the citizen (issue 13, finding 9).
    return text + "。"
