"""Rasa's tracker store on a PostgreSQL the test restarts and stops (its own throwaway cluster): no message lost to a
stale pooled connection, and a conversation goes on from memory during an outage and is written when it ends."""
from __future__ import annotations

import uuid

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from seat.rasa_stores import DatabaseUrlTrackerStore
from tests.faults.dur_support import ThrowawayPostgres

pytestmark = pytest.mark.faults


@pytest.fixture
def pg():
    server = ThrowawayPostgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()


def texts(tracker) -> list[str]:
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


async def test_tracker_store_rides_out_a_restart_and_an_outage(pg, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg.createdb("hotline"))
    store = DatabaseUrlTrackerStore(domain=Domain.empty())
    sender = f"t-{uuid.uuid4().hex[:8]}"
    tracker = DialogueStateTracker.from_events(sender, [UserUttered("我要投诉")])
    await store.save(tracker)
    assert texts(await store.retrieve(sender)) == ["我要投诉"]  # a pooled connection now exists

    pg.restart()  # that connection is dead: the ping replaces it, the first read after the restart works
    other = DatabaseUrlTrackerStore(domain=Domain.empty())  # another Rasa server adds a turn meanwhile
    tracker.update(UserUttered("在工地"))
    await other.save(tracker)
    tracker = await store.retrieve(sender)  # read from the database, not from memory
    assert texts(tracker) == ["我要投诉", "在工地"]

    pg.stop()  # an outage: the conversation goes on from memory
    tracker.update(UserUttered("朝阳区望京街道"))
    await store.save(tracker)  # no error for Rasa
    during = await store.retrieve(sender)
    assert texts(during) == ["我要投诉", "在工地", "朝阳区望京街道"]
    during.update(UserUttered("13911112222"))
    await store.save(during)

    pg.start()
    after = await store.retrieve(sender)  # the next turn writes what the database missed
    assert texts(after) == ["我要投诉", "在工地", "朝阳区望京街道", "13911112222"]
    fresh = DatabaseUrlTrackerStore(domain=Domain.empty())  # e.g. another Rasa server, or this one restarted
    assert texts(await fresh.retrieve(sender)) == ["我要投诉", "在工地", "朝阳区望京街道", "13911112222"]


async def test_a_conversation_this_server_never_saw_is_not_invented_during_an_outage(pg, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg.createdb("hotline"))
    store = DatabaseUrlTrackerStore(domain=Domain.empty())
    pg.stop()
    with pytest.raises(Exception):  # Rasa's FailSafeTrackerStore then starts a new conversation, as before
        await store.retrieve("never-seen")
