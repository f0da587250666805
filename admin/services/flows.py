"""The dialogue files of FLOWS_DIR: read, change (validated first, then saved with a revision)."""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from ground.store import audit
from admin.config import FLOW_FILES
from ground.store.revisions import add_revision
from admin.services.validation import ValidationResult, validate_project

log = logging.getLogger(__name__)


class UnknownFile(KeyError):
    """Not one of the editable dialogue files."""


@dataclass
class SaveResult:
    saved: bool
    validation: ValidationResult
    revisions: list[int] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


class FlowFiles:
    """The editable dialogue files under `root` (paths relative to it, with `/`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def files(self) -> list[str]:
        found: list[str] = []
        for pattern in FLOW_FILES:
            found.extend(p.relative_to(self.root).as_posix() for p in sorted(self.root.glob(pattern)) if p.is_file())
        return found

    def nlu_files(self) -> list[str]:
        return [f for f in self.files() if f.startswith("nlu/")]

    def path(self, rel: str) -> Path:
        if rel not in self.files():
            raise UnknownFile(rel)
        return self.root / rel

    def read(self, rel: str) -> str:
        return self.path(rel).read_text(encoding="utf-8")

    def read_many(self, rels: list[str]) -> dict[str, str]:
        return {r: self.read(r) for r in rels}

    def staged_copy(self, changes: dict[str, str], target: Path) -> Path:
        """A copy of the project (config, domain, data/ with its links, the flow files) with `changes`."""
        for name in ("config.yml", "domain.yml"):
            if (self.root / name).is_file():
                shutil.copy2(self.root / name, target / name)
        if (self.root / "data").is_dir():
            shutil.copytree(self.root / "data", target / "data", symlinks=True)
        for rel in self.files():
            dest = target / rel
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(self.root / rel, dest)
        for rel, text in changes.items():
            dest = target / rel
            if dest.is_symlink():
                dest.unlink()
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8")
        return target

    def write(self, rel: str, text: str) -> None:
        """Atomic replace of one file (a reader never sees half a file)."""
        path = self.path(rel)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


class FlowService:
    """Validated, revisioned changes of the dialogue files; one change at a time."""

    def __init__(self, root: Path, engine: Engine, run_sync) -> None:
        self.files = FlowFiles(root)
        self.engine = engine
        self._run_sync = run_sync  # callable(func, *args) -> awaitable, runs in a worker thread
        self._lock = asyncio.Lock()

    async def save(self, author: str, changes: dict[str, str], summary: str) -> SaveResult:
        """Validate the project with `changes` applied; save them with a revision each only if valid."""
        async with self._lock:
            return await self._run_sync(self._save_sync, author, changes, summary)

    def _save_sync(self, author: str, changes: dict[str, str], summary: str) -> SaveResult:
        old = {rel: self.files.read(rel) for rel in changes}  # raises UnknownFile for anything else
        changed = {rel: text for rel, text in changes.items() if text != old[rel]}
        if not changed:
            return SaveResult(False, ValidationResult(True, [], ["没有改动"]))
        with tempfile.TemporaryDirectory(prefix="flows-") as tmp:
            result = validate_project(self.files.staged_copy(changed, Path(tmp)))
        if not result.ok:
            log.info("change by %s refused: %d errors", author, len(result.errors))
            return SaveResult(False, result)
        ids = []
        with self.engine.begin() as conn:  # a failed write rolls the revisions back
            for rel, text in changed.items():
                ids.append(add_revision(conn, rel, author, summary, old[rel], text))
            for rel, text in changed.items():
                self.files.write(rel, text)
        audit.record(self.engine, author, "flows.save", ", ".join(changed), {"summary": summary, "revisions": ids})
        return SaveResult(True, result, ids, list(changed))

    async def validate_current(self) -> ValidationResult:
        return await self._run_sync(validate_project, self.files.root)
