"""Units loader: municipal departments from units.yml, districts/streets from a places file."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import Engine

from ground.store import get_unit, list_units, load_units, read_units
from ground.store.units import DEFAULT_PLACES_PATH, DEFAULT_UNITS_PATH, read_municipal_units

REQUIRED_MUNICIPAL = {
    "muni.housing": "北京市住房和城乡建设委员会",
    "muni.transport": "北京市交通委员会",
    "muni.ecology": "北京市生态环境局",
    "muni.hrss": "北京市人力资源和社会保障局",
    "muni.health": "北京市卫生健康委员会",
    "muni.education": "北京市教育委员会",
    "muni.market": "北京市市场监督管理局",
    "muni.urban": "北京市城市管理委员会",
    "muni.water": "北京市水务局",
    "muni.police": "北京市公安局",
    "muni.civil": "北京市民政局",
    "muni.medsec": "北京市医疗保障局",
    "muni.planning": "北京市规划和自然资源委员会",
    "muni.culture": "北京市文化和旅游局",
    "muni.landscape": "北京市园林绿化局",
    "muni.tax": "国家税务总局北京市税务局",
}

PLACES = {
    "districts": [
        {
            "name": "朝阳区",
            "aliases": ["朝阳"],
            "homophones": ["潮阳"],
            "streets": ["望京街道", "三里屯街道", "来广营乡"],
        },
        {"name": "延庆区", "aliases": ["延庆"], "homophones": [], "streets": ["延庆镇", "八达岭镇"]},
    ]
}


def write_places(path: Path, places: dict) -> Path:
    path.write_text(yaml.safe_dump(places, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def places_file(tmp_path: Path) -> Path:
    return write_places(tmp_path / "places.yml", PLACES)


def test_units_yml_lists_the_required_municipal_departments() -> None:
    units = {u.code: u for u in read_municipal_units(DEFAULT_UNITS_PATH)}
    for code, name in REQUIRED_MUNICIPAL.items():
        assert units[code].name == name
        assert units[code].kind == "municipal_department"


def test_places_derive_governments_and_street_offices(places_file: Path) -> None:
    units = {u.code: u for u in read_units(DEFAULT_UNITS_PATH, places_file)}
    gov = units["gov.朝阳区"]
    assert (gov.kind, gov.district, gov.parent_code, gov.name) == (
        "district_government", "朝阳区", None, "北京市朝阳区人民政府"
    )
    office = units["street.朝阳区.望京街道"]
    assert (office.kind, office.district, office.parent_code, office.name) == (
        "street_office", "朝阳区", "gov.朝阳区", "望京街道办事处"
    )
    assert units["street.朝阳区.来广营乡"].name == "来广营乡人民政府"
    assert units["street.延庆区.八达岭镇"].parent_code == "gov.延庆区"


def test_load_units_is_idempotent(clean_db: Engine, places_file: Path, tmp_path: Path) -> None:
    municipal = len(read_municipal_units(DEFAULT_UNITS_PATH))
    first = load_units(clean_db, DEFAULT_UNITS_PATH, places_file)
    assert (first.inserted, first.updated, first.deactivated) == (municipal + 7, 0, 0)
    second = load_units(clean_db, DEFAULT_UNITS_PATH, places_file)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, municipal + 7)
    assert len(list_units(clean_db)) == municipal + 7

    streets = [u.code for u in list_units(clean_db, kind="street_office", parent_code="gov.朝阳区")]
    assert streets == sorted(["street.朝阳区.望京街道", "street.朝阳区.三里屯街道", "street.朝阳区.来广营乡"])
    assert [u.code for u in list_units(clean_db, kind="district_government")] == ["gov.延庆区", "gov.朝阳区"]

    # a renamed department, a new street, a removed street
    units_file = tmp_path / "units.yml"
    data = yaml.safe_load(DEFAULT_UNITS_PATH.read_text(encoding="utf-8"))
    data["municipal_departments"][0]["name"] = "改名后的委员会"
    units_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    changed = {"districts": [dict(PLACES["districts"][0]), PLACES["districts"][1]]}
    changed["districts"][0]["streets"] = ["望京街道", "三里屯街道", "酒仙桥街道"]
    third = load_units(clean_db, units_file, write_places(tmp_path / "p2.yml", changed))
    assert (third.inserted, third.updated, third.deactivated) == (1, 1, 1)
    first_code = data["municipal_departments"][0]["code"]
    assert get_unit(clean_db, first_code).name == "改名后的委员会"
    assert get_unit(clean_db, "street.朝阳区.酒仙桥街道").parent_code == "gov.朝阳区"
    gone = get_unit(clean_db, "street.朝阳区.来广营乡")
    assert gone is not None and gone.active is False
    assert "street.朝阳区.来广营乡" not in {u.code for u in list_units(clean_db)}

    # back to the original files: name restored, street reactivated
    fourth = load_units(clean_db, DEFAULT_UNITS_PATH, places_file)
    assert (fourth.inserted, fourth.updated, fourth.deactivated) == (0, 2, 1)
    assert get_unit(clean_db, "street.朝阳区.来广营乡").active is True
    assert get_unit(clean_db, "nope") is None


def test_bad_places_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        read_units(DEFAULT_UNITS_PATH, write_places(tmp_path / "empty.yml", {"districts": []}))
    with pytest.raises(ValueError):
        read_units(DEFAULT_UNITS_PATH, write_places(tmp_path / "bad.yml", {"districts": [{"name": ""}]}))


def test_real_places_file_loads_sixteen_districts(clean_db: Engine) -> None:
    if not DEFAULT_PLACES_PATH.exists():
        pytest.skip(f"{DEFAULT_PLACES_PATH} not written yet")
    result = load_units(clean_db)
    govs = list_units(clean_db, kind="district_government")
    assert len(govs) == 16
    assert "gov.朝阳区" in {u.code for u in govs}
    for gov in govs:
        assert list_units(clean_db, kind="street_office", parent_code=gov.code), gov.code
    assert result.total == len(list_units(clean_db))
    assert load_units(clean_db).inserted == 0
