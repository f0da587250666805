"""PostgreSQL and Redis restarts under the running seat (issue 14), on a PostgreSQL cluster and a Redis server this
module starts itself (never the machine's own): conversations go on where they were, a ticket confirmed while the
database is down is kept and written exactly once when it is back, each completed conversation has one ticket."""
from __future__ import annotations

import json
import time
import urllib.error
import uuid

import pytest
from sqlalchemy import select, text

from bot.actions.submit import SPOOLED
from ground.db import create_engine
from ground.store.spool import Spool
from ground.tables.tickets import tickets as tickets_table
from tests.faults.dur_stack import running_stack
from tests.faults.dur_support import ThrowawayPostgres, ThrowawayRedis

pytestmark = pytest.mark.faults

REQUEST = ["我要投诉，我家旁边的工地每天晚上十一点以后还在施工，吵得根本睡不着", "朝阳区望京街道望京西园三区",
           "13911112222", "王先生", "不需要保密"]


@pytest.fixture(scope="module")
def servers():
    pg = ThrowawayPostgres()
    pg.start()
    redis = ThrowawayRedis()
    redis.start()
    try:
        yield pg, redis, pg.createdb("hotline")
    finally:
        redis.stop()
        pg.remove()


@pytest.fixture(scope="module")
def seat(servers, model_path, tmp_path_factory):
    pg, redis, url = servers
    tmp = tmp_path_factory.mktemp("dur-stack")
    spool_dir = tmp / "spool"
    env = {"REDIS_URL": redis.url, "SEAT_SPOOL_DIR": str(spool_dir), "SPOOL_DRAIN_SECONDS": "1"}
    with running_stack(url, model_path, tmp, env) as stack:
        yield stack, pg, redis, Spool(spool_dir)


def tickets_of(url: str, sender: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(tickets_table).where(tickets_table.c.conversation_id == sender)).all()
    finally:
        engine.dispose()


def say(stack, sender: str, text: str) -> str:
    return " ".join(r.get("text", "") for r in stack.say(sender, text))


def test_postgresql_restart_mid_conversation_costs_no_message(seat) -> None:
    stack, pg, _, _ = seat
    sender = f"pg-{uuid.uuid4().hex[:8]}"
    for line in REQUEST[:3]:
        say(stack, sender, line)
    pg.restart()  # every pooled connection of Rasa and of the action server is now dead
    replies = [say(stack, sender, line) for line in REQUEST[3:] + ["对，没问题"]]
    assert "以上信息是否正确" in replies[-2] and "139 1111 2222" in replies[-2], replies
    [ticket] = tickets_of(stack.database_url, sender)
    assert ticket.ticket_no in replies[-1] and ticket.address and "望京西园三区" in ticket.address


def test_a_ticket_confirmed_while_the_database_is_down_is_written_once_when_it_is_back(seat) -> None:
    stack, pg, _, spool = seat
    sender = f"down-{uuid.uuid4().hex[:8]}"
    replies = [say(stack, sender, line) for line in REQUEST]
    assert "以上信息是否正确" in replies[-1], replies
    pg.stop()
    try:
        confirmed = say(stack, sender, "对，没问题")
        assert SPOOLED in confirmed, confirmed  # the truth, and no invented ticket number
        assert len(spool.pending()) == 1
        after = say(stack, sender, "你们一般多久能处理")  # the dialogue goes on during the outage
        assert after.strip(), "no answer during the outage"
    finally:
        pg.start()
    deadline = time.monotonic() + 60
    while spool.pending() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert spool.pending() == [] and spool.rejected() == []
    [ticket] = tickets_of(stack.database_url, sender)
    assert (ticket.request_type, ticket.district, ticket.street, ticket.phone) == ("complaint", "朝阳区", "望京街道",
                                                                                 "13911112222")
    time.sleep(3)  # more drain passes: still one
    assert len(tickets_of(stack.database_url, sender)) == 1
    # the conversation (kept in Rasa's memory during the outage) is in the database again and goes on
    assert say(stack, sender, "你好").strip()
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            texts = [json.loads(r[0]).get("text") or "" for r in conn.execute(text(
                "SELECT data FROM events WHERE sender_id = :s AND type_name = 'user' ORDER BY id"), {"s": sender})]
    finally:
        engine.dispose()
    assert any("对，没问题" in t for t in texts) and any("多久能处理" in t for t in texts)


def test_redis_restart_mid_conversation(seat) -> None:
    stack, _, redis, _ = seat
    sender = f"redis-{uuid.uuid4().hex[:8]}"
    for line in REQUEST[:2]:
        say(stack, sender, line)
    redis.stop()
    redis.start()  # same port, empty: the lock store's connections are dead, its locks gone
    replies = []
    for line in REQUEST[2:] + ["对，没问题"]:
        try:
            replies.append(say(stack, sender, line))
        except urllib.error.HTTPError as exc:  # pragma: no cover - shown in the failure
            pytest.fail(f"message {line!r} failed after the Redis restart: HTTP {exc.code}")
    assert "以上信息是否正确" in replies[-2], replies
    [ticket] = tickets_of(stack.database_url, sender)
    assert ticket.ticket_no in replies[-1]
