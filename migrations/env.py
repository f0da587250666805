"""Alembic environment for the ticket store.

URL precedence: ``-x url=...``, then ``config.attributes["url"]`` (set by
``ground.store.migrate``), then ``sqlalchemy.url`` in the config, then the
DATABASE_URL setting (ground.settings: the environment variable, else the SQLite file).
A caller may also pass an open connection as ``config.attributes["connection"]``.
"""
from __future__ import annotations

import sys
from logging.config import fileConfig
from pathlib import Path
from typing import Any, Optional

from alembic import context
from sqlalchemy.pool import NullPool

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `alembic` run from elsewhere without the package installed
    sys.path.insert(0, str(REPO_ROOT))

from ground.db import create_engine  # noqa: E402
from ground.settings import Settings  # noqa: E402
from ground.tables.tickets import UTCDateTime, metadata  # noqa: E402
import ground.tables.knowledge  # noqa: E402,F401  (registers the knowledge-base tables on the same metadata)
import ground.tables.console  # noqa: E402,F401  (registers the admin console tables on the same metadata)
import ground.tables.callbacks  # noqa: E402,F401  (and the callback tables)

config = context.config

if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def database_url() -> str:
    """The URL to migrate, by the precedence in the module docstring."""
    x_args = context.get_x_argument(as_dictionary=True)
    return (
        x_args.get("url")
        or config.attributes.get("url")
        or config.get_main_option("sqlalchemy.url")
        or Settings.from_env().db.url  # DATABASE_URL, else the SQLite default
    )


def render_item(type_: str, obj: Any, autogen_context: Any) -> Any:
    """Render our UTCDateTime as plain ``sa.DateTime(timezone=True)`` in new migrations."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def include_name(name: Optional[str], type_: str, parent_names: Any) -> bool:
    """Autogenerate only looks at our tables: Rasa's tracker store (``events``) shares the database."""
    if type_ == "table":
        return name in target_metadata.tables
    return True


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=render_item,
        include_name=include_name,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``)."""
    url = database_url()
    _configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Any) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against a live database (own engine, or a connection handed in)."""
    connection: Optional[Any] = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_engine(database_url(), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _run_on(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
