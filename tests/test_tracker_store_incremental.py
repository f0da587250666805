"""The seat's tracker store reads and writes only what changed (issue 15), and stays right across servers."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from seat.rasa_stores import DatabaseUrlTrackerStore


def stored_texts(store: DatabaseUrlTrackerStore, sender: str) -> list[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id"),
                            {"s": sender}).all()
    return [r.type_name for r in rows]


async def turn(store: DatabaseUrlTrackerStore, sender: str, text: str) -> DialogueStateTracker:
    """One message as Rasa's processor handles it: retrieve (or create), update, save."""
    tracker = await store.get_or_create_tracker(sender)
    tracker.update(UserUttered(text))
    tracker.update(BotUttered(f"收到：{text}"))
    tracker.update(ActionExecuted("action_listen"))
    await store.save(tracker)
    return tracker


async def test_turns_alternating_between_two_servers_store_every_event_once(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    one, two = DatabaseUrlTrackerStore(domain=Domain.empty()), DatabaseUrlTrackerStore(domain=Domain.empty())
    sender = f"alt-{uuid.uuid4().hex[:8]}"
    for i, store in enumerate([one, one, two, one, two, two]):
        tracker = await turn(store, sender, f"第{i}句")
    assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == [f"第{i}句" for i in range(6)]
    assert stored_texts(one, sender).count("user") == 6 and stored_texts(one, sender).count("bot") == 6
    fresh = await DatabaseUrlTrackerStore(domain=Domain.empty()).retrieve(sender)
    assert [e.as_dict() for e in fresh.events] == [e.as_dict() for e in tracker.events]


async def test_the_same_server_reuses_its_tracker_and_writes_only_new_events(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    store = DatabaseUrlTrackerStore(domain=Domain.empty())
    sender = f"same-{uuid.uuid4().hex[:8]}"
    first = await turn(store, sender, "你好")
    second = await turn(store, sender, "我要投诉")
    assert second is first  # not rebuilt from the database
    assert stored_texts(store, sender).count("user") == 2 and len(stored_texts(store, sender)) == len(second.events)


async def test_a_turn_that_failed_before_saving_is_read_again(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    store = DatabaseUrlTrackerStore(domain=Domain.empty())
    sender = f"fail-{uuid.uuid4().hex[:8]}"
    await turn(store, sender, "你好")
    broken = await store.retrieve(sender)
    broken.update(UserUttered("这句没有保存"))  # the handler raised here: no save
    again = await store.retrieve(sender)
    assert again is not broken and "这句没有保存" not in [e.text for e in again.events if isinstance(e, UserUttered)]
    await turn(store, sender, "再说一遍")
    assert stored_texts(store, sender).count("user") == 2


async def test_kept_trackers_stay_bounded_under_many_senders_and_evicted_ones_read_back_whole(database_url,
                                                                                              monkeypatch):
    """Memory (issue 15): a Rasa server keeps at most RECENT_CONVERSATIONS trackers in each of its two caches
    (the reused tracker and the outage copy), however many citizens write; a conversation pushed out of them goes
    on from the database with nothing lost."""
    import seat.rasa_stores as stores

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setattr(stores, "RECENT_CONVERSATIONS", 25)
    store = DatabaseUrlTrackerStore(domain=Domain.empty())
    senders = [f"many-{i}-{uuid.uuid4().hex[:6]}" for i in range(100)]
    first = {}
    for sender in senders:
        first[sender] = await turn(store, sender, f"{sender}的第一句")
        assert len(store._live) <= 25 and len(store._recent) <= 25
    assert len(store._live) == 25 and len(store._recent) == 25  # filled to the bound, not beyond
    assert set(store._live) == set(senders[-25:])  # the most recent ones are the ones kept

    oldest, newest = senders[0], senders[-1]
    again = await turn(store, oldest, "第二句")
    assert again is not first[oldest]  # evicted: read back from the database
    assert [e.text for e in again.events if isinstance(e, UserUttered)] == [f"{oldest}的第一句", "第二句"]
    assert stored_texts(store, oldest).count("user") == 2
    kept = await turn(store, newest, "第二句")
    assert kept is first[newest]  # still kept: reused without a full read
    assert len(store._live) <= 25 and len(store._recent) <= 25


async def test_kept_trackers_idle_longer_than_the_limit_are_dropped(database_url, monkeypatch):
    """A saved conversation idle for RECENT_IDLE_S leaves both caches at the next save of any conversation."""
    import seat.rasa_stores as stores

    monkeypatch.setenv("DATABASE_URL", database_url)
    now = [1000.0]
    monkeypatch.setattr(stores, "time", SimpleNamespace(monotonic=lambda: now[0]))  # this module's clock only
    store = DatabaseUrlTrackerStore(domain=Domain.empty())
    idle, active = f"idle-{uuid.uuid4().hex[:6]}", f"active-{uuid.uuid4().hex[:6]}"
    await turn(store, idle, "你好")
    now[0] += stores.RECENT_IDLE_S + 1
    await turn(store, active, "你好")
    assert idle not in store._live and idle not in store._recent
    assert active in store._live and active in store._recent
    back = await turn(store, idle, "还在吗")
    assert [e.text for e in back.events if isinstance(e, UserUttered)] == ["你好", "还在吗"]
