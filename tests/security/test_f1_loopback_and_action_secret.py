"""Issue 13, finding 1: internal services on loopback by default; the action server refuses forged calls."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ground.settings import Settings
from seat import services

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "action-secret-0123456789abcdef"
PHONE = "13912345678"


def test_internal_services_listen_on_loopback_by_default(tmp_path):
    settings = Settings.from_env({"ACTION_TOKEN": TOKEN, "RASA_AUTH_TOKEN": "r" * 20, "WEB_PUSH_TOKEN": "p" * 20,
                                  "VOICE_CONTROL_TOKEN": "v" * 20})
    assert settings.admin.host == "127.0.0.1" and settings.voice.control_host == "127.0.0.1"
    rasa = services.rasa_server(settings, tmp_path / "m.tar.gz", tmp_path / "e.yml")
    assert rasa.argv[rasa.argv.index("--interface") + 1] == "127.0.0.1" and "--cors" not in rasa.argv
    actions = services.action_server(settings)
    assert actions.argv[actions.argv.index("--host") + 1] == "127.0.0.1"
    opened = Settings.from_env({"RASA_HOST": "0.0.0.0", "ACTION_HOST": "0.0.0.0", "ADMIN_HOST": "0.0.0.0"})
    assert (opened.internal.rasa_host, opened.internal.action_host, opened.admin.host) == ("0.0.0.0",) * 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_forged_action_call_is_refused_and_logged_without_personal_data(tmp_path):
    port = _free_port()
    settings = Settings.from_env({"ACTION_PORT": str(port), "ACTION_TOKEN": TOKEN})
    svc = services.action_server(settings)
    log = tmp_path / "actions.log"
    env = {**os.environ, **svc.env, "DATABASE_URL": f"sqlite:///{tmp_path}/t.db"}
    proc = subprocess.Popen(list(svc.argv), cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        forged = {"next_action": "action_submit_ticket", "version": "3.6.21",
                  "tracker": {"sender_id": "attacker", "slots": {"phone": PHONE}, "events": [], "latest_message": {}},
                  "domain": {}}
        url = f"http://127.0.0.1:{port}/webhook"
        assert _post(url, forged)[0] == 403
        assert _post(url, forged, {"X-Seat-Action-Token": "wrong-secret-0123456789"})[0] == 403
        assert _post(url, {**forged, "next_action": "no_such_action"}, {"X-Seat-Action-Token": TOKEN})[0] == 404
        time.sleep(0.5)
        text = log.read_text()
        assert "refused POST /webhook" in text and PHONE not in text
    finally:
        proc.terminate()
        proc.wait(20)
