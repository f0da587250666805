"""Alembic migrations: up from empty, down, up again; models match; CLI entry points."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.pool import NullPool

from ground.db import create_engine
from ground.store import current_revision, downgrade, head_revision, migrate
from ground.tables.tickets import metadata

REPO_ROOT = Path(__file__).resolve().parent.parent
STORE_TABLES = {"tickets", "ticket_events", "ticket_counters", "units", "handoffs", "kb_entries", "kb_answers",
                "callback_attempts", "survey_results", "survey_opt_outs",
                "admin_users", "flow_revisions", "model_versions", "audit_log", "operator_presence"}


def table_names(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def schema_diff(url: str) -> list:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, metadata)
    finally:
        engine.dispose()


def test_session_database_is_the_configured_backend(database_url: str) -> None:
    expected = "postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite"
    assert create_engine(database_url).dialect.name == expected
    assert current_revision(database_url) == head_revision()


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    url = empty_database_url
    assert current_revision(url) is None
    migrate(url)
    assert current_revision(url) == head_revision() == "0008"
    assert STORE_TABLES <= table_names(url)
    downgrade(url)
    assert current_revision(url) is None
    assert not STORE_TABLES & table_names(url)
    migrate(url)
    assert STORE_TABLES <= table_names(url)
    assert current_revision(url) == head_revision()


def test_models_match_migrations(empty_database_url: str) -> None:
    migrate(empty_database_url)
    assert schema_diff(empty_database_url) == []


def _alembic(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )


def test_alembic_cli_from_repo_root(empty_database_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = _alembic(["-x", f"url={empty_database_url}", "upgrade", "head"], env, REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert current_revision(empty_database_url) == "0008"
    # DATABASE_URL is used without -x, also with the config given from another directory
    env["DATABASE_URL"] = empty_database_url
    done = _alembic(["-c", str(REPO_ROOT / "alembic.ini"), "downgrade", "base"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert current_revision(empty_database_url) is None


def test_alembic_check_ignores_foreign_tables(empty_database_url: str) -> None:
    migrate(empty_database_url)
    engine = create_engine(empty_database_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:  # like Rasa's tracker store, which shares the database
            conn.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255))"))
    finally:
        engine.dispose()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = _alembic(["-x", f"url={empty_database_url}", "check"], env, REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No new upgrade operations detected" in done.stdout + done.stderr


def test_alembic_cli_defaults_to_settings_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = _alembic(["upgrade", "head", "--sql"], env, REPO_ROOT)  # offline: prints SQL only
    assert done.returncode == 0, done.stderr
    assert "CREATE TABLE tickets" in done.stdout
    assert "DATETIME" in done.stdout  # rendered for the default SQLite database


def test_serving_from_an_unmigrated_database_is_refused_with_the_fix(empty_database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_database_url}
    done = subprocess.run([sys.executable, "-m", "seat", "serve", "callbacks"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "not migrated" in done.stderr and "seat prepare" in done.stderr
    assert "Traceback" not in done.stderr
    assert current_revision(empty_database_url) is None  # a replica does not migrate by itself


def test_run_prepares_an_unmigrated_database_before_starting(empty_database_url: str, monkeypatch,
                                                              capsys) -> None:
    from seat import cli

    from ground import rasa_models as training
    started: list = []
    monkeypatch.chdir(REPO_ROOT)  # `seat run` changes to the repository: restored afterwards
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    monkeypatch.setattr(training, "model_to_serve", lambda models_dir: REPO_ROOT / "models" / "any.tar.gz")
    monkeypatch.setattr(cli, "_launch", lambda services: started.append(current_revision(empty_database_url)) or 0)
    assert cli.main(["run"]) == 0
    assert started == [head_revision()]  # migrated before any service started
    assert "not migrated" in capsys.readouterr().out
