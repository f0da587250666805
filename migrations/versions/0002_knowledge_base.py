"""Knowledge base: kb_entries (questions and answers) and kb_answers (one-time resolution).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 16:00:00
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "kb_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("paraphrases", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_entries")),
        sa.UniqueConstraint("entry_key", name=op.f("uq_kb_entries_entry_key")),
    )
    op.create_index(op.f("ix_kb_entries_topic"), "kb_entries", ["topic"], unique=False)
    op.create_table(
        "kb_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("entry_key", sa.String(length=64), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("ticket_no", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_answers")),
    )
    op.create_index(op.f("ix_kb_answers_conversation_id"), "kb_answers", ["conversation_id"], unique=False)
    op.create_index(op.f("ix_kb_answers_created_at"), "kb_answers", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_kb_answers_created_at"), table_name="kb_answers")
    op.drop_index(op.f("ix_kb_answers_conversation_id"), table_name="kb_answers")
    op.drop_table("kb_answers")
    op.drop_index(op.f("ix_kb_entries_topic"), table_name="kb_entries")
    op.drop_table("kb_entries")
