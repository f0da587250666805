"""Issue 13, finding 10: `seat privacy erase --phone X` leaves X nowhere in the database, keeps the month's rates;
`seat privacy purge` removes personal data older than RETENTION_DAYS. Run on PostgreSQL with TEST_DATABASE_URL."""
from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, inspect, select
from sqlalchemy.engine import make_url

from callbacks.retention import purge_daily
from ground.masking import phones_in
from ground.settings import REPO_ROOT, Settings
from ground.store import audit
from ground.store.privacy import ERASED_TEXT, PrivacyError, erase_phone, purge
from ground.store.kb_rates import one_time_resolution
from ground.store.rates import unit_rates
from ground.tables.callbacks import survey_results
from ground.tables.knowledge import kb_answers
from ground.tables.tickets import handoffs, ticket_events, tickets
from tests.callbacks_support import as_utc, closed_ticket, local

PHONE, OTHER = "13812345678", "13900001111"
FORMS = ("13812345678", "138 1234 5678", "138-1234-5678", "+8613812345678", "幺三八幺二三四五六七八")
MONTH = "2026-10"


def _events_table(engine) -> Table:
    """Rasa's SQLTrackerStore table, as Rasa creates it (not our migrations)."""
    meta = MetaData()
    events = Table("events", meta, Column("id", Integer, primary_key=True), Column("sender_id", String(255)),
                   Column("type_name", String(255)), Column("timestamp", Float), Column("intent_name", String(255)),
                   Column("action_name", String(255)), Column("data", Text))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(events.delete())
    return events


def _user_event(sender: str, text: str, at: datetime) -> dict:
    # Rasa writes json.dumps(event): non-ASCII as \\u escapes
    return {"sender_id": sender, "type_name": "user", "timestamp": at.timestamp(),
            "data": json.dumps({"event": "user", "text": text, "metadata": {"phone": text}})}


def _survey(engine, ticket_no: str, completed: datetime, comment: str) -> None:
    with engine.begin() as conn:
        ticket_id = conn.execute(select(tickets.c.id).where(tickets.c.ticket_no == ticket_no)).scalar_one()
        conn.execute(survey_results.insert().values(
            ticket_id=ticket_id, responded=True, resolved=False, satisfaction="basically_satisfied", channel="voice",
            comment=comment, updated_at=completed, completed_at=completed))


@pytest.fixture
def citizen_data(clean_db):
    """Two citizens' tickets, surveys, conversations, handoffs and KB questions; the phone in every form."""
    engine = clean_db
    events = _events_table(engine)
    oct8 = as_utc(local(2026, 10, 8, 10, 0))
    mine = closed_ticket(engine, local(2026, 10, 2, 10, 0), phone="+86 138 1234 5678", unit="gov-chaoyang",
                         conversation_id="conv-mine")
    mention = closed_ticket(engine, local(2026, 10, 3, 10, 0), phone=None, unit="gov-chaoyang",
                            conversation_id="conv-mention")
    other = closed_ticket(engine, local(2026, 10, 3, 10, 0), phone=OTHER, unit="gov-chaoyang",
                          conversation_id="conv-other")
    with engine.begin() as conn:
        conn.execute(tickets.update().where(tickets.c.ticket_no == mine).values(
            description=f"楼下噪音，请回电{FORMS[1]}", address="望京西园三区5号楼", contact_name="张三丰"))
        conn.execute(tickets.update().where(tickets.c.ticket_no == mention).values(
            description=f"帮邻居反映，邻居电话{FORMS[2]}"))
        mine_id = conn.execute(select(tickets.c.id).where(tickets.c.ticket_no == mine)).scalar_one()
        conn.execute(ticket_events.update().where(ticket_events.c.ticket_id == mine_id).values(
            note=f"已电话联系{PHONE}"))
        conn.execute(events.insert(), [
            _user_event("conv-mine", f"我要投诉噪音，电话{FORMS[4]}", oct8),
            _user_event("conv-mine", "地址是望京西园三区5号楼", oct8),
            _user_event("conv-voice-only", f"我的号码是{FORMS[3]}", oct8),
            _user_event("conv-other", f"电话{OTHER}", oct8),
        ])
        conn.execute(handoffs.insert().values(conversation_id="conv-handoff", reason="转人工", channel="rest",
                                              collected={"phone": FORMS[0], "name": "张三丰"}, created_at=oct8))
        conn.execute(kb_answers.insert().values(conversation_id="conv-kb", query=f"我的手机{PHONE}欠费停机怎么办",
                                                channel="rest", created_at=oct8))
        conn.execute(kb_answers.insert().values(conversation_id="conv-other", query="暖气不热找谁", channel="rest",
                                                created_at=oct8 + timedelta(days=60)))
    _survey(engine, mine, oct8, f"请打{PHONE}")
    _survey(engine, mention, oct8, "还行")
    _survey(engine, other, oct8, f"请打{OTHER}")
    return engine


def _dump(engine) -> str:
    """Every value of every table, JSON unescaped (what a copy of the database would give away)."""
    parts = []
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    text = str(value)
                    try:
                        text += " " + json.dumps(json.loads(text), ensure_ascii=False)
                    except (ValueError, TypeError):
                        pass
                    parts.append(text)
    return "\n".join(parts)


