"""Opt-out list keyed by an HMAC with a secret (issue 13, finding 10): plain SHA-256 rows of a phone number are
brute-forced in seconds (10^11 numbers); an HMAC under OPT_OUT_SECRET (kept outside the database) is not.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:15:00

Each existing row is re-keyed from the tickets' phone numbers (the number whose SHA-256 it is); a row no ticket
explains stays as it is and is still honoured (ground/store/survey_tries.py) until that number is seen again.
Offline (--sql) there is nothing to read: the rows are left for `seat prepare`. Downgrade keeps the HMAC rows
(they cannot be turned back into plain hashes) - they simply stop matching.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import context, op

from ground.settings import current, opt_out_secret
from ground.store.numbering import normalize_phone

revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

opt_outs = sa.table("survey_opt_outs", sa.column("phone_sha256", sa.String))
tickets = sa.table("tickets", sa.column("phone", sa.String))


def upgrade() -> None:
    if context.is_offline_mode():
        return
    conn = op.get_bind()
    rows = set(conn.execute(sa.select(opt_outs.c.phone_sha256)).scalars())
    if not rows:
        return
    secret = opt_out_secret(current())
    for phone in conn.execute(sa.select(tickets.c.phone).where(tickets.c.phone.is_not(None)).distinct()).scalars():
        digits = normalize_phone(phone) or phone
        legacy = hashlib.sha256(digits.encode()).hexdigest()
        if legacy in rows:
            key = hmac.new(secret, digits.encode(), hashlib.sha256).hexdigest()
            if key in rows:
                conn.execute(opt_outs.delete().where(opt_outs.c.phone_sha256 == legacy))
            else:  # re-keyed in place: the row keeps its created_at
                conn.execute(opt_outs.update().where(opt_outs.c.phone_sha256 == legacy).values(phone_sha256=key))
            rows.discard(legacy)
            rows.add(key)


def downgrade() -> None:
    pass
