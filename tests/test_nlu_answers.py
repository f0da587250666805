"""Yes/no, confidentiality, names and request types."""
import pytest

from nlu.answers import DECLINED, parse_confidential, parse_name, parse_request_type, parse_yes_no


@pytest.mark.parametrize("text", [
    "对", "对，没问题", "是的", "是", "可以", "嗯", "嗯嗯", "好的", "好", "正确", "没错", "没问题", "对的对的", "行",
    "确认", "确认无误", "OK", "嗯，是的", "对对对，就是这样", "是的没错", "可以的", "没毛病", "要", "需要", "对头",
])
def test_yes(text):
    assert parse_yes_no(text) is True


@pytest.mark.parametrize("text", [
    "不对", "不是", "错了", "不正确", "不用了", "不要", "不需要", "不行", "没有", "嗯，不对", "对，但是电话号码错了",
    "地址不对", "好的，不用了", "有问题，名字写错了", "不是这个", "要改一下", "别登记了", "否",
])
def test_no(text):
    assert parse_yes_no(text) is False


@pytest.mark.parametrize("text", [
    "", "我不知道", "无所谓", "可以告诉我电话吗", "你们什么时候来处理", "楼上还在装修", "喂", "这个怎么说呢",
])
def test_neither(text):
    assert parse_yes_no(text) is None


@pytest.mark.parametrize("text,value", [
    ("需要保密", True), ("保密", True), ("要保密", True), ("保密吧", True), ("匿名", True),
    ("不要公开我的信息", True), ("别告诉他们是我打的电话", True), ("不想让他们知道是我反映的", True),
    ("需要", True), ("要", True), ("是的", True),
    ("不需要保密", False), ("不用保密", False), ("没必要保密", False), ("可以公开", False), ("公开也行", False),
    ("无所谓", False), ("没关系", False), ("都行", False), ("不用了", False), ("不需要", False), ("不怕", False),
    ("不用，无所谓", False),
])
def test_confidential(text, value):
    assert parse_confidential(text) is value


def test_confidential_unclear():
    assert parse_confidential("你说什么") is None


@pytest.mark.parametrize("text,name", [
    ("王先生", "王先生"), ("我叫张三", "张三"), ("姓李", "李"), ("我姓李", "李"), ("叫我刘阿姨就行", "刘阿姨"),
    ("免贵姓赵", "赵"), ("我姓王，叫王明", "王明"), ("您就叫我王女士吧", "王女士"), ("张三", "张三"),
    ("小王", "小王"), ("老李", "老李"), ("弓长张", "张"), ("木子李", "李"), ("我是欧阳娜娜", "欧阳娜娜"),
    ("我的名字是陈晓东", "陈晓东"), ("我叫李四，电话13612345678", "李四"), ("赵大爷", "赵大爷"), ("我姓诸葛", "诸葛"),
])
def test_names(text, name):
    assert parse_name(text) == name


@pytest.mark.parametrize("text", ["不想说", "不方便透露", "匿名", "不用留名字", "就叫热心市民吧", "保密", "不用了"])
def test_name_declined(text):
    assert parse_name(text) == DECLINED


@pytest.mark.parametrize("text", ["好的", "明白", "都行", "我是西城区什刹海街道的", "我是王府井那边的", "嗯", ""])
def test_not_a_name(text):
    assert parse_name(text) is None


def test_explicit_only_ignores_bare_words_and_declines():
    assert parse_name("张三", explicit_only=True) is None
    assert parse_name("不想说", explicit_only=True) is None
    assert parse_name("我叫张三，楼下太吵了", explicit_only=True) == "张三"
    assert parse_name("物业叫我们等着", explicit_only=True) is None


@pytest.mark.parametrize("text,kind", [
    ("我要投诉楼上装修", "complaint"), ("我要举报有人私搭乱建", "complaint"), ("我想反映一个问题", "complaint"),
    ("我想咨询一下社保的事", "consultation"), ("请问居住证怎么办理", "consultation"),
    ("我想咨询一下怎么投诉", "consultation"), ("我需要求助，家里老人走丢了", "help"),
    ("我建议在小区门口加个红绿灯", "suggestion"), ("我想表扬一下社区的工作人员", "praise"),
    ("我要给街道送锦旗", "praise"), ("请问你们能不能管管楼上的噪音，我要投诉", "complaint"),
])
def test_request_type(text, kind):
    assert parse_request_type(text) == kind


@pytest.mark.parametrize("text", ["楼下太吵了", "谢谢", "好的，感谢你们的帮助", "希望尽快解决", ""])
def test_no_request_type(text):
    assert parse_request_type(text) is None
