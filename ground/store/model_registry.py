"""The model_versions table: candidates and published versions.

Which version is active is not stored here: the published pointer (ground.rasa_models) is the one source of
truth, and a version is active when it names that version's file. (The table's `active` column is no longer
read or written.)"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from ground.rasa_models import published_model
from ground.tables.console import model_versions
from ground.tables.tickets import utcnow


@dataclass(frozen=True)
class ModelVersion:
    id: int
    name: str
    file: str
    sha256: str
    trained_at: datetime | None
    trained_by: str | None
    test_report: Any
    published_at: datetime | None
    published_by: str | None
    active: bool  # derived: the published pointer names this version's file

    @property
    def published(self) -> bool:
        return self.published_at is not None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_file(file: str, active: Path | None) -> bool:
    """Whether a version's file is the active one (also when the models dir was moved since it was published)."""
    path = Path(file)
    return active is not None and path.name == active.name and path.parent.name == active.parent.name


def _version(row, active: Path | None = None) -> ModelVersion:
    return ModelVersion(row.id, row.name, row.file, row.sha256, row.trained_at, row.trained_by, row.test_report,
                        row.published_at, row.published_by, row.published_at is not None and _is_file(row.file, active))


def add_version(engine: Engine, name: str, file: Path, trained_by: str | None,
                trained_at: datetime | None = None) -> ModelVersion:
    with engine.begin() as conn:
        new_id = conn.execute(model_versions.insert().values(
            name=name, file=str(file), sha256=sha256_of(file), trained_at=trained_at or utcnow(),
            trained_by=trained_by)).inserted_primary_key[0]
    found = get_version(engine, int(new_id))
    assert found is not None
    return found


def set_report(engine: Engine, version_id: int, report: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(update(model_versions).where(model_versions.c.id == version_id).values(test_report=report))


def get_version(engine: Engine, version_id: int) -> ModelVersion | None:
    with engine.connect() as conn:
        row = conn.execute(select(model_versions).where(model_versions.c.id == version_id)).first()
    return _version(row) if row is not None else None


def list_versions(engine: Engine, models_dir: Path | None = None) -> list[ModelVersion]:
    """Every version, newest first; `active` marks the one the published pointer under `models_dir` names."""
    active = published_model(models_dir) if models_dir is not None else None
    with engine.connect() as conn:
        return [_version(r, active) for r in conn.execute(select(model_versions).order_by(model_versions.c.id.desc()))]


def active_version(engine: Engine, models_dir: Path) -> ModelVersion | None:
    """The version the published pointer under `models_dir` names (None: nothing published from the console)."""
    return next((v for v in list_versions(engine, models_dir) if v.active), None)


def mark_published(engine: Engine, version_id: int, file: Path, actor: str) -> None:
    """This version was published from `file` (the first publish time is kept); the pointer makes it active."""
    now = utcnow()
    with engine.begin() as conn:
        row = conn.execute(select(model_versions).where(model_versions.c.id == version_id)).first()
        values: dict[str, Any] = {"file": str(file)}
        if row.published_at is None:
            values.update(published_at=now, published_by=actor)
        conn.execute(update(model_versions).where(model_versions.c.id == version_id).values(**values))
