"""The three rates per unit and month from a fixture month, against values computed by hand; the report CLI."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import datetime

import pytest
from sqlalchemy import select

from ground.tables.callbacks import survey_results
from ground.store.rates import month_on_month, unit_rates
from ground.settings import REPO_ROOT
from ground.tables.tickets import tickets, units
from tests.callbacks_support import as_utc, closed_ticket, local

S, B, U = "satisfied", "basically_satisfied", "unsatisfied"


def _survey(engine, unit: str, completed: datetime | None, contacted: bool, resolved: bool, satisfaction: str) -> None:
    no = closed_ticket(engine, local(2026, 9, 1, 10, 0), unit=unit)
    with engine.begin() as conn:
        ticket_id = conn.execute(select(tickets.c.id).where(tickets.c.ticket_no == no)).scalar_one()
        conn.execute(survey_results.insert().values(
            ticket_id=ticket_id, responded=contacted, resolved=resolved, satisfaction=satisfaction, channel="voice",
            updated_at=completed or as_utc(local(2026, 10, 5, 10, 0)), completed_at=completed))


@pytest.fixture
def fixture_month(clean_db):
    with clean_db.begin() as conn:
        conn.execute(units.insert(), [
            {"code": "gov-chaoyang", "name": "北京市朝阳区人民政府", "kind": "district_government"},
            {"code": "gov-haidian", "name": "北京市海淀区人民政府", "kind": "district_government"},
        ])
    oct_ = lambda d, h=10, m=0: as_utc(local(2026, 10, d, h, m))  # noqa: E731
    for row in [(True, True, S), (True, True, S), (True, False, B), (False, False, U), (True, True, B)]:
        _survey(clean_db, "gov-chaoyang", oct_(8), *row)
    _survey(clean_db, "gov-haidian", oct_(9), True, True, S)
    _survey(clean_db, "gov-haidian", oct_(31, 23, 30), True, True, S)            # last minutes of October, Beijing
    _survey(clean_db, "gov-haidian", as_utc(local(2026, 11, 1, 0, 10)), False, False, U)  # November in Beijing
    _survey(clean_db, "gov-haidian", None, False, False, U)                        # hung up: not complete
    _survey(clean_db, "gov-chaoyang", as_utc(local(2026, 9, 20, 10, 0)), True, True, S)
    _survey(clean_db, "gov-chaoyang", as_utc(local(2026, 9, 21, 10, 0)), False, False, U)
    _survey(clean_db, "street-x", oct_(12), False, True, B)                        # a unit not in the units table
    return clean_db


def test_rates_match_the_hand_computed_values(fixture_month) -> None:
    rows = {r.unit: r for r in unit_rates(fixture_month, "2026-10")}
    chaoyang, haidian, street = rows["gov-chaoyang"], rows["gov-haidian"], rows["street-x"]
    # 朝阳: 5 answered; contacted 4, solved 3; 满意 2, 基本满意 2, 不满意 1
    assert (chaoyang.answered, chaoyang.contacted, chaoyang.solved) == (5, 4, 3)
    assert chaoyang.response_rate == pytest.approx(0.8)
    assert chaoyang.resolution_rate == pytest.approx(0.6)
    assert chaoyang.satisfaction_rate == pytest.approx((2 + 0.8 * 2) / 5)        # 0.72
    assert chaoyang.score == pytest.approx(0.1 * 0.8 + 0.45 * 0.6 + 0.45 * 0.72)  # 0.674
    assert chaoyang.unit_name == "北京市朝阳区人民政府"
    # 海淀: the two October surveys only (the 1 November one and the incomplete one do not count)
    assert (haidian.answered, haidian.response_rate, haidian.resolution_rate, haidian.satisfaction_rate) == (2, 1, 1, 1)
    assert (street.answered, street.response_rate, street.resolution_rate) == (1, 0, 1)
    assert street.satisfaction_rate == pytest.approx(0.8) and street.unit_name == "street-x"
    assert street.score == pytest.approx(0.1 * 0 + 0.45 * 1 + 0.45 * 0.8)      # 0.81, above 朝阳's 0.674
    assert [r.unit for r in unit_rates(fixture_month, "2026-10")] == ["gov-haidian", "street-x", "gov-chaoyang"]
    assert [r.rank for r in unit_rates(fixture_month, "2026-10")] == [1, 2, 3]


def test_weight_of_basically_satisfied_is_configurable(fixture_month) -> None:
    rows = {r.unit: r for r in unit_rates(fixture_month, "2026-10", weight=0.5)}
    assert rows["gov-chaoyang"].satisfaction_rate == pytest.approx((2 + 0.5 * 2) / 5)
    with pytest.raises(ValueError):
        unit_rates(fixture_month, "2026-10", weight=1.5)
    with pytest.raises(ValueError, match="2026-10"):
        unit_rates(fixture_month, "October")


def test_month_on_month_change(fixture_month) -> None:
    trends = {t.current.unit: t for t in month_on_month(fixture_month, "2026-10")}
    chaoyang = trends["gov-chaoyang"]  # September: 1 of 2 contacted, solved, 满意
    assert chaoyang.delta("response_rate") == pytest.approx(0.8 - 0.5)
    assert chaoyang.delta("resolution_rate") == pytest.approx(0.6 - 0.5)
    assert chaoyang.delta("satisfaction_rate") == pytest.approx(0.72 - 0.5)
    assert trends["gov-haidian"].previous is None and trends["gov-haidian"].delta("response_rate") is None


def test_report_cli_prints_the_ranking_and_writes_csv_and_png(fixture_month, database_url, tmp_path) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    done = subprocess.run([sys.executable, "-m", "seat", "callbacks", "report", "--month", "2026-10", "--out", str(tmp_path)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    first, third = (next(line for line in lines if line.strip().startswith(n)) for n in ("1 ", "3 "))
    assert "海淀" in first and "100.0%" in first
    assert "朝阳" in third and "80.0%" in third and "60.0%" in third and "72.0%" in third and "+30.0" in third
    with (tmp_path / "rates_2026-10.csv").open(encoding="utf-8") as fh:
        rows = {r["unit"]: r for r in csv.DictReader(fh)}
    assert rows["gov-chaoyang"]["satisfaction_rate"] == "0.7200" and rows["gov-chaoyang"]["rank"] == "3"
    assert rows["gov-chaoyang"]["response_rate_change"] == "0.3000"
    trend = (tmp_path / "trend_2026-10.csv").read_text(encoding="utf-8")
    assert "2026-09,gov-chaoyang,2,0.5000" in trend
    for chart in ("rates_2026-10.png", "trend_2026-10.png"):
        data = (tmp_path / chart).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    bad = subprocess.run([sys.executable, "-m", "seat", "callbacks", "report", "--month", "2026-13", "--out", str(tmp_path)],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert bad.returncode == 2 and "month must look like 2026-10" in bad.stdout
