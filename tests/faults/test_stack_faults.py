"""kill -9 of the seat's services in the middle of a conversation or a call (issue 14): the launcher restarts the
service by itself, the conversation goes on where it was, exactly one ticket, and the other services keep
answering all along."""
from __future__ import annotations

import asyncio
import os
import signal

import pytest
from sqlalchemy import func, select

from ground.db import create_engine
from ground.tables.tickets import tickets as tickets_table
from tests.audiosocket_support import AsteriskLine
from tests.e2e.conftest import COMPLAINT_FIRST_TURNS, COMPLAINT_LAST_TURNS
from tests.e2e.test_rest_intake import ticket_rows
from tests.faults.support import HealthWatch, alive, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.stack]

FIRST_TURNS, LAST_TURNS = COMPLAINT_FIRST_TURNS, COMPLAINT_LAST_TURNS


def _kill_and_wait_back(stack, name: str) -> int:
    """kill -9 the service `name`; wait until the launcher restarted it and it is ready; its new pid."""
    launcher = stack.launcher
    old = launcher.pid(name)
    mark = len(launcher.output())
    os.kill(old, signal.SIGKILL)
    launcher.wait_for(f"{name} exited (code -9); restarting in", 30, after=mark)
    launcher.wait_for(f"{name} is back", 300, after=mark)
    new = launcher.pid(name)
    assert new != old and not alive(old) and alive(new)
    assert launcher.services()[name]["restarts"] >= 1
    return new


def _watch_others(stack, killed: str) -> HealthWatch:
    urls = {n: s["health_url"] for n, s in stack.launcher.services().items() if n in ("web", "admin") and n != killed}
    return HealthWatch(urls)


def _conversation_survives(stack, name: str) -> None:
    stack.all_up()
    others_before = {n: s["pid"] for n, s in stack.launcher.services().items() if n != name}
    sender, replies = stack.chat(FIRST_TURNS)
    assert "电话" in replies[-1] or "号码" in replies[-1], replies  # the form now asks for the phone
    with _watch_others(stack, name) as watch:
        _kill_and_wait_back(stack, name)
        _, rest = stack.chat(LAST_TURNS, sender=sender)  # the same conversation, where it was
    assert "以上信息是否正确" in rest[-2], rest
    rows = ticket_rows(stack, sender)
    assert len(rows) == 1, rest
    assert rows[0]["ticket_no"] in rest[-1]
    assert (rows[0]["district"], rows[0]["phone"]) == ("朝阳区", "13911112222")
    for other, answers in watch.answers.items():  # answered every probe (200, or 503 while Rasa was down)
        assert answers and None not in answers, f"{other} did not answer its health probe: {answers}"
    others_after = {n: s["pid"] for n, s in stack.launcher.services().items() if n != name}
    assert others_after == others_before  # nothing else was restarted
    stack.all_up()


def test_kill_9_of_the_action_server_mid_form(full_stack):
    _conversation_survives(full_stack, "actions")


def test_kill_9_of_rasa_mid_conversation_resumes_from_the_tracker_store(full_stack):
    _conversation_survives(full_stack, "rasa")


def _ticket_count(stack) -> int:
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(tickets_table)).scalar_one()
    finally:
        engine.dispose()


async def _greeted(port: int) -> AsteriskLine:
    """A call into the gateway that hears the bot speak; the line is left open."""
    line = AsteriskLine(port, inactivity_s=None)
    await line.__aenter__()
    deadline = asyncio.get_running_loop().time() + 60
    while not line.speech():
        assert not line.closed.is_set(), "the gateway hung up before greeting"
        assert asyncio.get_running_loop().time() < deadline, "no greeting within 60 s"
        await asyncio.sleep(0.1)
    return line


async def test_kill_9_of_the_voice_gateway_during_a_call(full_stack):
    stack = full_stack
    stack.all_up()
    port = stack.settings.voice.audiosocket_port
    tickets_before = _ticket_count(stack)
    line = await _greeted(port)
    try:
        await asyncio.get_running_loop().run_in_executor(None, _kill_and_wait_back, stack, "voice")
        assert line.closed.is_set()  # the caller's line was cut (Asterisk goes on in the dialplan)
    finally:
        await line.hangup()
    assert _ticket_count(stack) == tickets_before  # no half ticket
    second = await _greeted(port)  # the next call works
    await second.hangup()
    assert _ticket_count(stack) == tickets_before


def test_seat_status_of_the_running_stack(full_stack):
    import subprocess
    import sys

    from ground.settings import REPO_ROOT

    full_stack.all_up()
    result = subprocess.run([sys.executable, "-m", "seat", "status", "--state", str(full_stack.launcher.state)],
                            cwd=REPO_ROOT, env={**os.environ, **full_stack.env}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:-1]}
    services = full_stack.launcher.services()
    assert set(rows) == {"actions", "rasa", "voice", "web", "admin", "callbacks"}
    for name, row in rows.items():
        assert row[2:4] == ["up", str(services[name]["pid"])], result.stdout
    assert rows["callbacks"][1] == full_stack.env["CALLBACKS_HEALTH_PORT"]
