"""Domain synonyms of government-service Mandarin (ground/data/kb_synonyms.yml), folded into one word.

The same rewrite runs over the entries when the index is built and over each question, so "二代证丢了"
and "身份证丢失" meet on the same terms. The map is data: editing the file needs no retraining.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from ground.settings import DATA_DIR, REPO_ROOT

SYNONYMS_FILE = DATA_DIR / "kb_synonyms.yml"


class Synonyms:
    """Rewrites every variant to its canonical word, longest variant first, in one regex pass."""

    def __init__(self, groups: dict[str, list[str]]) -> None:
        self.canonical: dict[str, str] = {}
        for word, variants in groups.items():
            for variant in variants or []:
                variant = str(variant).lower()
                if variant and variant != word:
                    if variant in self.canonical and self.canonical[variant] != word:
                        raise ValueError(f"synonym {variant!r} maps to both {self.canonical[variant]!r} and {word!r}")
                    self.canonical[variant] = str(word)
        alternatives = sorted(self.canonical, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def fold(self, text: str) -> str:
        """`text` (lower-cased) with each variant replaced by its canonical word."""
        text = text.lower()
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.canonical[m.group(0)], text)

    @classmethod
    def from_file(cls, path: Path = SYNONYMS_FILE) -> "Synonyms":
        """The map in `path` (`synonyms: {canonical: [variants]}`); a missing file is an empty map."""
        if not path.exists():
            return cls({})
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        groups = data.get("synonyms") or {}
        if not isinstance(groups, dict):
            raise ValueError(f"{path}: `synonyms` must map a word to a list of variants")
        return cls({str(k): [str(v) for v in (vs or [])] for k, vs in groups.items()})


@lru_cache(maxsize=1)
def default_synonyms() -> Synonyms:
    """The project's map, read once per process."""
    return Synonyms.from_file()
