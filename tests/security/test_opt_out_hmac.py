"""Issue 13, finding 10: the opt-out list is keyed by an HMAC under OPT_OUT_SECRET, not a plain SHA-256 of the
number; migration 0007 (opt-out HMAC) re-keys the old rows; old rows no ticket explains are still honoured."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from ground.db import create_engine
from ground.settings import Settings
from ground.store import migrate
from ground.store.survey_tries import legacy_phone_hash, opt_out, phone_hash, schedule_closed
from ground.tables.callbacks import callback_attempts, survey_opt_outs
from tests.callbacks_support import closed_ticket, policy_from

PHONE, UNKNOWN = "13712345678", "13598765432"
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)


def _keys(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(survey_opt_outs.c.phone_sha256)).scalars())


def test_the_key_is_an_hmac_that_depends_on_the_secret() -> None:
    plain = hashlib.sha256(PHONE.encode()).hexdigest()
    assert phone_hash(PHONE) != plain and phone_hash("+86 137-1234-5678") == phone_hash(PHONE)
    assert phone_hash(PHONE, b"a" * 16) != phone_hash(PHONE, b"b" * 16)
    with pytest.raises(ValueError, match="OPT_OUT_SECRET"):
        Settings.from_env({"OPT_OUT_SECRET": "short"})


def test_opt_out_stores_no_plain_hash_and_is_honoured(clean_db) -> None:
    opt_out(clean_db, "137 1234 5678", NOW)
    assert _keys(clean_db) == {phone_hash(PHONE)}
    closed_ticket(clean_db, NOW, phone=PHONE)
    schedule_closed(clean_db, policy_from(), NOW)
    with clean_db.connect() as conn:
        assert conn.execute(select(callback_attempts.c.outcome, callback_attempts.c.note)).one() == (
            "skipped", "citizen opted out")


def test_migration_rekeys_old_rows_and_honours_unexplained_ones(empty_database_url) -> None:
    migrate(empty_database_url, "0005")
    engine = create_engine(empty_database_url)
    try:
        closed_ticket(engine, NOW, phone="137-1234-5678", close=False)
        with engine.begin() as conn:
            conn.execute(survey_opt_outs.insert(), [
                {"phone_sha256": hashlib.sha256(PHONE.encode()).hexdigest(), "created_at": NOW},
                {"phone_sha256": hashlib.sha256(UNKNOWN.encode()).hexdigest(), "created_at": NOW}])
        migrate(empty_database_url)
        assert _keys(engine) == {phone_hash(PHONE), legacy_phone_hash(UNKNOWN)}
        # The unexplained old row still keeps its number from being called; a new opt-out re-keys it.
        closed_ticket(engine, NOW, phone=UNKNOWN)
        schedule_closed(engine, policy_from(), NOW)
        with engine.connect() as conn:
            assert conn.execute(select(callback_attempts.c.note)).scalar_one() == "citizen opted out"
        opt_out(engine, UNKNOWN, NOW)
        assert _keys(engine) == {phone_hash(PHONE), phone_hash(UNKNOWN)}
    finally:
        engine.dispose()
