"""Answers short enough to speak: split at sentence ends."""
from __future__ import annotations

import re

MAX_CHUNK = 40  # about ten seconds of speech
_SENTENCE = re.compile(r"(?<=[。！？；])")


def with_source(answer: str, source: str | None) -> str:
    """The answer naming what it is based on, briefly (it is also spoken): "…（依据：《…》）"."""
    source = (source or "").strip()
    if not source or source in answer:
        return answer
    return f"{answer.rstrip()}（依据：{source}）"


def split_answer(answer: str, limit: int = MAX_CHUNK) -> list[str]:
    """Chunks of at most `limit` characters where possible, cut only after a sentence."""
    chunks: list[str] = []
    for sentence in (s for s in _SENTENCE.split(answer.strip()) if s):
        if chunks and len(chunks[-1]) + len(sentence) <= limit:
            chunks[-1] += sentence
        else:
            chunks.append(sentence)
    return chunks or [answer]
