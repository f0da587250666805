"""The whole seat (actions, Rasa, voice, web, admin, callbacks) under the launcher, as `make run` starts it, on
free ports and a throwaway database, with a launcher state file: the fault tests kill its services by pid."""
from __future__ import annotations

import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from ground.settings import Settings
from tests.e2e.conftest import Stack, _prepare, free_port
from tests.faults.support import LauncherProcess, wait_until


@dataclass
class FullStack(Stack):
    launcher: LauncherProcess | None = None
    settings: Settings | None = None
    env: dict | None = None  # the stack's environment (ports, secrets, database)

    def health(self, name: str) -> int | None:
        """The HTTP status of service `name`'s health answer, None when it does not answer."""
        url = self.launcher.services()[name]["health_url"]
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def all_up(self, timeout: float = 300) -> None:
        names = list(self.launcher.services())
        wait_until(lambda: all(self.health(n) == 200 for n in names), timeout,
                   "every service healthy: " + ", ".join(f"{n}={self.health(n)}" for n in names))


@pytest.fixture(scope="session")
def full_stack(scratch_databases, model_path: Path, tmp_path_factory) -> Iterator[FullStack]:
    from seat import services

    database_url = scratch_databases.create(migrated=True)
    _prepare(database_url)
    tmp = tmp_path_factory.mktemp("faults")
    ports = {name: str(free_port()) for name in (
        "RASA_PORT", "ACTION_PORT", "AUDIOSOCKET_PORT", "VOICE_CONTROL_PORT", "WEB_PORT", "ADMIN_PORT",
        "CALLBACKS_HEALTH_PORT", "WEB_METRICS_PORT", "CALLBACKS_METRICS_PORT")}
    env = {
        **ports, "DATABASE_URL": database_url, "SEAT_LOG_PII": "0", "WEB_HOST": "127.0.0.1",
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{ports['ACTION_PORT']}/webhook",
        "RASA_AUTH_TOKEN": secrets.token_hex(16), "ACTION_TOKEN": secrets.token_hex(16),
        "WEB_PUSH_TOKEN": secrets.token_hex(16), "VOICE_CONTROL_TOKEN": secrets.token_hex(16),
        "OPT_OUT_SECRET": secrets.token_hex(16), "ADMIN_SECRET": secrets.token_hex(16),
        "ADMIN_DATA_DIR": str(tmp), "CALLBACK_POLL_SECONDS": "5", "VOSK_MODEL": "",
    }
    settings = Settings.from_env(env)
    endpoints = services.write_endpoints(settings, tmp / "endpoints.yml")
    svc_list = [services.action_server(settings), services.rasa_server(settings, model_path, endpoints),
                services.voice_gateway(settings), services.web_server(settings), services.admin_server(settings),
                services.callback_worker(settings)]
    for svc in svc_list:
        svc.env.update(env)
        svc.ready_timeout = 300
    launcher = LauncherProcess(svc_list, tmp / "launcher.json", tmp / "stack.log", env=env)
    try:
        launcher.wait_for("all services are up", 420)
        base = f"http://127.0.0.1:{settings.rasa.port}"
        stack = FullStack(rest_url=f"{base}/webhooks/rest/webhook", api_url=base, token=env["RASA_AUTH_TOKEN"],
                          database_url=database_url, log=launcher.log, launcher=launcher, settings=settings,
                          env=env)
        stack.all_up()
        yield stack
    finally:
        launcher.stop()
