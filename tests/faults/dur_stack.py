"""The seat's action server and Rasa server (the trained model) on a database and Redis of the test's own, started
through the launcher as `make run` starts them, and stopped by the test."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

from ground.settings import REPO_ROOT, Settings
from tests.e2e.conftest import _LAUNCH_SNIPPET, Stack, _prepare, free_port


@contextlib.contextmanager
def running_stack(database_url: str, model_path: Path, tmp: Path, env: dict[str, str]) -> Iterator[Stack]:
    """Action server + Rasa on `database_url` (migrated and loaded here), with `env` added (REDIS_URL, spool)."""
    from ground.store import migrate
    from seat import services

    migrate(database_url)
    _prepare(database_url)
    action_port = free_port()
    settings = Settings.from_env({
        "DATABASE_URL": database_url, "RASA_PORT": str(free_port()), "ACTION_PORT": str(action_port),
        "RASA_AUTH_TOKEN": uuid.uuid4().hex, "ACTION_TOKEN": uuid.uuid4().hex,
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook", **env,
    })
    endpoints = services.write_endpoints(settings, tmp / "endpoints.yml")
    svc_list = [services.action_server(settings), services.rasa_server(settings, model_path, endpoints)]
    full_env = {"DATABASE_URL": database_url, "SEAT_LOG_PII": "0", **env}
    for svc in svc_list:
        svc.env.update(full_env)
        svc.ready_timeout = 400
    log = tmp / "stack.log"
    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH_SNIPPET], cwd=REPO_ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
        env={**os.environ, **full_env, "STACK_SPEC": json.dumps([s.__dict__ for s in svc_list], default=list)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 480
        while "all services are up" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the stack did not start:\n" + log.read_text(errors="replace")[-4000:])
            time.sleep(1)
        base = f"http://127.0.0.1:{settings.rasa.port}"
        yield Stack(rest_url=f"{base}/webhooks/rest/webhook", api_url=base, token=settings.rasa.auth_token or "",
                    database_url=database_url, log=log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
