"""Nothing lost while the database is down (issue 14): the confirmed ticket or handoff is kept on disk, the citizen is
told the truth, and the drainer writes it exactly once when the database is back."""
from __future__ import annotations

import json
import os
import shutil
import threading
from datetime import datetime, timedelta, timezone

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from bot import runtime
from bot.actions.escalation import ActionHandoff
from bot.actions.submit import SPOOLED, ActionSubmitTicket
from ground.db import create_engine
from ground.store.spool import Spool, keep_draining
from ground.store.tickets import TicketDraft, TicketStore
from ground.tables.tickets import handoffs as handoffs_table
from ground.tables.tickets import tickets as tickets_table
from tests.faults.dur_support import free_port
from tests.test_bot_actions import CONFIRMED, DOMAIN, slot_events, tracker


def unreachable_store() -> TicketStore:
    """A store whose database does not answer: connections to a port nobody listens on are refused."""
    return TicketStore(create_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/hotline"))


def count(engine, table, **where) -> int:
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def draft(conversation: str = "conv-s", key: str = "req-1", **extra) -> TicketDraft:
    return TicketDraft(request_type="complaint", description="小区门口垃圾三天没人清运", conversation_id=conversation,
                       request_key=key, category="环境卫生/垃圾清运", district="朝阳区", phone="13911112222",
                       contact_name="王先生", channel="rest", occurred_at=datetime(2026, 11, 30, 21, 0), **extra)


@pytest.fixture
def down(tmp_path):
    """The action server's runtime with the database unreachable and the spool in a temp dir."""
    runtime.reset_ticket_store(unreachable_store(), spool_dir=tmp_path / "spool")
    yield Spool(tmp_path / "spool")
    runtime.reset_ticket_store(None)


async def test_a_submit_while_the_database_is_down_is_kept_and_the_citizen_told_the_truth(down, ticket_store):
    d = CollectingDispatcher()
    events = await ActionSubmitTicket().run(d, tracker(CONFIRMED, "对", sender="conv-down"), DOMAIN)
    [said] = [m["text"] for m in d.messages if m.get("text")]
    assert said == SPOOLED and "已经完整保存" in said and "恢复后会自动登记" in said
    assert not any(ch.isdigit() for ch in said), "no ticket number may be invented"
    assert "ticket_no" not in slot_events(events) and slot_events(events)["request_key"] is None
    [item] = down.pending()
    assert oct(item.stat().st_mode & 0o777) == "0o600"  # it holds the citizen's phone
    assert json.loads(item.read_text())["draft"]["phone"] == "13911112222"
    # the same confirmation retried while still down keeps one item, not two
    await ActionSubmitTicket().run(CollectingDispatcher(), tracker(CONFIRMED, "对", sender="conv-down"), DOMAIN)
    assert len(down.pending()) == 1

    report = down.drain(ticket_store)  # the database is back
    assert (report.written, report.waiting, report.rejected) == (1, 0, 0)
    assert down.pending() == []
    with ticket_store.engine.connect() as conn:
        row = conn.execute(select(tickets_table).where(tickets_table.c.conversation_id == "conv-down")).one()
    assert (row.request_type, row.district, row.phone, row.request_key) == ("complaint", "朝阳区", "13911112222", "req-1")


def test_the_ticket_keeps_the_time_the_citizen_confirmed_it(tmp_path, ticket_store):
    spool = Spool(tmp_path)
    confirmed = datetime.now(timezone.utc) - timedelta(hours=3)
    spool.put_ticket(draft(), at=confirmed)
    spool.drain(ticket_store)
    with ticket_store.engine.connect() as conn:
        created = conn.execute(select(tickets_table.c.created_at)).scalar_one()
    assert abs(created - confirmed) < timedelta(seconds=1)


def test_a_crash_between_write_and_delete_writes_nothing_twice(tmp_path, ticket_store):
    spool = Spool(tmp_path)
    path = spool.put_ticket(draft())
    kept = tmp_path / "copy"
    shutil.copy(path, kept)
    assert spool.drain(ticket_store).written == 1
    os.replace(kept, path)  # as if the drainer died after the insert, before the unlink
    assert spool.drain(ticket_store).written == 1  # found, not inserted again
    assert count(ticket_store.engine, tickets_table) == 1 and spool.pending() == []


def test_concurrent_drainers_write_each_item_once(tmp_path, ticket_store):
    spool = Spool(tmp_path)
    for n in range(12):
        spool.put_ticket(draft(conversation=f"conv-{n}", key=f"req-{n}"))
    errors: list = []

    def drain() -> None:
        try:
            Spool(tmp_path).drain(TicketStore(ticket_store.engine))
        except Exception as exc:  # pragma: no cover - shown by the assertion
            errors.append(exc)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(ticket_store.engine, tickets_table) == 12 and spool.pending() == []


def test_while_the_database_stays_down_everything_waits(tmp_path):
    spool = Spool(tmp_path)
    spool.put_ticket(draft(key="a"))
    spool.put_ticket(draft(key="b"))
    report = spool.drain(unreachable_store())
    assert (report.written, report.waiting, report.rejected) == (0, 2, 0)
    assert len(spool.pending()) == 2


def test_bad_items_are_set_aside_not_retried_forever(tmp_path, ticket_store):
    spool = Spool(tmp_path)
    (tmp_path / "ticket-garbage.json").write_text("{not json")
    spool.put_ticket(draft(key="x" * 300))  # the store refuses an over-long request key
    spool.put_ticket(draft(key="good"))
    report = spool.drain(ticket_store)
    assert (report.written, report.waiting, report.rejected) == (1, 0, 2)
    assert "ticket-garbage.json" in {p.name for p in spool.rejected()} and len(spool.rejected()) == 2
    assert count(ticket_store.engine, tickets_table) == 1


async def test_a_handoff_while_the_database_is_down_is_kept_and_written_once(down, ticket_store):
    slots = {"request_type": "complaint", "description": "噪音", "phone": "13911112222"}
    d = CollectingDispatcher()
    await ActionHandoff().run(d, tracker(slots, "转人工", "human_handoff", sender="conv-h"), DOMAIN)
    assert d.messages[0]["response"] == "utter_handoff"  # the citizen still gets a person
    [item] = down.pending()
    kept = item.read_bytes()
    assert down.drain(ticket_store).written == 1
    item.write_bytes(kept)  # a crash before the delete: the next pass finds the row
    assert down.drain(ticket_store).written == 1
    assert count(ticket_store.engine, handoffs_table, conversation_id="conv-h") == 1
    with ticket_store.engine.connect() as conn:
        row = conn.execute(select(handoffs_table)).one()
    assert row.reason == "citizen asked for a human agent" and row.collected["phone"] == "13911112222"


async def test_the_drainer_task_writes_items_when_the_database_comes_back(tmp_path, ticket_store):
    import asyncio

    spool = Spool(tmp_path)
    spool.put_ticket(draft())
    stores = iter([unreachable_store()])
    stop = asyncio.Event()
    task = asyncio.ensure_future(keep_draining(spool, lambda: next(stores, ticket_store), 0.05, stop))
    for _ in range(200):
        if not spool.pending():
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert spool.pending() == [] and count(ticket_store.engine, tickets_table) == 1


def test_spool_settings_are_read_and_checked(tmp_path):
    from ground.settings import RUN_DIR, Settings

    assert Settings.from_env({}).db.spool_dir == RUN_DIR / "spool"
    settings = Settings.from_env({"SEAT_SPOOL_DIR": str(tmp_path / "s"), "SPOOL_DRAIN_SECONDS": "0.5"})
    assert (settings.db.spool_dir, settings.db.spool_drain_s) == (tmp_path / "s", 0.5)
    for bad in ("soon", "0"):
        with pytest.raises(ValueError, match="SPOOL_DRAIN_SECONDS"):
            Settings.from_env({"SPOOL_DRAIN_SECONDS": bad})
