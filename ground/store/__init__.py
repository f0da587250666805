"""Ticket store: models, migrations, repository API and units.

Typical use::

    from ground.store import TicketStore, TicketDraft, migrate, load_units

    migrate(url)                       # alembic upgrade head
    engine = create_engine(url)
    load_units(engine)                 # idempotent
    ticket = TicketStore(engine).create_ticket(TicketDraft(...))
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool

from ground.db import create_engine
from ground.masking import mask_name, mask_phone
from ground.store.numbering import normalize_phone, normalize_ticket_no
from ground.store.tickets import (
    ALLOWED_TRANSITIONS,
    InvalidTicketData,
    InvalidTransition,
    Ticket,
    TicketDraft,
    TicketEvent,
    TicketNotFound,
    TooManyLookups,
    TicketStore,
    TicketStoreError,
)
from ground.store import handoffs
from ground.store.handoffs import Handoff, HandoffError, HandoffStats
from ground.store.units import LoadResult, Unit, get_unit, list_units, load_units, read_units, upsert_units

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"

__all__ = [
    "ALLOWED_TRANSITIONS",
    "Handoff",
    "HandoffError",
    "HandoffStats",
    "InvalidTicketData",
    "InvalidTransition",
    "LoadResult",
    "MIGRATIONS_DIR",
    "Ticket",
    "TicketDraft",
    "TicketEvent",
    "TicketNotFound",
    "TicketStore",
    "TicketStoreError",
    "TooManyLookups",
    "Unit",
    "alembic_config",
    "current_revision",
    "downgrade",
    "get_unit",
    "handoffs",
    "head_revision",
    "list_units",
    "load_units",
    "mask_name",
    "mask_phone",
    "migrate",
    "normalize_phone",
    "normalize_ticket_no",
    "read_units",
    "upsert_units",
]


def alembic_config(url: str) -> Any:
    """An Alembic Config for `url` that works from any working directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["url"] = url  # not via set_main_option: '%' in URLs breaks ConfigParser
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` (``alembic upgrade``)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Downgrade the database at `url` to `revision` (``alembic downgrade``)."""
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> Optional[str]:
    """The revision the database at `url` is at, or None when unmigrated."""
    from ground.db import create_engine

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> Optional[str]:
    """The newest revision in ``migrations/versions``."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
