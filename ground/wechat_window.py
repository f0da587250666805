"""WeChat's 48-hour service window: customer-service messages reach a follower only within 48 hours
of their last message to the account (after that WeChat answers errcode 45015).

The citizen's last message is read from Rasa's tracker store, which lives in the seat's database
(``endpoints.yml``: ``seat.rasa_stores.DatabaseUrlTrackerStore``, table ``events``). In the ground layer
because the survey scheduler (``ground.store.survey_tries``) decides by it whether a WeChat ticket is
surveyed over WeChat or by phone; only reads.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

SERVICE_WINDOW = timedelta(hours=48)


def last_message_at(conn: Connection, sender_id: str) -> Optional[datetime]:
    """When the citizen (OpenID) last wrote to us, or None (no tracker table, no message)."""
    try:
        with conn.begin_nested():
            value = conn.execute(
                text("SELECT max(timestamp) FROM events WHERE sender_id = :s AND type_name = 'user'"),
                {"s": sender_id},
            ).scalar()
    except DBAPIError:  # no Rasa tracker tables in this database
        return None
    return datetime.fromtimestamp(float(value), timezone.utc) if value is not None else None


def window_open(last: Optional[datetime], at: datetime, margin: timedelta = timedelta(minutes=30)) -> bool:
    """True when a message sent at `at` (with a safety margin) is still inside the window."""
    return last is not None and at + margin < last + SERVICE_WINDOW
