"""How `make run` lays out the Rasa tier: one process without Redis, several behind HAProxy with it."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ground.settings import Settings
from seat import services
from seat.balancer import Backend, haproxy_config
from seat.scaling import RasaScaling

REDIS = "redis://127.0.0.1:6379/0"
SECRETS = {"RASA_AUTH_TOKEN": "t" * 24, "ACTION_TOKEN": "a" * 24, "WEB_PUSH_TOKEN": "p" * 24,
           "VOICE_CONTROL_TOKEN": "v" * 24}  # no secret generated into the repository's .run/
needs_haproxy = pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy not installed")


def settings(**env: str) -> Settings:
    return Settings.from_env({**SECRETS, **env})


@pytest.fixture(autouse=True)
def run_dir(tmp_path, monkeypatch):
    """endpoints.yml and the balancer config go to a temp dir, not the repository's .run/."""
    monkeypatch.setattr(services, "RUN_DIR", tmp_path)


def test_without_redis_one_process_whatever_is_asked():
    plain = settings(RASA_PROCESSES="4")
    scaling = RasaScaling.of(plain)
    assert scaling.processes == 1 and "REDIS_URL" in scaling.why
    tier = services.rasa_tier(plain, Path("m.tar.gz"), Path("e.yml"))
    assert [s.name for s in tier] == ["rasa"] and "SANIC_WORKERS" not in tier[0].env


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="RASA_PROCESSES"):
        settings(REDIS_URL=REDIS, RASA_PROCESSES="two")
    with pytest.raises(ValueError, match="RASA_PROCESSES"):
        settings(REDIS_URL=REDIS, RASA_PROCESSES="0")
    with pytest.raises(ValueError, match="RASA_SCALING"):
        settings(REDIS_URL=REDIS, RASA_SCALING="magic")


@needs_haproxy
def test_with_redis_several_processes_behind_haproxy():
    scaled = settings(REDIS_URL=REDIS, RASA_PORT="20105", RASA_PROCESSES="3")
    tier = services.rasa_tier(scaled, Path("m.tar.gz"), Path("e.yml"), ports=[20101, 20102, 20103])
    assert [s.name for s in tier] == ["rasa1", "rasa2", "rasa3", "balancer"]
    assert [s.argv[s.argv.index("--port") + 1] for s in tier[:3]] == ["20101", "20102", "20103"]
    config = Path(tier[-1].argv[-1])
    assert ":20105" in tier[-1].ready_url and "bind 127.0.0.1:20105" in config.read_text()
    check = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_sanic_workers_when_asked():
    tier = services.rasa_tier(settings(REDIS_URL=REDIS, RASA_PROCESSES="2", RASA_SCALING="workers"),
                              Path("m.tar.gz"), Path("e.yml"))
    assert [s.name for s in tier] == ["rasa"] and tier[0].env["SANIC_WORKERS"] == "2"


@needs_haproxy
def test_admin_publishes_to_every_rasa_process():
    svcs = {s.name: s for s in services.all_services(settings(REDIS_URL=REDIS, RASA_PROCESSES="2"),
                                                      Path("m.tar.gz"))}
    assert svcs["admin"].env["RASA_URLS"] == "http://127.0.0.1:5006,http://127.0.0.1:5007"
    given = {s.name: s for s in services.all_services(
        settings(REDIS_URL=REDIS, RASA_PROCESSES="2", RASA_URLS="http://10.0.0.9:5005"), Path("m.tar.gz"))}
    assert "RASA_URLS" not in given["admin"].env  # set by hand: the console reads it from its own environment


def test_balancer_config_lists_every_backend():
    cfg = haproxy_config(8000, [Backend("a", "10.0.0.1", 5005), Backend("b", "10.0.0.2", 5005)])
    assert cfg.count("server a 10.0.0.1:5005") == 2 and cfg.count("server b 10.0.0.2:5005") == 2
    assert "balance hash req.body,json_query('$.sender')" in cfg  # one conversation, one server
    with pytest.raises(ValueError):
        haproxy_config(8000, [])
