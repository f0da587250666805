"""The store (ground/store) is the only writer of the tables in ground/tables: no other module inserts, updates
or deletes their rows, whether through a table object, an ORM model, a dialect upsert or raw SQL."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from ground.tables import metadata

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("ground", "nlu", "bot", "voice", "web", "wechat", "callbacks", "admin", "seat")
OWNERS = ("ground/store/", "ground/tables/")  # the writer, and the definitions it writes
WRITES = {"insert", "update", "delete"}
TABLES = sorted(metadata.tables)
RAW_SQL = re.compile(r"\b(insert\s+into|update|delete\s+from)\s+\"?(" + "|".join(TABLES) + r")\b", re.I)


def table_writes(source: str) -> list[str]:
    """What in `source` writes a ground.tables table (one line per finding)."""
    tree = ast.parse(source)
    table_names: set[str] = set()  # names bound to table objects or models from ground.tables
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [(a.name, a.asname or a.name) for a in node.names]
            if node.module.startswith("ground.tables"):
                table_names.update(bound for _, bound in names)
            if node.module.startswith("sqlalchemy") and {n for n, _ in names} & (WRITES | {"dialect_insert"}):
                found.append(f"line {node.lineno}: imports a write statement from {node.module}")
            if node.module.startswith("ground.tables") and "dialect_insert" in {n for n, _ in names}:
                found.append(f"line {node.lineno}: imports dialect_insert")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target, method = node.func.value, node.func.attr
            on_table = (isinstance(target, ast.Name) and target.id in table_names) or (
                isinstance(target, ast.Attribute) and target.attr == "__table__")
            if method in WRITES and on_table:
                found.append(f"line {node.lineno}: .{method}() on a table")
            if method in {"add", "add_all", "merge", "delete"} and any(
                    isinstance(a, ast.Call) and isinstance(a.func, ast.Name) and a.func.id in table_names
                    for a in node.args):
                found.append(f"line {node.lineno}: session.{method}() of a model")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_SQL.search(node.value):
            found.append(f"line {node.lineno}: raw SQL writing {RAW_SQL.search(node.value).group(2)}")
    return found


def test_only_the_store_writes_the_tables() -> None:
    offenders = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith(OWNERS):
                continue
            found = table_writes(path.read_text(encoding="utf-8"))
            if found:
                offenders[rel] = found
    assert offenders == {}


def test_the_scan_finds_each_kind_of_write() -> None:
    """The scan is not vacuous: each way of writing a table outside the store is caught."""
    assert TABLES and {"tickets", "ticket_events", "handoffs", "units", "callback_attempts"} <= set(TABLES)
    samples = {
        "from sqlalchemy import update\n": "imports a write",
        "from ground.tables.tickets import TicketModel\nconn.execute(TicketModel.__table__.update())\n": ".update()",
        "from ground.tables.callbacks import callback_attempts as a\nconn.execute(a.insert().values(x=1))\n": ".insert()",
        "from ground.tables.tickets import ticket_events\nconn.execute(ticket_events.delete())\n": ".delete()",
        "from ground.tables.tickets import HandoffModel\nsession.add(HandoffModel(reason='x'))\n": "session.add()",
        "conn.exec_driver_sql('UPDATE tickets SET status = 1')\n": "raw SQL writing tickets",
        "from ground.tables.tickets import dialect_insert\n": "dialect_insert",
    }
    for source, what in samples.items():
        found = table_writes(source)
        assert found and what in found[0], (source, found)
    assert table_writes("from ground.tables.tickets import tickets\nconn.execute(select(tickets))\nd.update(x=1)\n") == []
