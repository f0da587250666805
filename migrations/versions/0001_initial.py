"""Initial ticket store: tickets, ticket_events, ticket_counters, units, handoffs.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 00:00:00
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

REQUEST_TYPES = "request_type IN ('consultation', 'help', 'complaint', 'suggestion', 'praise')"
TICKET_STATUS = "status IN ('new', 'dispatched', 'in_progress', 'closed')"
EVENT_STATUS = "to_status IN ('new', 'dispatched', 'in_progress', 'closed')"
UNIT_KINDS = "kind IN ('district_government', 'municipal_department', 'street_office')"


def _when(name: str, nullable: bool = False, now_default: bool = True) -> sa.Column:
    """A timezone-aware timestamp column."""
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=sa.func.now() if now_default else None,
    )


def upgrade() -> None:
    """Create all ticket store tables."""
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_no", sa.String(32), nullable=False),
        sa.Column("request_type", sa.String(20), nullable=False),
        sa.Column("category", sa.String(100), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("district", sa.String(50), nullable=True),
        sa.Column("street", sa.String(100), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        _when("occurred_at", nullable=True, now_default=False),
        sa.Column("contact_name", sa.String(100), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("confidential", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("request_key", sa.String(255), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("assigned_unit", sa.String(200), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        _when("created_at"),
        _when("updated_at"),
        _when("closed_at", nullable=True, now_default=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("ticket_no", name=op.f("uq_tickets_ticket_no")),
        sa.UniqueConstraint(
            "conversation_id", "request_key", name=op.f("uq_tickets_conversation_id_request_key")
        ),
        sa.CheckConstraint(REQUEST_TYPES, name=op.f("ck_tickets_request_type")),
        sa.CheckConstraint(TICKET_STATUS, name=op.f("ck_tickets_status")),
    )
    op.create_index(op.f("ix_tickets_status_created_at"), "tickets", ["status", "created_at"])
    op.create_index(op.f("ix_tickets_created_at"), "tickets", ["created_at"])

    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("assigned_unit", sa.String(200), nullable=True),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_events")),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_events_ticket_id_tickets")
        ),
        sa.CheckConstraint(EVENT_STATUS, name=op.f("ck_ticket_events_to_status")),
    )
    op.create_index(op.f("ix_ticket_events_ticket_id"), "ticket_events", ["ticket_id"])

    op.create_table(
        "ticket_counters",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_ticket_counters")),
    )

    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("parent_code", sa.String(200), nullable=True),
        sa.Column("district", sa.String(50), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("code", name=op.f("uq_units_code")),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["units.code"], name=op.f("fk_units_parent_code_units")
        ),
        sa.CheckConstraint(UNIT_KINDS, name=op.f("ck_units_kind")),
    )
    op.create_index(op.f("ix_units_parent_code"), "units", ["parent_code"])

    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("collected", sa.JSON(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
    )
    op.create_index(op.f("ix_handoffs_conversation_id"), "handoffs", ["conversation_id"])


def downgrade() -> None:
    """Drop all ticket store tables."""
    op.drop_index(op.f("ix_handoffs_conversation_id"), table_name="handoffs")
    op.drop_table("handoffs")
    op.drop_index(op.f("ix_units_parent_code"), table_name="units")
    op.drop_table("units")
    op.drop_table("ticket_counters")
    op.drop_index(op.f("ix_ticket_events_ticket_id"), table_name="ticket_events")
    op.drop_table("ticket_events")
    op.drop_index(op.f("ix_tickets_created_at"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_status_created_at"), table_name="tickets")
    op.drop_table("tickets")
