"""Issue 13, finding 10: an action error never puts the tracker (the citizen's words, phone, address) in the action
server's answer, which Rasa logs, nor in the action server's own log. A real server on a free port."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import requests
from rasa.shared.core.domain import Domain
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, StatementError

from ground.settings import ACTION_TOKEN_HEADER

from ground.settings import REPO_ROOT
from seat.rasa_stores import DatabaseUrlTrackerStore

PHONE, ADDRESS = "13812345678", "望京西园三区5号楼"


SECRET = "test-action-secret-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_failing_action_answers_500_without_the_tracker() -> None:
    port = _free_port()
    # the action server as the seat starts it (seat/services.py): behind its secret, errors without the tracker
    proc = subprocess.Popen([sys.executable, "-m", "seat.action_run", "--actions", "tests.security.failing_actions",
                             "--port", str(port)], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={"PATH": "/usr/bin:/bin", "ACTION_TOKEN": SECRET})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "action server did not start"
                time.sleep(0.3)
        tracker = {"sender_id": "conv-x", "slots": {"phone": PHONE, "address": ADDRESS},
                   "latest_message": {"text": f"我的电话{PHONE}，住在{ADDRESS}"}, "events": [], "paused": False,
                   "followup_action": None, "active_loop": {}, "latest_action_name": None}
        resp = requests.post(f"http://127.0.0.1:{port}/webhook", timeout=10, headers={ACTION_TOKEN_HEADER: SECRET},
                             json={"next_action": "action_that_fails", "sender_id": "conv-x", "tracker": tracker,
                                   "domain": {}, "version": "3.6.0"})
        assert resp.status_code == 500
        assert resp.json() == {"error": "action failed", "action_name": "action_that_fails"}
    finally:
        proc.terminate()
        log = proc.communicate(timeout=20)[0]
    assert "action action_that_fails failed: ValueError: cannot file a ticket for 138****5678" in log
    assert PHONE not in log and ADDRESS not in log


def test_the_tracker_store_hides_statement_parameters(database_url, monkeypatch) -> None:
    """A failed statement of Rasa's tracker store must not log the events it carries."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    store = DatabaseUrlTrackerStore(domain=Domain.empty())
    assert store.engine.hide_parameters is True
    with pytest.raises((DBAPIError, StatementError)) as failed:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT * FROM no_such_table WHERE sender_id = :s"), {"s": f"我的电话{PHONE}"})
    assert PHONE not in str(failed.value)
