"""Districts, streets, places outside Beijing and the address remainder."""
import pytest
import yaml

from nlu import places
from nlu.places import (
    canonical_district, canonicalize_places, district_names, districts_of_street, find_district, find_districts,
    find_outside_beijing, find_street, split_address, street_stem, streets_of,
)

DISTRICTS = ["东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区", "门头沟区", "房山区", "通州区", "顺义区",
             "昌平区", "大兴区", "怀柔区", "平谷区", "密云区", "延庆区"]


def test_data_file_shape():
    data = yaml.safe_load(places.places_file().read_text(encoding="utf-8"))
    names = [d["name"] for d in data["districts"]]
    assert names == DISTRICTS
    total = 0
    for d in data["districts"]:
        assert set(d) == {"name", "aliases", "homophones", "streets"}
        assert d["streets"] and all(isinstance(s, str) and s.endswith(("街道", "地区", "镇", "乡")) for s in d["streets"])
        assert len(set(d["streets"])) == len(d["streets"])
        total += len(d["streets"])
    assert 320 <= total <= 360
    assert district_names() == DISTRICTS


@pytest.mark.parametrize("district,street", [
    ("西城区", "什刹海街道"), ("海淀区", "学院路街道"), ("丰台区", "卢沟桥街道"), ("通州区", "北苑街道"),
    ("大兴区", "亦庄镇"), ("石景山区", "八角街道"), ("昌平区", "回龙观街道"), ("朝阳区", "望京街道"),
    ("朝阳区", "首都机场街道"), ("东城区", "东华门街道"), ("房山区", "良乡镇"), ("延庆区", "八达岭镇"),
])
def test_known_streets_are_listed(district, street):
    assert street in streets_of(district)


@pytest.mark.parametrize("text,district", [
    ("朝阳区", "朝阳区"), ("我在朝阳", "朝阳区"), ("北京市海淀区中关村", "海淀区"), ("是丰台的", "丰台区"),
    ("石景山那边", "石景山区"), ("门头沟", "门头沟区"), ("我住通州", "通州区"), ("城市副中心", "通州区"),
    ("延庆", "延庆区"), ("在平谷区", "平谷区"), ("密云县城里", "密云区"), ("宣武那边", "西城区"),
    ("崇文区", "东城区"), ("朝阳 区", "朝阳区"), ("朝阳医院门口", "朝阳区"),
    # homophones / ASR errors
    ("海定区", "海淀区"), ("风台", "丰台区"), ("十景山", "石景山区"), ("通洲", "通州区"), ("顺意区", "顺义区"),
    ("长平区", "昌平区"), ("大新区", "大兴区"), ("平古", "平谷区"), ("延青", "延庆区"), ("东成区", "东城区"),
    ("西成区", "西城区"), ("海甸", "海淀区"),
])
def test_find_district(text, district):
    found = find_district(text)
    assert found is not None and found.name == district


@pytest.mark.parametrize("text", [
    "北京", "我在北京", "东北角有个井盖", "西成高铁", "大兴安岭", "朝阳市", "一直没人管", "",
])
def test_no_district(text):
    assert find_district(text) is None


def test_longer_names_win_over_district_aliases():
    assert find_district("朝阳门那边").name == "东城区"  # 朝阳门街道, not 朝阳区
    assert find_district("大兴庄镇").name == "平谷区"  # not 大兴区
    assert find_district("房山区河北镇").name == "房山区"
    assert find_street("朝阳门外大街").street == "朝阳门街道"


def test_district_span_and_all_districts():
    found = find_district("我家在海淀，单位在朝阳")
    assert (found.start, found.end, found.matched, found.via) == (3, 5, "海淀", "alias")
    assert [d.name for d in find_districts("我家在海淀，单位在朝阳")] == ["海淀区", "朝阳区"]


@pytest.mark.parametrize("text,street,district", [
    ("朝阳区望京街道", "望京街道", "朝阳区"),
    ("望京", "望京街道", "朝阳区"),
    ("什刹海", "什刹海街道", "西城区"),
    ("西城区什刹海那边", "什刹海街道", "西城区"),
    ("亦庄", "亦庄镇", "大兴区"),
    ("大兴区亦庄地区", "亦庄镇", "大兴区"),
    ("回龙观", "回龙观街道", "昌平区"),
    ("石景山八角街道", "八角街道", "石景山区"),
    ("卢沟桥", "卢沟桥街道", "丰台区"),
    ("通州北苑街道", "北苑街道", "通州区"),
    ("良乡", "良乡镇", "房山区"),
    ("良乡镇政府", "良乡镇", "房山区"),
    ("望京街道办事处", "望京街道", "朝阳区"),
    ("崇外", "崇文门外街道", "东城区"),
    ("于家务", "于家务回族乡", "通州区"),
    ("喇叭沟门", "喇叭沟门满族乡", "怀柔区"),
    ("海淀区八里庄", "八里庄街道", "海淀区"),
    ("朝阳区八里庄", "八里庄街道", "朝阳区"),
    ("平房地区", "平房地区", "朝阳区"),
    ("房山区河北镇", "河北镇", "房山区"),
    ("海淀街道", "海淀街道", "海淀区"),
    ("望 京 街 道", "望京街道", "朝阳区"),
])
def test_find_street(text, street, district):
    found = find_street(text)
    assert found is not None, text
    assert (found.street, found.district) == (street, district)


