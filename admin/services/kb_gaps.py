"""Knowledge gaps for the console: the store's unsolved consultations (ground.store.kb_gaps), grouped
by similar question, the group's nearest entry found by retrieval; masked for display."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Optional, Sequence

from sqlalchemy.engine import Engine

from ground.masking import mask_text
from ground.store import knowledge as repository
from ground.store.kb_gaps import GapQuestion, gap_questions
from ground.store.knowledge import Entry
from nlu.kb_index import KbIndex, key_terms

OVERLAP = 0.5  # Jaccard share of words two questions must share to be grouped without a common candidate
NEAR_COVERAGE = 0.5  # retrieval's best entry counts as a group's candidate from this coverage on


@dataclass
class Gap:
    """Similar unsolved questions; `candidate` is the entry retrieval ranks first for most of them."""

    questions: list[GapQuestion] = field(default_factory=list)
    candidate: Optional[str] = None
    words: frozenset = frozenset()

    @property
    def label(self) -> str:
        """The group's most typical question: the one sharing most words with the others (shortest on ties)."""
        return self.questions[0].query

    @property
    def last_seen(self) -> datetime:
        return max(q.created_at for q in self.questions)


def entity_characters(text: str) -> frozenset[str]:
    """The characters of a question's key entities ("养狗要办什么证", "养的狗要去哪办证" → {养, 狗}): Chinese
    questions about the same thing share them however the words are cut."""
    return frozenset("".join(key_terms(text)))


def group_gaps(questions: Sequence[GapQuestion], words: Callable[[str], Iterable[str]],
               candidate: Callable[[str], Optional[str]] | None = None, overlap: float = OVERLAP) -> list[Gap]:
    """Groups of similar questions, the largest (then the most recent) first.

    `words(text)` gives a question's content words; `candidate(text)` the entry retrieval ranks first
    (or None). Two questions go together when they have the same candidate or share `overlap` of their
    words (Jaccard).
    """
    groups: list[Gap] = []
    for q in questions:
        ws = frozenset(words(q.query))
        cand = candidate(q.query) if candidate else None
        home = next((g for g in groups if (cand and g.candidate == cand)
                     or (ws and g.words and len(ws & g.words) / len(ws | g.words) >= overlap)), None)
        if home is None:
            groups.append(Gap([q], cand, ws))
        else:
            home.questions.append(q)
            home.words = home.words | ws if not home.candidate or home.candidate == cand else home.words
    for g in groups:
        g.questions.sort(key=lambda q: (-_typicality(q, g, words), len(q.query)))
        counts = Counter(q.answered_with for q in g.questions if q.answered_with)
        if counts and not g.candidate:
            g.candidate = counts.most_common(1)[0][0]
    groups.sort(key=lambda g: (len(g.questions), g.last_seen), reverse=True)
    return groups


def _typicality(q: GapQuestion, gap: Gap, words: Callable[[str], Iterable[str]]) -> int:
    ws = set(words(q.query))
    return sum(len(ws & set(words(o.query))) for o in gap.questions if o is not q)


_INDEX_CACHE: dict[str, tuple[tuple, KbIndex]] = {}


def gap_groups(engine: Engine, days: int) -> tuple[list[Gap], dict[str, Entry]]:
    """The unsolved consultations of the last `days` days, masked and grouped, and the entries by key
    (runs in a worker thread; the index is rebuilt only when the entries changed)."""
    entries = repository.fetch_entries(engine)
    stamp = repository.version(engine)
    cached = _INDEX_CACHE.get("index")
    if cached is None or cached[0] != stamp:
        cached = (stamp, KbIndex(entries))
        _INDEX_CACHE["index"] = cached
    index = cached[1]

    def candidate(text: str) -> str | None:
        hits = index.search(text, k=1)
        return hits[0].entry.key if hits and hits[0].coverage >= NEAR_COVERAGE else None

    since = datetime.now(timezone.utc) - timedelta(days=days)
    questions = [replace(q, query=mask_text(q.query)) for q in gap_questions(engine, since=since)]
    return group_gaps(questions, words=entity_characters, candidate=candidate), {e.key: e for e in entries}
