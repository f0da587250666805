"""Handoffs to human agents (issue 16): queue, positions, wait estimate, claims (two racing operators), release,
close, cancel, abandon, call-backs, presence and the containment figures. PostgreSQL when TEST_DATABASE_URL is set,
else SQLite."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine

from ground.db import create_engine
from ground.store import TicketDraft, TicketStore, handoffs
from ground.store import HandoffError
from ground.tables.tickets import handoffs as handoffs_table

T0 = datetime(2026, 12, 3, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing
COLLECTED = {"request_type": "complaint", "category": "房屋物业", "district": "朝阳区", "phone": "13912345678",
             "description": "小区物业乱收停车费"}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def open_one(engine: Engine, conversation: str, minutes: float = 0, channel: str = "web", **kw) -> handoffs.Handoff:
    return handoffs.open_handoff(engine, conversation, "citizen asked for a human agent", COLLECTED, channel,
                                 now=at(minutes), **kw)


def test_open_is_waiting_and_idempotent_per_conversation(clean_db: Engine) -> None:
    first = open_one(clean_db, "c1")
    assert first.status == "waiting" and first.live and first.collected == COLLECTED and first.created_at == T0
    again = open_one(clean_db, "c1", minutes=1, call_id="call-7")
    assert again.id == first.id and again.call_id == "call-7"  # a call id it lacked is added
    assert handoffs.open_for(clean_db, "c1").id == first.id
    assert handoffs.by_call(clean_db, "call-7").id == first.id
    assert handoffs.open_for(clean_db, "nobody") is None and handoffs.by_call(clean_db, "nope") is None
    # once closed, a new request for a person opens a new handoff
    handoffs.claim(clean_db, first.id, "op1", at(2))
    handoffs.close(clean_db, first.id, "op1", "resolved", at(3))
    assert open_one(clean_db, "c1", minutes=4).id != first.id


def test_open_rejects_bad_input_and_masks_in_repr(clean_db: Engine) -> None:
    with pytest.raises(ValueError):
        handoffs.open_handoff(clean_db, "", "why", {}, "web", now=T0)
    with pytest.raises(ValueError):
        handoffs.open_handoff(clean_db, "c", "  ", {}, "web", now=T0)
    with pytest.raises(ValueError):
        handoffs.open_handoff(clean_db, "x" * 300, "why", {}, "web", now=T0)
    h = open_one(clean_db, "c2")
    assert "13912345678" not in repr(h) and "停车费" not in repr(h)
    assert h.masked()["phone"] == "139****5678"


def test_record_handoff_keeps_working_and_queues(ticket_store: TicketStore) -> None:
    handoff_id = ticket_store.record_handoff("conv-r", "two failed understandings in a row", COLLECTED, "rest")
    assert handoffs.get(ticket_store.engine, handoff_id).status == "waiting"
    assert ticket_store.record_handoff("conv-r", "again", {}, "rest") == handoff_id


def test_concurrent_opens_of_one_conversation_make_one_handoff(clean_db: Engine, database_url: str) -> None:
    count = 8
    barrier = threading.Barrier(count)
    engines = [create_engine(database_url) for _ in range(count)]

    def one(i: int) -> int:
        barrier.wait(timeout=60)
        return open_one(engines[i], "same-conversation").id

    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            ids = set(pool.map(one, range(count)))
    finally:
        for eng in engines:
            eng.dispose()
    assert len(ids) == 1
    with clean_db.connect() as conn:
        assert len(conn.execute(select(handoffs_table.c.id)).all()) == 1


def test_positions_estimate_and_queue_order(clean_db: Engine) -> None:
    a, b, c = (open_one(clean_db, f"q{i}", minutes=i) for i in range(3))
    assert [handoffs.queue_position(clean_db, h.id) for h in (a, b, c)] == [0, 1, 2]
    # nobody closed a handoff yet: 180 s each, one operator assumed when none is seen
    assert handoffs.estimated_wait_s(clean_db, c.id, at(3)) == 3 * 180
    handoffs.operator_seen(clean_db, "op1", at(3))
    handoffs.operator_seen(clean_db, "op2", at(3))
    handoffs.operator_seen(clean_db, "op3", at(0))  # left 3 minutes ago: not on duty
    assert handoffs.operators_online(clean_db, at(3)) == 2
    assert handoffs.estimated_wait_s(clean_db, c.id, at(3)) == 3 * 180 // 2
    # the first is taken: the others move up; a claimed handoff has no position
    handoffs.claim(clean_db, a.id, "op1", at(4))
    assert [handoffs.queue_position(clean_db, h.id) for h in (a, b, c)] == [0, 0, 1]
    # the mean handling time comes from the closed ones: 60 s
    handoffs.close(clean_db, a.id, "op1", "resolved", at(5))
    assert handoffs.mean_handling_s(clean_db) == pytest.approx(60.0)
    assert handoffs.estimated_wait_s(clean_db, c.id, at(5)) == 2 * 60 // 2
    callback = open_one(clean_db, "q-callback", minutes=0.5)
    handoffs.mark_callback(clean_db, callback.id, "20261203-0001", at(6))
    handoffs.claim(clean_db, b.id, "op2", at(6))
    assert [h.id for h in handoffs.list_open(clean_db)] == [c.id, callback.id, b.id]
    assert handoffs.queue_position(clean_db, c.id) == 0  # a call-back in the queue is not a live wait


def test_two_operators_racing_exactly_one_wins(clean_db: Engine, database_url: str) -> None:
    for round_no in range(5):
        target = open_one(clean_db, f"race-{round_no}", minutes=round_no)
        barrier = threading.Barrier(2)
        engines = [create_engine(database_url) for _ in range(2)]
        for eng in engines:
            with eng.connect():
                pass

        def grab(i: int):
            barrier.wait(timeout=60)
            return handoffs.claim(engines[i], target.id, f"op{i}", at(round_no + 1))

        try:
            with ThreadPoolExecutor(max_workers=2) as pool:
                results = list(pool.map(grab, range(2)))
        finally:
            for eng in engines:
                eng.dispose()
        winners = [r for r in results if r is not None]
        assert len(winners) == 1, results
        stored = handoffs.get(clean_db, target.id)
        assert stored.status == "claimed" and stored.claimed_by == winners[0].claimed_by


def test_release_puts_it_back_in_its_place_and_only_the_holder_may(clean_db: Engine) -> None:
    a = open_one(clean_db, "r1", minutes=0)
    b = open_one(clean_db, "r2", minutes=1)
    assert handoffs.claim(clean_db, a.id, "op1", at(2)).claimed_at == at(2)
    assert handoffs.claim(clean_db, a.id, "op2", at(2)) is None  # already taken
    with pytest.raises(HandoffError):
        handoffs.release(clean_db, a.id, "op2", at(3))
    with pytest.raises(HandoffError):
        handoffs.close(clean_db, a.id, "op2", "resolved", at(3))
    back = handoffs.release(clean_db, a.id, "op1", at(3))
    assert back.status == "waiting" and back.claimed_by is None and back.claimed_at == at(2)
    assert handoffs.queue_position(clean_db, a.id) == 0 and handoffs.queue_position(clean_db, b.id) == 1
    again = handoffs.claim(clean_db, a.id, "op2", at(4))
    assert again.claimed_by == "op2" and again.claimed_at == at(2)  # the citizen's wait ended at the first claim


def test_close_with_ticket_and_bad_closes(clean_db: Engine) -> None:
    h = open_one(clean_db, "t1")
    handoffs.claim(clean_db, h.id, "op1", at(1))
    with pytest.raises(HandoffError):
        handoffs.close(clean_db, h.id, "op1", "ticket", at(2))  # no ticket number
    with pytest.raises(HandoffError):
        handoffs.close(clean_db, h.id, "op1", "cancelled", at(2))  # not a closing outcome
    with pytest.raises(HandoffError):
        handoffs.close(clean_db, h.id, "", "resolved", at(2))
    done = handoffs.close(clean_db, h.id, "op1", "ticket", at(2), ticket_no="20261203-0002", note="已受理")
    assert (done.status, done.outcome, done.ticket_no, done.note, done.closed_at) == (
        "closed", "ticket", "20261203-0002", "已受理", at(2))
    with pytest.raises(HandoffError):
        handoffs.close(clean_db, h.id, "op1", "resolved", at(3))
    with pytest.raises(HandoffError):
        handoffs.close(clean_db, 999999, "op1", "resolved", at(3))
    assert handoffs.open_for(clean_db, "t1") is None


def test_callback_kept_in_queue_then_closed_by_any_operator(clean_db: Engine) -> None:
    h = open_one(clean_db, "cb1")
    kept = handoffs.mark_callback(clean_db, h.id, "20261203-0003", at(1))
    assert kept.status == "waiting" and kept.outcome == "callback_ticket" and not kept.live
    assert handoffs.mark_abandoned(clean_db, timedelta(minutes=1), at(60)) == 0  # never abandoned
    assert handoffs.cancel(clean_db, "cb1", at(60)) is None  # the ticket is filed: nothing to cancel
    done = handoffs.close(clean_db, h.id, "op9", "callback_ticket", at(90), note="已回电")
    assert done.status == "closed" and done.claimed_by == "op9" and done.ticket_no == "20261203-0003"


def test_cancel_and_abandon(clean_db: Engine) -> None:
    a = open_one(clean_db, "w1", minutes=0)
    b = open_one(clean_db, "w2", minutes=10)
    gone = handoffs.cancel(clean_db, "w1", at(1))
    assert gone.id == a.id and gone.status == "cancelled" and gone.outcome == "cancelled"
    assert handoffs.cancel(clean_db, "w1", at(2)) is None
    claimed = open_one(clean_db, "w3", minutes=0)
    handoffs.claim(clean_db, claimed.id, "op1", at(1))
    assert handoffs.cancel(clean_db, "w3", at(2)) is None  # a person is already talking to them
    assert handoffs.mark_abandoned(clean_db, timedelta(minutes=30), at(35)) == 0
    handoffs.touch(clean_db, b.id, at(20))  # the citizen wrote while waiting: still there
    assert handoffs.mark_abandoned(clean_db, timedelta(minutes=30), at(41)) == 0
    assert handoffs.mark_abandoned(clean_db, timedelta(minutes=30), at(51)) == 1
    assert handoffs.get(clean_db, b.id).status == "abandoned"
    assert handoffs.get(clean_db, claimed.id).status == "claimed"


def test_operator_seen_is_an_upsert(clean_db: Engine) -> None:
    handoffs.operator_seen(clean_db, "op1", at(0))
    handoffs.operator_seen(clean_db, "op1", at(5))
    assert handoffs.operators_online(clean_db, at(6)) == 1
    assert handoffs.operators_online(clean_db, at(8)) == 0
    with pytest.raises(HandoffError):
        handoffs.operator_seen(clean_db, " ", at(0))


def _without_tracker_events(engine: Engine) -> None:
    """Rasa's `events` table, where other tests of the run left conversations of today, counts in the figures too:
    empty it (clean_db empties only the seat's own tables)."""
    if inspect(engine).has_table("events"):
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM events"))


def test_stats_per_day_and_channel(clean_db: Engine) -> None:
    _without_tracker_events(clean_db)
    store = TicketStore(clean_db, clock=lambda: at(1))
    for i in range(3):  # three web conversations finished by the bot with a ticket
        store.create_ticket(TicketDraft(request_type="help", description="路灯不亮", conversation_id=f"web-{i}",
                                        request_key="k", channel="web"))
    waits = [60, 120, 600]
    for i, wait in enumerate(waits):
        h = open_one(clean_db, f"web-h{i}", minutes=i)
        handoffs.claim(clean_db, h.id, "op1", h.created_at + timedelta(seconds=wait))
    open_one(clean_db, "web-gone", minutes=5)
    handoffs.cancel(clean_db, "web-gone", at(6))
    voice = open_one(clean_db, "call-1", minutes=3, channel="voice", call_id="call-1")
    handoffs.mark_abandoned(clean_db, timedelta(minutes=1), at(30))
    next_day = handoffs.open_handoff(clean_db, "web-late", "two failed understandings in a row", {}, "web",
                                     now=datetime(2026, 12, 3, 17, 0, tzinfo=timezone.utc))  # 01:00 Beijing, 4th
    rows = handoffs.stats(clean_db, T0 - timedelta(hours=10), T0 + timedelta(days=1))
    by_key = {(r.day, r.channel): r for r in rows}
    assert set(by_key) == {(date(2026, 12, 3), "web"), (date(2026, 12, 3), "voice"), (date(2026, 12, 4), "web")}
    web = by_key[(date(2026, 12, 3), "web")]
    assert (web.conversations, web.handoffs, web.contained) == (7, 4, 3)
    assert web.containment == pytest.approx(3 / 7) and web.handoff_rate == pytest.approx(4 / 7)
    assert web.reasons == {"citizen asked for a human agent": 4}
    assert web.wait_p50_s == pytest.approx(120) and web.wait_p90_s == pytest.approx(120 + 0.8 * 480)
    assert (web.cancelled, web.abandoned) == (1, 0)
    phone = by_key[(date(2026, 12, 3), "voice")]
    assert (phone.conversations, phone.handoffs, phone.abandoned, phone.wait_p50_s) == (1, 1, 1, None)
    assert voice.call_id == "call-1"
    late = by_key[(date(2026, 12, 4), "web")]
    assert late.reasons == {"two failed understandings in a row": 1} and next_day.channel == "web"
    totals = handoffs.stats(clean_db, T0 - timedelta(hours=10), T0 + timedelta(hours=10), by_channel=False)
    assert [(r.day, r.channel, r.conversations, r.handoffs) for r in totals] == [(date(2026, 12, 3), "all", 8, 5)]


def test_percentile() -> None:
    assert handoffs.percentile([], 50) is None
    assert handoffs.percentile([5], 90) == 5
    assert handoffs.percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