@pytest.mark.parametrize("text", [
    "八里庄",  # in 朝阳 and 海淀: needs the district
    "我住平房", "光明正大", "天桥上的灯坏了", "小区前门", "温泉", "海淀", "丰台", "河北", "北京",
    "我上地铁的时候被偷了", "权利和义务", "东四环堵车", "颐和园北宫门", "一棵大榆树",
])
def test_no_street(text):
    assert find_street(text) is None


def test_street_restricted_to_the_given_district():
    assert find_street("八里庄", district="海淀").street == "八里庄街道"
    assert find_street("八里庄", district="朝阳区").district == "朝阳区"
    assert find_street("望京", district="海淀区") is None


def test_district_inferred_from_street():
    found = find_district("望京西园三区")
    assert (found.name, found.via, found.start) == ("朝阳区", "street", None)
    assert find_district("天通苑那边").name == "昌平区"  # 天通苑北 / 天通苑南, both 昌平
    assert find_district("望京", infer=False) is None
    assert find_district("八里庄") is None


@pytest.mark.parametrize("text,place", [
    ("我在天津", "天津"), ("河北廊坊的", "河北"), ("我住燕郊", "燕郊"), ("在三河市", "三河"), ("上海浦东", "上海"),
    ("我现在在石家庄", "石家庄"), ("河北省保定市", "河北"), ("固安那边", "固安"), ("我在辽宁朝阳市", "辽宁"),
    ("大兴安岭", "大兴安岭"),
])
def test_outside_beijing(text, place):
    assert find_outside_beijing(text) == place


@pytest.mark.parametrize("text", [
    "房山区河北镇", "平谷山东庄镇", "密云河南寨", "朝阳区香河园", "西城区西安门大街", "颐和园昆明湖",
    "楼下兰州拉面油烟太大", "重庆火锅店太吵", "我是河北人", "老家河南的", "户口在天津", "一辆河北牌照的车乱停",
    "从河北来北京打工", "东北角", "高碑店地区", "海淀区苏州街", "沙县小吃", "",
])
def test_not_outside_beijing(text):
    assert find_outside_beijing(text) is None


@pytest.mark.parametrize("text,address", [
    ("朝阳区望京街道望京西园三区", "望京西园三区"),
    ("朝阳区望京西园三区", "望京西园三区"),
    ("我家住在海淀区学院路30号院", "学院路30号院"),
    ("地址是朝阳区劲松街道农光里小区十二号楼", "农光里小区十二号楼"),
    ("西城区什刹海街道鸦儿胡同", "鸦儿胡同"),
    ("朝阳区朝阳公园南门", "朝阳公园南门"),
    # A bare street short form directly followed by more name is kept: it may start the
    # community's name ("望京西园"), and keeping it is never wrong.
    ("在丰台区方庄芳古园一区", "方庄芳古园一区"),
    ("北京市东城区东四十条", "东四十条"),
    ("就在望京西园三区3号楼2单元", "望京西园三区3号楼2单元"),
])
def test_split_address(text, address):
    assert split_address(text) == address


@pytest.mark.parametrize("text", ["我是西城区什刹海街道的", "朝阳区", "在海淀", "望京那边", "丰台地区", ""])
def test_split_address_nothing_left(text):
    assert split_address(text) is None


def test_strict_address_stops_where_the_complaint_starts():
    assert split_address("朝阳区望京西园三区有个井盖坏了", strict=True) == "望京西园三区"
    assert split_address("望京西园三区门口的路灯坏了", strict=True) == "望京西园三区门口"
    assert split_address("朝阳区望京那边路灯坏了", strict=True) is None


def test_helpers():
    assert canonical_district("朝阳") == "朝阳区"
    assert canonical_district("海定") == "海淀区"
    assert canonical_district("北京") is None
    assert districts_of_street("八里庄街道") == ["朝阳区", "海淀区"]
    assert street_stem("于家务回族乡") == "于家务"
    assert street_stem("望京街道") == "望京"
    assert canonicalize_places("我在海定区，风台那边") == "我在海淀区，丰台那边"


def test_places_file_override(tmp_path, monkeypatch):
    path = tmp_path / "places.yml"
    path.write_text("districts:\n  - name: 测试区\n    aliases: [测试]\n    homophones: []\n    streets: [甲乙街道]\n",
                    encoding="utf-8")
    monkeypatch.setenv("SEAT_PLACES_FILE", str(path))
    assert find_street("甲乙").district == "测试区"
    assert find_district("朝阳") is None
