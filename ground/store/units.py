"""Units tickets are dispatched to: loading (idempotent upsert) and lookups.

Municipal departments come from ``ground/data/units.yml``; district governments
and street offices are derived from ``ground/data/beijing_places.yml``.
Codes: ``muni.<slug>``, ``gov.<district>``, ``street.<district>.<street>``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import yaml
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from ground.tables.tickets import UNIT_KINDS, UnitModel, dialect_insert, utcnow

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_UNITS_PATH = DATA_DIR / "units.yml"
DEFAULT_PLACES_PATH = DATA_DIR / "beijing_places.yml"

PathLike = Union[str, Path]


@dataclass(frozen=True)
class Unit:
    """An organisation that handles tickets."""

    code: str
    name: str
    kind: str
    parent_code: Optional[str] = None
    district: Optional[str] = None
    active: bool = True

    @classmethod
    def from_mapping(cls, mapping: Any) -> "Unit":
        """Build from a result row mapping of the ``units`` table."""
        return cls(**{f.name: mapping[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load_units` changed."""

    inserted: int
    updated: int
    unchanged: int
    deactivated: int

    @property
    def total(self) -> int:
        """Units present in the sources."""
        return self.inserted + self.updated + self.unchanged

    def __str__(self) -> str:
        return (
            f"{self.total} units ({self.inserted} new, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.deactivated} deactivated)"
        )


def district_government_code(district: str) -> str:
    """``gov.朝阳区``."""
    return f"gov.{district}"


def street_office_code(district: str, street: str) -> str:
    """``street.朝阳区.望京街道``."""
    return f"street.{district}.{street}"


def street_office_name(street: str) -> str:
    """Official-style name: 街道/地区 -> 办事处, 乡/镇 -> 人民政府."""
    if street.endswith(("乡", "镇")):
        return street + "人民政府"
    return street + "办事处"


def _read_yaml(path: PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _text(value: Any, what: str, source: PathLike) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{source}: {what} must be a non-empty string, got {value!r}")
    return value.strip()


def read_municipal_units(path: PathLike = DEFAULT_UNITS_PATH) -> list[Unit]:
    """Municipal departments from ``units.yml`` (``municipal_departments: [{code, name}]``)."""
    data = _read_yaml(path) or {}
    units = []
    for entry in data.get("municipal_departments") or []:
        code = _text(entry.get("code"), "code", path)
        if not code.startswith("muni."):
            raise ValueError(f"{path}: municipal department code {code!r} must start with 'muni.'")
        units.append(Unit(code=code, name=_text(entry.get("name"), "name", path), kind="municipal_department"))
    return units


def read_place_units(path: PathLike = DEFAULT_PLACES_PATH) -> list[Unit]:
    """District governments and their street offices from a places file."""
    data = _read_yaml(path) or {}
    districts = data.get("districts")
    if not isinstance(districts, list) or not districts:
        raise ValueError(f"{path}: expected a non-empty 'districts' list")
    units: list[Unit] = []
    for entry in districts:
        district = _text(entry.get("name"), "district name", path)
        gov = district_government_code(district)
        units.append(
            Unit(code=gov, name=f"北京市{district}人民政府", kind="district_government", district=district)
        )
        seen: set[str] = set()
        for item in entry.get("streets") or []:
            raw = item.get("name") if isinstance(item, dict) else item
            street = _text(raw, f"street of {district}", path)
            if street in seen:
                continue
            seen.add(street)
            units.append(
                Unit(
                    code=street_office_code(district, street),
                    name=street_office_name(street),
                    kind="street_office",
                    parent_code=gov,
                    district=district,
                )
            )
    return units


def read_units(
    units_path: PathLike = DEFAULT_UNITS_PATH, places_path: PathLike = DEFAULT_PLACES_PATH
) -> list[Unit]:
    """All units from both files, parents before children, codes unique."""
    units = read_municipal_units(units_path) + read_place_units(places_path)
    codes = [u.code for u in units]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise ValueError(f"duplicate unit codes: {duplicates}")
    return units


def _existing(conn: Connection) -> dict[str, tuple[Any, ...]]:
    table = UnitModel.__table__
    rows = conn.execute(
        select(table.c.code, table.c.name, table.c.kind, table.c.parent_code, table.c.district, table.c.active)
    )
    return {row.code: tuple(row) for row in rows}


def upsert_units(engine: Engine, units: Iterable[Unit], *, deactivate_missing: bool = False) -> LoadResult:
    """Insert new units and update changed ones (reactivating them).

    With `deactivate_missing`, stored units absent from `units` are marked
    inactive (never deleted: tickets may still reference their codes).
    """
    units = list(units)
    for unit in units:
        if unit.kind not in UNIT_KINDS:
            raise ValueError(f"unit {unit.code!r}: unknown kind {unit.kind!r}")
    table = UnitModel.__table__
    inserted = updated = unchanged = deactivated = 0
    now = utcnow()
    with engine.begin() as conn:
        before = _existing(conn)
        insert = dialect_insert(conn.dialect.name)
        for unit in units:  # one statement per unit keeps parents before children
            wanted = (unit.code, unit.name, unit.kind, unit.parent_code, unit.district, True)
            old = before.get(unit.code)
            if old is not None and tuple(old) == wanted:
                unchanged += 1
                continue
            values = {
                "code": unit.code,
                "name": unit.name,
                "kind": unit.kind,
                "parent_code": unit.parent_code,
                "district": unit.district,
                "active": True,
                "updated_at": now,
            }
            stmt = insert(table).values(**values)
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.code],
                set_={k: stmt.excluded[k] for k in values if k != "code"},
            )
            conn.execute(stmt)
            if old is None:
                inserted += 1
            else:
                updated += 1
        if deactivate_missing:
            wanted_codes = {u.code for u in units}
            for code, old in before.items():
                if code not in wanted_codes and old[-1]:
                    conn.execute(
                        table.update().where(table.c.code == code).values(active=False, updated_at=now)
                    )
                    deactivated += 1
    result = LoadResult(inserted, updated, unchanged, deactivated)
    log.info("units loaded: %s", result)
    return result


def load_units(
    engine: Engine,
    units_path: PathLike = DEFAULT_UNITS_PATH,
    places_path: PathLike = DEFAULT_PLACES_PATH,
) -> LoadResult:
    """Read both files and upsert all units (safe to re-run); units no longer listed are deactivated."""
    return upsert_units(engine, read_units(units_path, places_path), deactivate_missing=True)


def get_unit(engine: Engine, code: str) -> Optional[Unit]:
    """The unit with that code, else None."""
    with engine.connect() as conn:
        row = conn.execute(select(UnitModel.__table__).where(UnitModel.__table__.c.code == code)).first()
    return Unit.from_mapping(row._mapping) if row is not None else None


def list_units(
    engine: Engine,
    *,
    kind: Optional[str] = None,
    district: Optional[str] = None,
    parent_code: Optional[str] = None,
    include_inactive: bool = False,
) -> list[Unit]:
    """Units ordered by code, optionally filtered."""
    table = UnitModel.__table__
    stmt = select(table).order_by(table.c.code)
    if kind is not None:
        stmt = stmt.where(table.c.kind == kind)
    if district is not None:
        stmt = stmt.where(table.c.district == district)
    if parent_code is not None:
        stmt = stmt.where(table.c.parent_code == parent_code)
    if not include_inactive:
        stmt = stmt.where(table.c.active.is_(True))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [Unit.from_mapping(row._mapping) for row in rows]
