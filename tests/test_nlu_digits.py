"""Spoken digits, digit runs and Chinese numbers."""
import pytest

from nlu.digits import cn_to_int, convert_spoken_runs, find_digit_runs, normalize_digits, spell_for_speech, to_halfwidth


@pytest.mark.parametrize("text,expected", [
    ("幺三九 幺二三四 五六七八", "13912345678"),
    ("一三九一二三四五六七八", "13912345678"),
    ("幺三九-幺二三四-五六七八", "13912345678"),
    ("幺三九，幺二三四，五六七八", "13912345678"),
    ("零幺零 六七八九 幺二三四", "01067891234"),
    ("洞幺洞六七八九幺二三四", "01067891234"),
    ("两两三三 四四五五", "22334455"),
    ("139 1234 5678", "13912345678"),
    ("010-6789-1234", "01067891234"),
    ("１３９１２３４５６７８", "13912345678"),
    ("139 幺二三四 5678", "13912345678"),
])
def test_long_spoken_runs_become_digits(text, expected):
    assert convert_spoken_runs(text) == expected


@pytest.mark.parametrize("text", [
    "我一直打不通", "你查一下", "来了一个人", "三天没人管", "晚上十一点还在施工", "一百五十块钱",
    "三四个人在吵", "五六七八个小时", "十一点半", "第一次打电话", "一二三楼都漏水",
])
def test_ordinary_words_are_left_alone(text):
    assert convert_spoken_runs(text) == text


def test_trailing_digit_that_starts_a_word_is_not_part_of_the_number():
    assert convert_spoken_runs("幺三九幺二三四五六七八一直打不通") == "13912345678一直打不通"
    assert convert_spoken_runs("幺三九幺二三四五六七八三天了") == "13912345678三天了"


def test_ascii_number_does_not_swallow_a_following_word():
    runs = find_digit_runs("电话13612345678一直打不通", min_digits=7)
    assert [r.digits for r in runs] == ["13612345678"]


def test_comma_separated_short_numbers_are_not_joined():
    runs = find_digit_runs("我住3号楼，13612345678", min_digits=1)
    assert [r.digits for r in runs] == ["3", "13612345678"]


def test_spans_point_into_the_original_text():
    text = "电话是幺三九 幺二三四 五六七八，谢谢"
    run = find_digit_runs(text, min_digits=7)[0]
    assert text[run.start:run.end] == "幺三九 幺二三四 五六七八"
    assert run.spoken


def test_fullwidth_mapping_keeps_length():
    text = "电话：０１０－６７８９１２３４"
    assert len(to_halfwidth(text)) == len(text)
    assert normalize_digits(text) == "电话：01067891234"


@pytest.mark.parametrize("text,value", [
    ("十一", 11), ("二十三", 23), ("一百零五", 105), ("两千", 2000), ("三万五", 35000), ("一百五", 150),
    ("十", 10), ("两", 2), ("二零二四", 2024), ("12", 12), ("１２", 12), ("零", 0), ("九十九", 99),
])
def test_cn_to_int(text, value):
    assert cn_to_int(text) == value


@pytest.mark.parametrize("text", ["", "半", "几", "一下", "十一点"])
def test_cn_to_int_rejects_non_numbers(text):
    assert cn_to_int(text) is None


def test_spell_for_speech():
    assert spell_for_speech("13911112222") == "幺三九幺幺幺幺二二二二"
