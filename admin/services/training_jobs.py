"""Train a candidate model in the background from a snapshot of the dialogue files, then test it.

`rasa train` runs in a subprocess from the repository root, so it shares the training cache of
`seat train` (`.rasa/cache`, which records its entries by paths relative to the root; RASA_CACHE_DIRECTORY
overrides it): a change of response texts only repackages the model. Its output lines (and tqdm epoch bars) are kept for the
page to poll. Afterwards `rasa test nlu` and `rasa test core` run on the candidate and their summary is
stored with the model version.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import sys
import tempfile
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from ground.store import audit

from ground.store import model_registry

from admin.services import reports
from admin.config import AdminConfig
from admin.services.flows import FlowFiles
from ground.settings import REPO_ROOT
from ground.tables.tickets import utcnow

log = logging.getLogger(__name__)
MAX_LINES = 3000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_EPOCH = re.compile(r"Epochs:\s*(\d+)%")
_BAR = re.compile(r"^([^|:]{1,60}):\s*\d+%\|")  # a tqdm progress bar, e.g. "Processed trackers:  74%|"


@dataclass
class Job:
    id: str
    author: str
    state: str = "queued"        # queued, training, testing, done, failed
    phase: str = ""              # 训练 / NLU 测试 / 故事测试
    lines: deque = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    offset: int = 0              # number of lines dropped from the front
    progress: str = ""
    percent: int = 0
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    version_id: int | None = None
    report: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def add(self, line: str) -> None:
        line = _ANSI.sub("", line).rstrip()
        if not line:
            return
        m = _EPOCH.search(line)
        if m:
            self.percent = int(m.group(1))
            self.progress = line
        bar = _BAR.match(line)
        if bar and self.lines:
            previous = _BAR.match(self.lines[-1])
            if previous and previous.group(1) == bar.group(1):  # one line per bar, updated in place
                self.lines[-1] = line
                return
        if len(self.lines) == self.lines.maxlen:
            self.offset += 1
        self.lines.append(line)

    def since(self, n: int) -> tuple[list[str], int]:
        """Lines from absolute index n, and the index to ask from next time (the last line may change)."""
        start = max(n - self.offset, 0)
        items = list(self.lines)[start:]
        return items, self.offset + len(self.lines)

    def to_dict(self, since: int = 0) -> dict[str, Any]:
        lines, nxt = self.since(since)
        return {"id": self.id, "state": self.state, "phase": self.phase, "percent": self.percent,
                "progress": self.progress, "lines": lines, "next": max(nxt - 1, 0), "version_id": self.version_id,
                "report": self.report, "error": self.error, "author": self.author,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None}


class TrainingJobs:
    """One training at a time (2 cores); jobs kept in memory for the page, results in the database."""

    def __init__(self, config: AdminConfig, engine: Engine, run_tests: bool = True) -> None:
        self.config = config
        self.engine = engine
        self.run_tests = run_tests
        self.jobs: dict[str, Job] = {}
        self._task: asyncio.Task | None = None

    @property
    def running(self) -> Job | None:
        return next((j for j in self.jobs.values() if j.state in ("queued", "training", "testing")), None)

    def start(self, author: str) -> Job:
        if self.running is not None:
            raise RuntimeError("已有一个训练任务在进行")
        job = Job(id=utcnow().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6], author=author)
        self.jobs[job.id] = job
        self._task = asyncio.create_task(self._run(job))
        return job

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env.update(PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2", SQLALCHEMY_SILENCE_UBER_WARNING="1",
                   RASA_TELEMETRY_ENABLED="false")
        return env

    async def _exec(self, job: Job, argv: list[str], cwd: Path) -> int:
        job.add("$ " + " ".join(a if " " not in a else repr(a) for a in argv[1:]))
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=str(cwd), env=self._env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)
        assert proc.stdout is not None
        buffer = b""
        try:
            while True:
                chunk = await proc.stdout.read(4096)
                if not chunk:
                    break
                buffer += chunk
                parts = re.split(rb"[\r\n]", buffer)
                buffer = parts.pop()
                for part in parts:
                    job.add(part.decode("utf-8", "replace"))
            job.add(buffer.decode("utf-8", "replace"))
            return await proc.wait()
        except asyncio.CancelledError:
            proc.kill()
            await proc.wait()
            raise

    async def _run(self, job: Job) -> None:
        cfg = self.config
        try:
            cfg.candidates_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix="train-") as tmp:
                work = FlowFiles(cfg.flows_dir).staged_copy({}, Path(tmp))  # edits during training do not mix in
                name = f"candidate-{job.id}"
                job.state, job.phase = "training", "训练"
                code = await self._exec(job, [sys.executable, "-m", "rasa", "train", "--config", str(work / "config.yml"),
                                              "--domain", str(work / "domain.yml"), "--data", str(work / "data"),
                                              "--out", str(cfg.candidates_dir), "--fixed-model-name", name], REPO_ROOT)
            model = cfg.candidates_dir / f"{name}.tar.gz"
            if code != 0 or not model.exists():
                raise RuntimeError(f"rasa train 失败（退出码 {code}）")
            version = await asyncio.to_thread(model_registry.add_version, self.engine, name, model, job.author)
            job.version_id = version.id
            await asyncio.to_thread(audit.record, self.engine, job.author, "model.train", name, {"job": job.id})
            if self.run_tests:
                job.state = "testing"
                job.report = await self._test(job, model)
                await asyncio.to_thread(model_registry.set_report, self.engine, version.id, job.report)
            job.state, job.phase = "done", "完成"
        except asyncio.CancelledError:
            job.state, job.error = "failed", "已取消"
            raise
        except Exception as exc:  # shown on the page; the console keeps running
            log.exception("training job %s failed", job.id)
            job.state, job.error = "failed", str(exc)
        finally:
            job.finished_at = utcnow()

    async def _test(self, job: Job, model: Path) -> dict[str, Any]:
        cfg = self.config
        out = cfg.candidates_dir / f"{model.name[:-len('.tar.gz')]}-report"
        shutil.rmtree(out, ignore_errors=True)
        report: dict[str, Any] = {}
        if cfg.nlu_test_dir.exists():
            job.phase = "NLU 测试"
            code = await self._exec(job, [sys.executable, "-m", "rasa", "test", "nlu", "--nlu", str(cfg.nlu_test_dir),
                                          "--model", str(model), "--out", str(out / "nlu")], REPO_ROOT)
            report["nlu"] = reports.nlu_summary(out / "nlu") if code == 0 else {"ok": False, "error": f"退出码 {code}"}
        if cfg.story_test_dir.exists():
            job.phase = "故事测试"
            code = await self._exec(job, [sys.executable, "-m", "rasa", "test", "core", "--stories",
                                          str(cfg.story_test_dir), "--model", str(model), "--out", str(out / "core")],
                                    REPO_ROOT)
            report["core"] = reports.core_summary(out / "core") if code == 0 else {"ok": False, "error": f"退出码 {code}"}
        return report
