"""Satisfaction callbacks: callback_attempts, survey_results, survey_opt_outs; closed-ticket index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 18:00:00
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OUTCOMES = "outcome IN ('answered', 'no_answer', 'busy', 'failed', 'refused', 'wrong_person', 'skipped')"
CHANNELS = "channel IN ('voice', 'chat')"
SATISFACTION = "satisfaction IN ('satisfied', 'basically_satisfied', 'unsatisfied')"


def upgrade() -> None:
    op.create_index("ix_tickets_status_closed_at", "tickets", ["status", "closed_at"], unique=False)
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("reported_outcome", sa.String(length=20), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(OUTCOMES, name=op.f("ck_callback_attempts_outcome")),
        sa.CheckConstraint(CHANNELS, name=op.f("ck_callback_attempts_channel")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_callback_attempts_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
        sa.UniqueConstraint("ticket_id", "attempt", name=op.f("uq_callback_attempts_ticket_id_attempt")),
    )
    op.create_index(op.f("ix_callback_attempts_outcome_scheduled_at"), "callback_attempts",
                    ["outcome", "scheduled_at"], unique=False)
    op.create_index(op.f("ix_callback_attempts_call_id"), "callback_attempts", ["call_id"], unique=False)
    op.create_table(
        "survey_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("responded", sa.Boolean(), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("satisfaction", sa.String(length=20), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(SATISFACTION, name=op.f("ck_survey_results_satisfaction")),
        sa.ForeignKeyConstraint(["attempt_id"], ["callback_attempts.id"],
                                name=op.f("fk_survey_results_attempt_id_callback_attempts")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_survey_results_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_results")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_survey_results_ticket_id")),
    )
    op.create_index(op.f("ix_survey_results_completed_at"), "survey_results", ["completed_at"], unique=False)
    op.create_table(
        "survey_opt_outs",
        sa.Column("phone_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone_sha256", name=op.f("pk_survey_opt_outs")),
    )


def downgrade() -> None:
    op.drop_table("survey_opt_outs")
    op.drop_index(op.f("ix_survey_results_completed_at"), table_name="survey_results")
    op.drop_table("survey_results")
    op.drop_index(op.f("ix_callback_attempts_call_id"), table_name="callback_attempts")
    op.drop_index(op.f("ix_callback_attempts_outcome_scheduled_at"), table_name="callback_attempts")
    op.drop_table("callback_attempts")
    op.drop_index("ix_tickets_status_closed_at", table_name="tickets")
