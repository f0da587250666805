"""Facts from whole citizen messages, as the intake form sees them."""
from datetime import datetime

import pytest

from nlu.facts import Facts, extract_facts

NOW = datetime(2024, 3, 14, 15, 30)


def test_composite_utterance():
    f = extract_facts("我是西城区什刹海街道的，电话13612345678，胡同里的垃圾三天没人清运了", NOW)
    assert (f.district, f.street, f.phone) == ("西城区", "什刹海街道", "13612345678")
    assert not f.district_inferred
    assert f.address is None
    assert f.outside_beijing is None and f.phone_error is None and f.contact_name is None
    assert f.occurred_at == datetime(2024, 3, 11)
    assert f.category == "环境卫生"
    assert f.description == "胡同里的垃圾三天没人清运了"


def test_location_answer():
    f = extract_facts("朝阳区望京街道望京西园三区", NOW)
    assert (f.district, f.street, f.address) == ("朝阳区", "望京街道", "望京西园三区")
    assert f.description is None and f.phone is None and f.occurred_at is None


def test_spoken_phone_name_and_address():
    f = extract_facts("我叫张三，家住海淀区学院路30号院，手机幺三九 幺二三四 五六七八", NOW)
    assert f.contact_name == "张三"
    assert (f.district, f.street, f.address) == ("海淀区", "学院路街道", "学院路30号院")
    assert f.phone == "13912345678" and f.phone_kind == "mobile"


def test_district_inferred_from_short_street():
    f = extract_facts("望京西园三区门口的路灯坏了", NOW)
    assert (f.district, f.street, f.district_inferred) == ("朝阳区", "望京街道", True)
    assert f.address == "望京西园三区门口"
    assert f.category == "市政设施"


def test_invalid_phone_gives_the_reason():
    f = extract_facts("我电话是139123456", NOW)
    assert f.phone is None
    assert f.phone_error_code == "too_short_mobile" and "11位" in f.phone_error


def test_outside_beijing_only_without_a_beijing_place():
    assert extract_facts("我在燕郊，小区物业不管事", NOW).outside_beijing == "燕郊"
    f = extract_facts("我老家河北的，在朝阳打工被拖欠工资", NOW)
    assert f.outside_beijing is None and f.district == "朝阳区" and f.category == "劳动保障"
    assert extract_facts("楼下兰州拉面馆的油烟太大了", NOW).outside_beijing is None


def test_ticket_number_is_not_a_phone():
    f = extract_facts("查一下工单二零二四零三一五 零零零一二三，手机13912345678", NOW)
    assert f.ticket_no == "20240315-000123" and f.phone == "13912345678" and f.phone_error is None


def test_confidentiality_and_request_type():
    f = extract_facts("我要投诉，不需要保密", NOW)
    assert f.request_type == "complaint" and f.confidential is False
    assert extract_facts("我要举报，请给我保密", NOW).confidential is True
    assert extract_facts("楼上太吵了", NOW).confidential is None


def test_recurring_noise():
    f = extract_facts("天通苑那边每天晚上都有人跳广场舞，音响特别响", NOW)
    assert f.district == "昌平区" and f.street is None and f.recurring and f.occurred_at is None
    assert f.category == "噪音扰民"


@pytest.mark.parametrize("text", ["", "   ", "喂", "你好"])
def test_nothing_said(text):
    assert extract_facts(text, NOW).to_dict() == {}


def test_to_dict_only_present_values():
    d = extract_facts("不需要保密", NOW).to_dict()
    assert d == {"confidential": False}
    d = extract_facts("昨天晚上十一点楼下还在施工，我在丰台", NOW).to_dict()
    assert d["district"] == "丰台区" and d["occurred_at"] == "2024-03-13T23:00:00"
    assert isinstance(Facts().to_dict(), dict)


def test_default_now():
    assert extract_facts("今天上午").occurred_at is not None