def _pg_dump(url: str) -> str | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not shutil.which("pg_dump"):
        return None
    out = subprocess.run(["pg_dump", "--data-only", "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432),
                          "-U", parsed.username or "postgres", parsed.database], capture_output=True, text=True,
                         check=True)
    # COPY output keeps JSON's \\u escapes: unescape them so Chinese-numeral forms are seen too
    return re.sub(r"\\\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), out.stdout)


def _holds(text: str, digits: str) -> bool:
    forms = (digits, f"{digits[:3]} {digits[3:7]} {digits[7:]}", f"{digits[:3]}-{digits[3:7]}-{digits[7:]}")
    return any(f in text for f in forms) or digits in phones_in(text)


def _rates(engine) -> list:
    """The three rates of the month per unit, and the knowledge base's one-time resolution rate."""
    return [(r.unit, r.answered, r.response_rate, r.resolution_rate, r.satisfaction_rate)
            for r in unit_rates(engine, MONTH)] + list(one_time_resolution(engine, by="month"))


def test_erase_by_cli_leaves_the_phone_nowhere_and_keeps_the_rates(citizen_data, database_url) -> None:
    engine = citizen_data
    rates_before = _rates(engine)
    assert rates_before and rates_before[0][1] == 3
    assert _holds(_dump(engine), PHONE)
    out = subprocess.run([sys.executable, "-m", "seat.cli", "privacy", "erase", "--phone", "+86 138-1234-5678"],
                         cwd=REPO_ROOT, env={**os.environ, "DATABASE_URL": database_url}, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "erased: 2 tickets" in out.stdout
    assert PHONE not in out.stdout + out.stderr  # the log line is masked

    dump = _dump(engine)
    assert not _holds(dump, PHONE), [line for line in dump.splitlines() if _holds(line, PHONE)]
    assert "张三丰" not in dump and "望京西园三区5号楼" not in dump
    pg = _pg_dump(database_url)
    if pg is not None:
        assert not _holds(pg, PHONE) and "张三丰" not in pg
    # The other citizen is untouched; the month's rates are the same.
    assert _holds(dump, OTHER) and "暖气不热找谁" in dump
    assert _rates(engine) == rates_before
    [entry] = audit.recent(engine, action="privacy.erase")
    assert entry.target == "138****5678" and entry.detail["tickets"] == 2 and entry.detail["tracker_events"] == 3
    with engine.connect() as conn:
        assert conn.execute(select(kb_answers.c.query).where(kb_answers.c.conversation_id == "erased")
                            ).scalar_one() == ERASED_TEXT
        assert conn.execute(select(handoffs)).all() == []


def test_erase_refuses_what_is_not_a_phone(clean_db) -> None:
    with pytest.raises(PrivacyError, match="not a phone number"):
        erase_phone(clean_db, "张三")
    out = subprocess.run([sys.executable, "-m", "seat.cli", "privacy", "erase", "--phone", "abc"], cwd=REPO_ROOT,
                         env={**os.environ, "DATABASE_URL": "sqlite:///" + str(REPO_ROOT / "nonexistent-secc.db")},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "not a phone number" in out.stderr


def test_purge_removes_personal_data_older_than_the_retention(citizen_data) -> None:
    engine = citizen_data
    events = Table("events", MetaData(), autoload_with=engine)
    recent = closed_ticket(engine, datetime.now(timezone.utc) - timedelta(days=2), phone="13700002222",
                           conversation_id="conv-recent", unit="gov-chaoyang")
    with engine.begin() as conn:
        conn.execute(events.insert(), [_user_event("conv-recent", "电话13700002222", datetime.now(timezone.utc))])
    rates_before = _rates(engine)
    report = purge(engine, 180, now=as_utc(local(2026, 10, 8, 10, 0)) + timedelta(days=181))
    assert report.tickets == 3
    dump = _dump(engine)
    assert not _holds(dump, PHONE) and not _holds(dump, OTHER) and "张三丰" not in dump
    assert _holds(dump, "13700002222")  # closed two days ago: kept
    with engine.connect() as conn:
        assert set(conn.execute(select(events.c.sender_id)).scalars()) == {"conv-recent"}
    assert _rates(engine) == rates_before
    assert [e.action for e in audit.recent(engine, action="privacy.purge")] == ["privacy.purge"]
    with pytest.raises(PrivacyError):
        purge(engine, 0)


def test_retention_days_setting() -> None:
    assert Settings.from_env({}).privacy.retention_days == 180
    assert Settings.from_env({"RETENTION_DAYS": "30"}).privacy.retention_days == 30
    with pytest.raises(ValueError, match="RETENTION_DAYS"):
        Settings.from_env({"RETENTION_DAYS": "0"})
    with pytest.raises(ValueError, match="RETENTION_DAYS"):
        Settings.from_env({"RETENTION_DAYS": "half a year"})


async def test_the_callbacks_service_purges_daily(citizen_data) -> None:
    """purge_daily is what `callbacks/cli.py serve` runs next to the workers."""
    stop = asyncio.Event()
    task = asyncio.create_task(purge_daily(citizen_data, 1, stop, every_s=0.05))
    await asyncio.sleep(0.5)
    stop.set()
    passes = await asyncio.wait_for(task, 5)
    assert passes >= 2
    assert not _holds(_dump(citizen_data), PHONE)  # October's closed tickets are older than one day
    assert len(audit.recent(citizen_data, action="privacy.purge")) == passes
