"""The conversation around a knowledge-base answer, as plain functions: which entry was answered last,
whether a message is a question or says the answer was the wrong one, and the next candidate to offer."""
from __future__ import annotations

import re
from typing import Any, Iterable, Optional

from nlu.kb_index import CLARIFY_COVERAGE, Hit, KbIndex, key_terms, shares_key_entity

_QUESTION = re.compile(r"什么|啥|哪|多久|多长|多少|几|谁|怎么|咋|吗|呢|能不能|可不可以|是不是|要不要|[?？]")
# "不对" / "不是这个" / "答非所问": the answer was about something else (not "it did not solve it").
_WRONG = re.compile(r"不对|不是这个|不是这样|不是我(要|想)?问的|问的不是|答非所问|说的不是|不是这方面|错了|搞错|弄错|"
                    r"牛头不对马嘴|没听懂我|不是问这个|不是$|^不是")


def looks_like_question(text: str) -> bool:
    return bool(_QUESTION.search(text or ""))


def said_wrong_answer(text: str) -> bool:
    """The citizen says the answer was about something else ("不对", "不是我要问的")."""
    t = re.sub(r"[\s，,。.！!？?、~～…]+", "", text or "")
    return bool(_WRONG.search(t))


def last_answered(events: Iterable[dict[str, Any]]) -> Optional[str]:
    """The entry the knowledge base answered last in this conversation (its `kb_entry` set together with
    `kb_state = answered`), or None."""
    candidate = None
    for event in reversed(list(events or ())):
        if event.get("event") != "slot":
            continue
        if event.get("name") == "kb_entry":
            candidate = event.get("value")
        elif event.get("name") == "kb_state" and candidate:
            if event.get("value") == "answered":
                return candidate
            candidate = None
    return None


def next_candidate(index: KbIndex, query: str, exclude: Optional[str], k: int = 6) -> Optional[Hit]:
    """After "不对": the best other entry for `query` that shares its key entity and covers enough of it."""
    keys = key_terms(query)
    for hit in index.search(query, k=k):
        if hit.entry.key == exclude or hit.coverage < CLARIFY_COVERAGE:
            continue
        if shares_key_entity(query, hit.entry, keys):
            return hit
    return None
