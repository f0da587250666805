"""Phone extraction, validation with a spoken reason, masking and grouping."""
import pytest

from ground.masking import mask_phone
from nlu.phone import extract_phone, group_for_speech, validate_phone


@pytest.mark.parametrize("text,phone,kind", [
    ("我的电话是13612345678", "13612345678", "mobile"),
    ("手机幺三九 幺二三四 五六七八", "13912345678", "mobile"),
    ("一三九一二三四五六七八", "13912345678", "mobile"),
    ("幺八六，幺零零幺，二三四五", "18610012345", "mobile"),
    ("电话：139-1234-5678", "13912345678", "mobile"),
    ("+86 139 1234 5678", "13912345678", "mobile"),
    ("8613912345678", "13912345678", "mobile"),
    ("0086 13912345678", "13912345678", "mobile"),
    ("手机号 013912345678", "13912345678", "mobile"),
    ("１３９１２３４５６７８", "13912345678", "mobile"),
    ("座机010-6789 1234", "01067891234", "landline"),
    ("家里电话6789 1234", "01067891234", "landline"),
    ("(010)67891234", "01067891234", "landline"),
    ("零幺零 六七八九 幺二三四", "01067891234", "landline"),
    ("六七八九 幺二三四", "01067891234", "landline"),
    ("+86 10 6789 1234", "01067891234", "landline"),
    ("天津的座机022-23456789", "02223456789", "landline"),
    ("0316-3456789", "03163456789", "landline"),
    ("打这个号13612345678一直打不通", "13612345678", "mobile"),
])
def test_valid_numbers(text, phone, kind):
    result = extract_phone(text)
    assert result.ok, result
    assert (result.phone, result.kind) == (phone, kind)
    assert result.error is None


@pytest.mark.parametrize("text,code,fragment", [
    ("电话是139123456", "too_short_mobile", "11位"),
    ("我的手机是1391234567", "too_short_mobile", "只有10位"),
    ("手机号139123456789", "too_long_mobile", "11位"),
    ("手机号是幺二三四五六七八九零幺", "bad_mobile_prefix", "第二位"),
    ("我电话是12012345678", "bad_mobile_prefix", "3到9"),
    ("座机是010-6789123", "bad_beijing_landline", "010后面应该是8位"),
    ("电话010-678912345", "bad_beijing_landline", "8位"),
    ("家里电话是6789123", "too_short_landline", "座机号码是8位"),
    ("电话是678912345", "too_long_landline", "8位"),
    ("联系电话4001234567", "service_number", "本人"),
])
def test_invalid_numbers_give_a_reason_in_mandarin(text, code, fragment):
    result = extract_phone(text)
    assert not result.ok
    assert result.error_code == code
    assert fragment in result.error
    assert result.digits


@pytest.mark.parametrize("text", [
    "我打了12345好几次都没人管",
    "楼下一直在施工，晚上十一点还不停",
    "我住3号楼2单元502",
    "花了5000元办的卡",
    "身份证号110101199003071234",
    "工单号是20240315-000123",
    "二零二四零三一五零零零一二三是我的工单号",
    "三天了没人清运",
    "一共有一百二十三户",
    "报警110没用",
    "2023年12月开始的",
    "20240315那天打过电话",
])
def test_no_phone_where_there_is_none(text):
    result = extract_phone(text)
    assert not result.ok and result.error is None and not result.found


def test_valid_number_wins_over_an_earlier_bad_one():
    result = extract_phone("电话139123456，不对，是13912345678")
    assert result.phone == "13912345678"


def test_expected_mode_reports_short_answers():
    assert not extract_phone("六七八九").found
    result = extract_phone("六七八九", expected=True)
    assert result.error_code == "too_short_landline"


def test_span_covers_the_spoken_number():
    text = "好的，电话幺三九 幺二三四 五六七八"
    result = extract_phone(text)
    assert text[result.start:result.end] == "幺三九 幺二三四 五六七八"


def test_validate_phone_direct():
    assert validate_phone("13912345678") == ("13912345678", "mobile", None)
    assert validate_phone("67891234") == ("01067891234", "landline", None)
    assert validate_phone("12345")[2] == "service_number"


def test_mask_and_grouping():
    assert mask_phone("13911112222") == "139****2222"
    assert mask_phone("01067891234") == "010****1234"
    assert group_for_speech("13911112222") == "139 1111 2222"
    assert group_for_speech("01067891234") == "010 6789 1234"
    assert group_for_speech("67891234") == "6789 1234"
    assert group_for_speech("031612345678") == "0316 1234 5678"
