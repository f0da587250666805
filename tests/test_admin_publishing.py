"""Publishing and roll back against recording fake Rasa servers (the real one is in tests/e2e)."""
from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ground.store import audit

from ground.store import model_registry
from admin.config import AdminConfig
from admin.services.publishing import PublishError, Publisher
from ground.settings import REPO_ROOT, Settings, current


class FakeRasa:
    """Answers /status and PUT /model like Rasa, and records every load."""

    def __init__(self, model_file: str, fail: bool = False) -> None:
        self.model_file, self.fail, self.loads = model_file, fail, []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/status", self.status)
        app.router.add_put("/model", self.load)
        return app

    async def status(self, request: web.Request) -> web.Response:
        if request.query.get("token") != "tok":
            return web.json_response({}, status=401)
        return web.json_response({"model_file": Path(self.model_file).name, "model_id": "x"})

    async def load(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.loads.append((request.query.get("token"), body["model_file"]))
        if self.fail:
            return web.json_response({"reason": "LoadingError"}, status=500)
        self.model_file = body["model_file"]
        return web.Response(status=204)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    (tmp_path / "models" / "candidates").mkdir(parents=True)
    (tmp_path / "models" / "seat-old.tar.gz").write_bytes(b"old model")
    (tmp_path / "models" / "candidates" / "candidate-1.tar.gz").write_bytes(b"new model")
    return tmp_path / "models"


async def _servers(*fakes: FakeRasa) -> list[TestServer]:
    servers = [TestServer(f.app()) for f in fakes]
    for s in servers:
        await s.start_server()
    return servers


async def test_publish_to_every_server_then_roll_back(models: Path, clean_db, database_url) -> None:
    fakes = [FakeRasa("seat-old.tar.gz"), FakeRasa("seat-old.tar.gz")]
    servers = await _servers(*fakes)
    try:
        config = AdminConfig(settings=Settings.from_env({"DATABASE_URL": database_url}), models_dir=models,
                             rasa_token="tok",
                             rasa_urls=tuple(str(s.make_url("")).rstrip("/") for s in servers))
        publisher = Publisher(config, clean_db)
        candidate = model_registry.add_version(clean_db, "candidate-1", models / "candidates" / "candidate-1.tar.gz", "ed")
        results = await publisher.publish(candidate.id, "ed")
        kept = models / "published" / "candidate-1.tar.gz"
        assert [r["ok"] for r in results] == [True, True]
        assert [f.loads for f in fakes] == [[("tok", str(kept))]] * 2
        assert kept.read_bytes() == b"new model"
        assert (models / "published" / "current").read_text().strip() == "candidate-1.tar.gz"
        versions = {v.name: v for v in model_registry.list_versions(clean_db, models)}
        assert versions["candidate-1"].active and versions["initial-seat-old"].published  # the running one, kept
        await publisher.rollback(versions["initial-seat-old"].id, "ed")
        assert fakes[0].loads[-1] == ("tok", str(models / "published" / "seat-old.tar.gz"))
        assert (models / "published" / "current").read_text().strip() == "seat-old.tar.gz"
        assert model_registry.active_version(clean_db, models).name == "initial-seat-old"
        assert [e.action for e in audit.recent(clean_db)] == ["model.rollback", "model.publish", "model.adopt"]
        with pytest.raises(PublishError):
            await publisher.rollback(candidate.id + 100, "ed")
    finally:
        for s in servers:
            await s.close()


async def test_a_refusing_server_leaves_the_active_version(models: Path, clean_db, database_url) -> None:
    fakes = [FakeRasa("seat-old.tar.gz"), FakeRasa("seat-old.tar.gz", fail=True)]
    servers = await _servers(*fakes)
    try:
        config = AdminConfig(settings=Settings.from_env({"DATABASE_URL": database_url}), models_dir=models,
                             rasa_token="tok",
                             rasa_urls=tuple(str(s.make_url("")).rstrip("/") for s in servers))
        candidate = model_registry.add_version(clean_db, "candidate-1", models / "candidates" / "candidate-1.tar.gz", "ed")
        with pytest.raises(PublishError, match="部分服务器加载失败"):
            await Publisher(config, clean_db).publish(candidate.id, "ed")
        assert model_registry.active_version(clean_db, models).name == "initial-seat-old"  # what the servers ran
        assert (models / "published" / "current").read_text().strip() == "seat-old.tar.gz"
        assert "model.publish" in [e.action for e in audit.recent(clean_db)]
    finally:
        for s in servers:
            await s.close()


def _seat_run_model(monkeypatch, env: dict[str, str]) -> Path:
    """Start the seat as `seat run` does after a restart (fresh process settings from `env`): the model Rasa gets."""
    from seat import cli

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    current.cache_clear()  # a new process: its settings are built afresh from the environment
    started: list = []
    monkeypatch.chdir(REPO_ROOT)  # `seat run` changes to the repository: restored afterwards
    monkeypatch.setattr(cli, "_launch", lambda services: started.extend(services) or 0)
    assert cli.main(["run"]) == 0
    [rasa] = [s for s in started if s.name == "rasa"]
    return Path(rasa.argv[list(rasa.argv).index("--model") + 1])


async def test_a_restart_serves_the_model_published_under_admin_models_dir(tmp_path: Path, monkeypatch, clean_db,
                                                                          database_url) -> None:
    models = tmp_path / "elsewhere"  # not <repo>/models: ADMIN_MODELS_DIR moves candidates and published models
    (models / "candidates").mkdir(parents=True)
    (models / "seat-old.tar.gz").write_bytes(b"old model")
    (models / "candidates" / "candidate-1.tar.gz").write_bytes(b"new model")
    fakes = [FakeRasa("seat-old.tar.gz")]
    servers = await _servers(*fakes)
    try:
        env = {"DATABASE_URL": database_url, "ADMIN_MODELS_DIR": str(models), "RASA_AUTH_TOKEN": "tok",
               "RASA_URLS": str(servers[0].make_url("")).rstrip("/")}
        publisher = Publisher(AdminConfig.from_settings(Settings.from_env(env)), clean_db)
        candidate = model_registry.add_version(clean_db, "candidate-1", models / "candidates" / "candidate-1.tar.gz",
                                               "ed")
        await publisher.publish(candidate.id, "ed")
        assert _seat_run_model(monkeypatch, env) == models / "published" / "candidate-1.tar.gz"
        assert model_registry.active_version(clean_db, current().rasa.models_dir).name == "candidate-1"

        initial = next(v for v in model_registry.list_versions(clean_db) if v.name == "initial-seat-old")
        await publisher.rollback(initial.id, "ed")
        served = _seat_run_model(monkeypatch, env)
        assert served == models / "published" / "seat-old.tar.gz" and served.read_bytes() == b"old model"
        assert model_registry.active_version(clean_db, current().rasa.models_dir).name == "initial-seat-old"
    finally:
        for s in servers:
            await s.close()
