"""Text and byte strategies for the fuzz tests: what citizens, ASR and attackers can send."""
from __future__ import annotations

from hypothesis import strategies as st

# Words the parsers react to, so random text reaches their deep branches and not only "no match".
VOCABULARY = [
    "朝阳", "朝阳区", "海淀", "海定区", "西城区", "什刹海街道", "望京", "望京街道", "东城", "燕郊", "河北廊坊",
    "电话", "手机号", "号码", "座机", "幺三九", "幺二三四", "五六七八", "零一零", "洞", "拐", "勾", "两",
    "13912345678", "010-6789-1234", "(010)67891234", "+86 139 1234 5678", "0086", "12345", "110", "400",
    "１３９１２３４５６７８", "二零二四零三一五", "20240315-000123", "工单", "单号", "身份证", "银行卡",
    "昨天", "前天", "上周", "三天前", "半小时前", "晚上十点", "下午三点半", "凌晨", "每天", "一直", "明天",
    "十一点", "两点", "一百零五", "三万五", "半", "年", "月", "号", "点", "分",
    "我叫张三", "我姓李", "王先生", "弓长张", "叫我刘阿姨就行", "免贵姓", "不想说", "匿名", "保密", "可以公开",
    "投诉", "举报", "咨询", "建议", "表扬", "求助", "反映", "请问", "谢谢",
    "对", "不对", "好的", "没问题", "不用了", "嗯", "解决了", "没解决", "吗", "？",
    "着火", "煤气泄漏", "晕倒", "打人", "没气了", "火灾隐患", "跳楼价", "救命",
    "噪音", "垃圾", "施工", "停水", "供暖", "路灯", "井盖", "物业", "装修",
    "住在", "地址", "建国路88号", "3号楼2单元", "小区", "胡同", "，", "。", "、", " ", "-", "　",
]
_ALPHABETS = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),  # CJK
    st.characters(min_codepoint=0xFF00, max_codepoint=0xFFEF),  # full-width forms
    st.sampled_from("0123456789零〇○一二两三四五六七八九十百千万亿幺壹贰叁肆伍陆柒捌玖拾佰仟"),
    st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),  # emoji
    st.characters(min_codepoint=0, max_codepoint=0x1F),  # control characters
    st.sampled_from(" \t\n\r，。、；：！？（）()-+—–‐_,.;:!?\u200b\u3000\ufeff"),
    st.characters(codec="utf-8"),  # anything (incl. surrogate-free astral planes, combining marks)
)
RANDOM_TEXT = st.text(_ALPHABETS, max_size=200)
WORDS_TEXT = st.lists(st.one_of(st.sampled_from(VOCABULARY), st.text(_ALPHABETS, max_size=3)), max_size=30).map("".join)
# what the properties run on: vocabulary mixtures, random characters, and long repetitions of both
TEXT = st.one_of(WORDS_TEXT, RANDOM_TEXT, st.tuples(WORDS_TEXT, st.integers(1, 200)).map(lambda p: p[0] * p[1]))
# short units repeated to n and 4n characters for the linear-time properties
UNIT = st.one_of(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=4).map("".join),
                 st.text(_ALPHABETS, min_size=1, max_size=6))
