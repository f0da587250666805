"""Knowledge-base entries and answer outcomes in the database; seeding from the YAML files in the repo."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from ground.tables.knowledge import KB_ANSWER_KINDS, KB_STATUSES, kb_answers, kb_entries
from ground.settings import DATA_DIR, REPO_ROOT

logger = logging.getLogger(__name__)
DEFAULT_KB_DIR = DATA_DIR / "kb"


@dataclass(frozen=True)
class Entry:
    """One knowledge-base entry as retrieval sees it."""

    key: str
    topic: str
    question: str
    paraphrases: tuple[str, ...]
    answer: str
    department: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    status: str = "active"
    source: str | None = None  # what the answer is based on, named to the citizen
    review_by: date | None = None  # due for review after this day

    def review_due(self, day: date) -> bool:
        """Past its review date on `day` (the console flags it; the seat still answers with it)."""
        return self.review_by is not None and self.review_by < day

    def valid_on(self, day: date) -> bool:
        return self.status == "active" and (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to)


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


_DEFAULTABLE = frozenset({"source", "review_by", "department", "valid_from", "valid_to", "status"})


def _day(raw: dict, name: str, path: Path, key: str) -> date | None:
    try:
        return _date(raw.get(name))
    except ValueError:
        raise ValueError(f"{path.name}: {key}: {name} must be a date YYYY-MM-DD, not {raw.get(name)!r}") from None


def read_kb_files(directory: Path = DEFAULT_KB_DIR) -> list[Entry]:
    """Entries from every `*.yml` file in `directory` (one topic a file); raises on bad or duplicate ids.

    A file's optional `defaults:` mapping fills the fields an entry lacks (e.g. `source`, `review_by`,
    `department`), so a topic's common source and review date are written once.
    """
    entries: dict[str, Entry] = {}
    for path in sorted(directory.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        topic = str(data.get("topic") or path.stem)
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict) or set(defaults) - _DEFAULTABLE:
            raise ValueError(f"{path.name}: `defaults` may only set {sorted(_DEFAULTABLE)}")
        for raw in data.get("entries") or []:
            raw = {**defaults, **{k: v for k, v in (raw or {}).items() if v not in (None, "")}}
            key = str(raw.get("id") or "").strip()
            if not key or not raw.get("question") or not raw.get("answer"):
                raise ValueError(f"{path.name}: an entry needs id, question and answer ({raw!r:.80})")
            if key in entries:
                raise ValueError(f"{path.name}: duplicate entry id {key}")
            status = str(raw.get("status") or "active")
            if status not in KB_STATUSES:
                raise ValueError(f"{path.name}: {key}: status must be one of {KB_STATUSES}")
            entries[key] = Entry(
                key=key, topic=topic, question=str(raw["question"]).strip(),
                paraphrases=tuple(str(p).strip() for p in raw.get("paraphrases") or [] if str(p).strip()),
                answer=" ".join(str(raw["answer"]).split()), department=raw.get("department") or None,
                valid_from=_date(raw.get("valid_from")), valid_to=_date(raw.get("valid_to")), status=status,
                source=" ".join(str(raw.get("source") or "").split()) or None, review_by=_day(raw, "review_by", path, key),
            )
    return list(entries.values())


def _row(entry: Entry) -> dict[str, Any]:
    return {
        "entry_key": entry.key, "topic": entry.topic, "question": entry.question,
        "paraphrases": list(entry.paraphrases), "answer": entry.answer, "department": entry.department,
        "valid_from": entry.valid_from, "valid_to": entry.valid_to, "status": entry.status,
        "source": entry.source, "review_by": entry.review_by,
    }


def upsert_entries(engine: Engine, entries: Iterable[Entry], update_existing: bool = True) -> tuple[int, int]:
    """Insert new entries and (if asked) update changed ones, by id; returns (added, updated). Idempotent.

    Without `update_existing` an existing entry keeps its (maybe edited) content, but a source or review
    date it lacks is filled in from `entries` (entries stored before those fields existed).
    """
    added = updated = 0
    with engine.begin() as conn:
        existing = {r.entry_key: r for r in conn.execute(select(kb_entries))}
        for entry in entries:
            row = _row(entry)
            old = existing.get(entry.key)
            if old is None:
                conn.execute(kb_entries.insert().values(**row, updated_at=datetime.now(timezone.utc)))
                added += 1
            elif not update_existing:
                missing = {k: row[k] for k in ("source", "review_by") if getattr(old, k) is None and row[k] is not None}
                if missing:
                    conn.execute(update(kb_entries).where(kb_entries.c.entry_key == entry.key)
                                 .values(**missing, updated_at=datetime.now(timezone.utc)))
                    updated += 1
            elif update_existing and any(getattr(old, k) != v for k, v in row.items()):
                conn.execute(update(kb_entries).where(kb_entries.c.entry_key == entry.key)
                             .values(**row, updated_at=datetime.now(timezone.utc)))
                updated += 1
    return added, updated


def load_kb(engine: Engine, directory: Path = DEFAULT_KB_DIR, update_existing: bool = False) -> tuple[int, int]:
    """Seed the database from the repo's files: new entries are added; existing ones (maybe edited by an
    admin since) are overwritten only with `update_existing`."""
    return upsert_entries(engine, read_kb_files(directory), update_existing)


def fetch_entries(engine: Engine) -> list[Entry]:
    """Every entry in the database (retrieval filters by status and validity)."""
    with engine.connect() as conn:
        rows = conn.execute(select(kb_entries).order_by(kb_entries.c.entry_key)).all()
    return [Entry(key=r.entry_key, topic=r.topic, question=r.question, paraphrases=tuple(r.paraphrases or ()),
                  answer=r.answer, department=r.department, valid_from=r.valid_from, valid_to=r.valid_to,
                  status=r.status, source=r.source, review_by=r.review_by) for r in rows]


def version(engine: Engine) -> tuple[int, str]:
    """A cheap stamp that changes whenever an entry is added, edited or retired."""
    with engine.connect() as conn:
        count, latest = conn.execute(select(func.count(), func.max(kb_entries.c.updated_at))).one()
    return int(count or 0), str(latest)


def record_answer(engine: Engine, conversation_id: str, entry_key: str | None, query: str, score: float, channel: str,
                  kind: str = "answer") -> int:
    """Remember how the knowledge base met this consultation (answer / clarify / none); returns the record id."""
    if kind not in KB_ANSWER_KINDS:
        raise ValueError(f"kind must be one of {KB_ANSWER_KINDS}")
    with engine.begin() as conn:
        result = conn.execute(kb_answers.insert().values(
            conversation_id=conversation_id, entry_key=entry_key, kind=kind, query=query,
            score=int(round(score * 1000)), channel=channel, created_at=datetime.now(timezone.utc)))
        return int(result.inserted_primary_key[0])


def revise_answer(engine: Engine, answer_id: int, entry_key: str, kind: str) -> None:
    """The same consultation met again: the citizen accepted the proposed entry (`answer`), or is offered
    another one after "不对" (`clarify`). One consultation stays one record."""
    if kind not in KB_ANSWER_KINDS:
        raise ValueError(f"kind must be one of {KB_ANSWER_KINDS}")
    with engine.begin() as conn:
        conn.execute(update(kb_answers).where(kb_answers.c.id == answer_id).values(entry_key=entry_key, kind=kind))


def set_outcome(engine: Engine, answer_id: int, resolved: bool, ticket_no: str | None = None) -> None:
    """The citizen's word on an answer: solved, or not (then maybe a ticket)."""
    values: dict[str, Any] = {"resolved": resolved}
    if ticket_no:
        values["ticket_no"] = ticket_no
    with engine.begin() as conn:
        conn.execute(update(kb_answers).where(kb_answers.c.id == answer_id).values(**values))
