"""Rasa's tracker and lock stores follow DATABASE_URL and REDIS_URL."""
from __future__ import annotations

import os
import uuid

import pytest
from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from seat.rasa_stores import DatabaseUrlTrackerStore, EnvLockStore, sql_store_kwargs


def test_sql_store_kwargs_split_a_postgres_url():
    kw = sql_store_kwargs("postgresql://seat:s3cret@db.example:5433/hotline?sslmode=require")
    assert kw == {"dialect": "postgresql", "host": "db.example", "port": 5433, "db": "hotline",
                  "username": "seat", "password": "s3cret", "query": {"sslmode": "require"}}
    assert sql_store_kwargs("sqlite:////tmp/x.db") == {"dialect": "sqlite", "db": "/tmp/x.db"}


async def test_tracker_store_saves_conversations_in_the_seat_database(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    store = DatabaseUrlTrackerStore(domain=Domain.empty())
    sender = f"t-{uuid.uuid4().hex[:8]}"
    tracker = DialogueStateTracker.from_events(sender, [UserUttered("你好")])
    await store.save(tracker)
    again = await store.retrieve(sender)
    assert again is not None and again.latest_message.text == "你好"
    assert str(store.engine.url.database).endswith(database_url.rsplit("/", 1)[-1])


def test_lock_store_in_memory_without_redis_url(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert isinstance(EnvLockStore(), InMemoryLockStore)


def test_lock_store_on_redis_shares_locks(monkeypatch):
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL not set (CI sets it)")
    monkeypatch.setenv("REDIS_URL", url)
    a, b = EnvLockStore(), EnvLockStore()
    assert isinstance(a, RedisLockStore)
    conv = f"c-{uuid.uuid4().hex[:8]}"
    lock = a.get_or_create_lock(conv)
    ticket = lock.issue_ticket(30)
    a.save_lock(lock)
    seen = b.get_lock(conv)  # a second server sees the first one's ticket
    assert seen is not None and seen.last_issued == ticket
    a.delete_lock(conv)
    assert b.get_lock(conv) is None
