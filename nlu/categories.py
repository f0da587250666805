"""Ticket category from the citizen's description: weighted keywords from a configurable file.

Scoring: every keyword occurrence is found; overlapping occurrences keep the longest keyword
("暖气漏水" beats "漏水", "不给交社保" beats "社保"); each distinct keyword adds its weight once to
its category. Confidence of a category = score / (sum of all scores + 1.5), so one strong match
gives ~0.7, several agreeing matches approach 1, and competing categories share the mass.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nlu.digits import to_halfwidth
from ground.settings import current

DEFAULT_WEIGHT = 2.0
_SMOOTHING = 1.5


@dataclass(frozen=True)
class Category:
    """One configured category."""

    name: str
    department: str | None
    local: bool
    keywords: dict[str, float] = field(default_factory=dict)
    fallback: bool = False
    ask_when: bool = False  # the time of occurrence matters (asked when the citizen did not say it)
    parent: str | None = None  # the broader class a fine category belongs to (e.g. 水电气 for 供电)

    @property
    def label(self) -> str:
        """What a ticket records: "parent/name" for a fine category, else the name."""
        return f"{self.parent}/{self.name}" if self.parent else self.name


def categories_file() -> Path:
    """SEAT_CATEGORIES_FILE or the file in the repo."""
    return current().files.categories


def _keywords(raw: object) -> dict[str, float]:
    if not raw:
        return {}
    if isinstance(raw, dict):
        items = raw.items()
    elif isinstance(raw, list):
        items = []
        for item in raw:
            if isinstance(item, dict):
                items.extend(item.items())
            else:
                items.append((item, DEFAULT_WEIGHT))
    else:
        raise ValueError(f"keywords must be a mapping or a list, got {type(raw).__name__}")
    return {to_halfwidth(str(k)).lower().strip(): float(v if v is not None else DEFAULT_WEIGHT) for k, v in items if str(k).strip()}


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> tuple[Category, ...]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    cats = []
    for entry in data.get("categories") or []:
        name = str(entry.get("name") or "").strip()
        if not name:
            raise ValueError(f"{path}: a category without a name")
        cats.append(Category(
            name=name,
            department=entry.get("department") or None,
            local=bool(entry.get("local", False)),
            keywords=_keywords(entry.get("keywords")),
            fallback=bool(entry.get("fallback", False)),
            ask_when=bool(entry.get("ask_when", False)),
            parent=entry.get("parent") or None,
        ))
    if not cats:
        raise ValueError(f"{path}: no categories")
    return tuple(cats)


def category_config(path: str | os.PathLike | None = None) -> list[Category]:
    """The configured categories (re-read when the file changes)."""
    p = str(path or categories_file())
    return list(_load(p, os.path.getmtime(p)))


def category_names() -> list[str]:
    """All category labels in file order."""
    return [c.name for c in category_config()]


def fallback_category() -> str:
    """The category used when nothing matches ("其他")."""
    cats = category_config()
    return next((c.name for c in cats if c.fallback), cats[-1].name)


def _by_name(name: str) -> Category | None:
    """The category of a name or a "parent/name" label."""
    name = name.rsplit("/", 1)[-1]
    return next((c for c in category_config() if c.name == name), None)


def label_of(name: str) -> str:
    """The label a ticket records for a category name ("供电" -> "水电气/供电")."""
    cat = _by_name(name)
    return cat.label if cat else name


def department_for(category: str) -> str | None:
    """The responsible department's unit code for a category label, else None."""
    cat = _by_name(category)
    return cat.department if cat else None


def asks_when(category: str) -> bool:
    """Whether tickets of this category need the time of occurrence."""
    cat = _by_name(category)
    return bool(cat and cat.ask_when)


def is_local(category: str) -> bool:
    """Whether the street office / district government usually handles the category first."""
    cat = _by_name(category)
    return bool(cat and cat.local)


@functools.lru_cache(maxsize=4)
def _owners(path: str, mtime: float) -> dict[str, tuple[tuple[str, float], ...]]:
    owners: dict[str, list[tuple[str, float]]] = {}
    for cat in _load(path, mtime):
        for word, weight in cat.keywords.items():
            owners.setdefault(word, []).append((cat.name, weight))
    return {w: tuple(v) for w, v in owners.items()}


def _current_owners() -> dict[str, tuple[tuple[str, float], ...]]:
    p = str(categories_file())
    return _owners(p, os.path.getmtime(p))


def keyword_hits(text: str) -> list[tuple[str, int, int]]:
    """Non-overlapping keyword occurrences (word, start, end) in text order; longer keywords win overlaps."""
    norm = to_halfwidth(text or "").lower()
    occurrences = []
    for word in _current_owners():
        pos = norm.find(word)
        while pos >= 0:
            occurrences.append((word, pos, pos + len(word)))
            pos = norm.find(word, pos + 1)
    taken = [False] * len(norm)
    found: list[tuple[str, int, int]] = []
    for word, start, end in sorted(occurrences, key=lambda h: (h[1] - h[2], h[1])):
        if not any(taken[start:end]):
            found.append((word, start, end))
            taken[start:end] = [True] * (end - start)
    return sorted(found, key=lambda h: h[1])


def classify(text: str) -> list[tuple[str, float]]:
    """Categories with a confidence in (0, 1), best first; empty when no keyword matches."""
    owners = _current_owners()
    scores: dict[str, float] = {}
    seen: set[str] = set()
    for word, _, _ in keyword_hits(text):
        if word in seen:
            continue
        seen.add(word)
        for name, weight in owners[word]:
            scores[name] = scores.get(name, 0.0) + weight
    total = sum(scores.values())
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], category_names().index(kv[0])))
    return [(name, round(score / (total + _SMOOTHING), 3)) for name, score in ranked if score > 0]


def best_category(text: str, threshold: float = 0.0) -> str:
    """The top category when its confidence reaches `threshold`, else the fallback ("其他")."""
    ranked = classify(text)
    return ranked[0][0] if ranked and ranked[0][1] >= threshold else fallback_category()
