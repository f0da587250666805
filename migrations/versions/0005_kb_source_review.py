"""Knowledge base: each entry's source (what the answer is based on) and review date; every consultation
the knowledge base met is recorded (kb_answers.kind: answer / clarify / none, entry_key nullable).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 19:20:00

Existing rows get NULL; `seat prepare` (ground.store.knowledge.load_kb) fills them from the files.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import context, op

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("kb_entries", sa.Column("source", sa.Text(), nullable=True))
    op.add_column("kb_entries", sa.Column("review_by", sa.Date(), nullable=True))
    op.create_index(op.f("ix_kb_entries_review_by"), "kb_entries", ["review_by"], unique=False)
    op.add_column("kb_answers", sa.Column("kind", sa.String(length=16), server_default="answer", nullable=False))
    if op.get_context().dialect.name != "sqlite":
        op.alter_column("kb_answers", "entry_key", existing_type=sa.String(length=64), nullable=True)
    elif not context.is_offline_mode():  # SQLite alters a column by copying the table (needs a live database)
        with op.batch_alter_table("kb_answers") as batch:
            batch.alter_column("entry_key", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM kb_answers WHERE entry_key IS NULL")
    with op.batch_alter_table("kb_answers") as batch:
        batch.alter_column("entry_key", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("kind")
    op.drop_index(op.f("ix_kb_entries_review_by"), table_name="kb_entries")
    with op.batch_alter_table("kb_entries") as batch:
        batch.drop_column("review_by")
        batch.drop_column("source")
