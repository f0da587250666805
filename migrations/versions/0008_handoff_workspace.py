"""Human agent workspace (issue 16): a handoff's life in the operators' queue, and who is on duty.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 12:15:00

``handoffs`` gets status (waiting | claimed | closed | cancelled | abandoned), who claimed it and when, when it
closed and how (outcome, ticket number, note), the phone call it came from (call_id), updated_at. Existing rows
were never served by anyone: they become closed (the column's server default; the store always sets the status).
One open (waiting/claimed) handoff per conversation (partial unique index). ``operator_presence``: when each
operator's workspace was last seen. SQLite alters the table by copying it (batch); offline (--sql) the copy is
made from the table as revision 0001 created it.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import context, op

revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STATUSES = "status IN ('waiting', 'claimed', 'closed', 'cancelled', 'abandoned')"
OUTCOMES = "outcome IS NULL OR outcome IN ('ticket', 'resolved', 'cancelled', 'abandoned', 'callback_ticket')"
OPEN = "status IN ('waiting', 'claimed')"
NEW_COLUMNS = ("note", "call_id", "ticket_no", "outcome", "updated_at", "closed_at", "claimed_at", "claimed_by",
               "status")


def _handoffs_0007() -> sa.Table:
    """The handoffs table before this revision (for SQLite's offline batch copy)."""
    return sa.Table(
        "handoffs", sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("collected", sa.JSON(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_handoffs"),
        sa.Index("ix_handoffs_conversation_id", "conversation_id"),
    )


def _copy_from() -> dict:
    return {"copy_from": _handoffs_0007()} if context.is_offline_mode() else {}


def upgrade() -> None:
    with op.batch_alter_table("handoffs", **_copy_from()) as batch:
        batch.add_column(sa.Column("status", sa.String(length=20), nullable=False, server_default="closed"))
        batch.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                                   server_default=sa.func.now()))
        batch.add_column(sa.Column("outcome", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("ticket_no", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("call_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.create_check_constraint(op.f("ck_handoffs_status"), STATUSES)
        batch.create_check_constraint(op.f("ck_handoffs_outcome"), OUTCOMES)
        batch.create_index(op.f("ix_handoffs_status_created_at"), ["status", "created_at"], unique=False)
        batch.create_index(op.f("ix_handoffs_call_id"), ["call_id"], unique=False)
    handoffs = sa.table("handoffs", sa.column("created_at", sa.DateTime), sa.column("closed_at", sa.DateTime),
                        sa.column("updated_at", sa.DateTime))
    op.execute(handoffs.update().values(closed_at=handoffs.c.created_at, updated_at=handoffs.c.created_at))
    op.create_index("uq_handoffs_open_conversation", "handoffs", ["conversation_id"], unique=True,
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    op.create_table(
        "operator_presence",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_operator_presence")),
    )


def downgrade() -> None:
    op.drop_table("operator_presence")
    op.drop_index("uq_handoffs_open_conversation", table_name="handoffs")
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_index(op.f("ix_handoffs_call_id"))
        batch.drop_index(op.f("ix_handoffs_status_created_at"))
        batch.drop_constraint(op.f("ck_handoffs_outcome"), type_="check")
        batch.drop_constraint(op.f("ck_handoffs_status"), type_="check")
        for column in NEW_COLUMNS:
            batch.drop_column(column)
