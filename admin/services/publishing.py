"""Publish a model to every running Rasa server with no downtime, keep every published model, roll back.

Rasa's `PUT /model` loads the new model next to the old one and swaps them once it is loaded, so
conversations in progress keep being answered. Published files are kept in <models dir>/published/; the pointer
`<models dir>/published/current` (ground.rasa_models, the one source of truth for the active model) names the
active one, so `seat run` starts with it after a restart: both read the models dir from the same setting.
"""
from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.engine import Engine

from ground.store import audit

from ground.store import model_registry
from admin.config import AdminConfig
from ground.settings import REPO_ROOT
from ground.rasa_models import point_to, published_model

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """A server refused the model or could not be reached (the others may have it already)."""


@dataclass
class ServerStatus:
    url: str
    ok: bool
    model_file: str | None = None
    model_id: str | None = None
    error: str | None = None


class Publisher:
    def __init__(self, config: AdminConfig, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        self._lock = asyncio.Lock()

    def _token(self) -> str:
        return self.config.rasa_auth_token()

    async def status(self) -> list[ServerStatus]:
        """What each Rasa server runs now (GET /status)."""
        token = await asyncio.to_thread(self._token)
        result = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            for url in self.config.rasa_urls:
                try:
                    async with http.get(f"{url}/status", params={"token": token}) as resp:
                        if resp.status != 200:
                            result.append(ServerStatus(url, False, error=f"HTTP {resp.status}"))
                            continue
                        body = await resp.json()
                        result.append(ServerStatus(url, True, body.get("model_file"), body.get("model_id")))
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    result.append(ServerStatus(url, False, error=type(exc).__name__))
        return result

    async def adopt_running_model(self, actor: str) -> model_registry.ModelVersion | None:
        """Before the first publish: keep the model the servers run now as a version to roll back to."""
        if await asyncio.to_thread(published_model, self.config.models_dir) is not None:
            return None
        for server in await self.status():
            path = self._find_model(server.model_file)
            if path is not None:
                version = await asyncio.to_thread(model_registry.add_version, self.engine,
                                                  "initial-" + path.name[: -len(".tar.gz")], path, None)
                kept = await asyncio.to_thread(self._keep, path)
                await asyncio.to_thread(model_registry.mark_published, self.engine, version.id, kept, actor)
                await asyncio.to_thread(point_to, self.config.models_dir, kept)  # what the servers run is active
                await asyncio.to_thread(audit.record, self.engine, actor, "model.adopt", version.name,
                                        {"file": str(kept)})
                return version
        return None

    def _find_model(self, model_file: str | None) -> Path | None:
        """The file of a model a server reports in /status (Rasa gives the file name only)."""
        if not model_file:
            return None
        path = Path(model_file)
        if path.is_absolute():
            return path if path.is_file() else None
        for directory in (self.config.published_dir, self.config.models_dir, self.config.candidates_dir,
                          REPO_ROOT / "models"):
            if (directory / path.name).is_file():
                return directory / path.name
        return None

    def _keep(self, model: Path) -> Path:
        """The model's copy in models/published/ (copied there once)."""
        self.config.published_dir.mkdir(parents=True, exist_ok=True)
        target = self.config.published_dir / model.name
        if model.resolve() != target.resolve() and not target.exists():
            tmp = target.with_suffix(".part")
            shutil.copy2(model, tmp)
            tmp.replace(target)
        return target

    async def _load_everywhere(self, path: Path) -> list[dict[str, Any]]:
        token = await asyncio.to_thread(self._token)
        results = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
            for url in self.config.rasa_urls:  # one after the other: the others keep answering
                try:
                    async with http.put(f"{url}/model", params={"token": token},
                                        json={"model_file": str(path)}) as resp:
                        text = await resp.text()
                        results.append({"url": url, "status": resp.status, "ok": resp.status == 204,
                                        "detail": text[:300]})
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    results.append({"url": url, "status": None, "ok": False, "detail": type(exc).__name__})
        return results

    async def publish(self, version_id: int, actor: str, action: str = "model.publish") -> list[dict[str, Any]]:
        """Load the version on every server; it becomes the active one if all of them took it."""
        async with self._lock:
            version = await asyncio.to_thread(model_registry.get_version, self.engine, version_id)
            if version is None:
                raise PublishError(f"没有模型版本 {version_id}")
            source = Path(version.file)
            if not source.is_file():
                raise PublishError(f"模型文件不存在：{source}")
            await self.adopt_running_model(actor)
            kept = await asyncio.to_thread(self._keep, source)
            results = await self._load_everywhere(kept)
            ok = all(r["ok"] for r in results)
            await asyncio.to_thread(audit.record, self.engine, actor, action, version.name,
                                    {"file": str(kept), "servers": results})
            if not ok:
                raise PublishError("部分服务器加载失败：" + "; ".join(
                    f"{r['url']} {r['status']} {r['detail']}" for r in results if not r["ok"]))
            await asyncio.to_thread(model_registry.mark_published, self.engine, version_id, kept, actor)
            await asyncio.to_thread(point_to, self.config.models_dir, kept)  # the commit point: active now
            log.info("%s: %s is active on %d servers", action, version.name, len(results))
            return results

    async def rollback(self, version_id: int, actor: str) -> list[dict[str, Any]]:
        version = await asyncio.to_thread(model_registry.get_version, self.engine, version_id)
        if version is None or not version.published:
            raise PublishError("只能回滚到已发布过的版本")
        return await self.publish(version_id, actor, action="model.rollback")
