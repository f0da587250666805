"""Short answers: yes/no, confidentiality, the citizen's name, and the request type."""
from __future__ import annotations

import re

DECLINED = "__declined__"  # the citizen prefers not to give a name (same value as bot.intake.DECLINED)

_PUNCT = re.compile(r"[\s，,。.！!？?、；;：:~～…\"'“”‘’()（）]+")
_LEAD_FILLERS = re.compile(r"^(?:嗯+|呃+|啊+|哦+|噢+|唔+|那个|这个|那就|那|我觉得|我看|应该|就)+")

# Positive words that contain a negation character ("没问题" = fine).
_POSITIVE_WITH_NEGATION = ("没问题", "没错", "没毛病", "不错", "没有问题", "没什么问题", "没意见", "不用改", "不需要改", "没有错")
_NEGATIVE = (
    "不对", "不是", "不行", "不可以", "不用", "不要", "不需要", "不同意", "不正确", "不准确", "错了", "有误", "有错",
    "不太对", "不好", "没有", "算了", "取消", "有问题", "要改", "修改", "改一下", "改成", "重新", "不必",
    "错的", "说错", "记错", "不确认",
)
_NEGATIVE_AT_START = ("否", "别", "不")
_QUESTION = re.compile(r"吗|什么|怎么|为什么|哪|[?？]")
_POSITIVE = (
    "对", "是", "好", "嗯", "恩", "行", "可以", "正确", "确认", "同意", "要", "需要", "中", "妥", "当然", "肯定", "确定",
    "ok", "yes", "没问题", "没错", "没毛病", "不错", "对头", "没意见", "就这样", "成",
)
_UNSURE = ("不知道", "不清楚", "不确定", "随便", "无所谓", "都行", "都可以", "看着办", "你看着")


def _norm(text: str) -> str:
    return (text or "").strip().lower()


def _clauses(text: str) -> list[str]:
    return [c for c in _PUNCT.split(_norm(text)) if c]


def parse_yes_no(text: str) -> bool | None:
    """True / False for an answer to a yes-no question, None when it is neither.

    A negation or correction anywhere wins ("对，但是电话错了" -> False, "好的，不用了" -> False);
    positive words count at the start of the answer only, so "可以告诉我电话吗" is not a yes.
    """
    clauses = _clauses(text)
    if not clauses:
        return None
    joined = "".join(clauses)
    for word in _POSITIVE_WITH_NEGATION:
        joined = joined.replace(word, "好")
    if any(w in joined for w in _UNSURE) and not any(w in joined for w in ("不对", "错", "不是")):
        return None
    if any(w in joined for w in _NEGATIVE):
        return False
    if _QUESTION.search(_norm(text)):
        return None
    raw_first = clauses[0]
    for word in _POSITIVE_WITH_NEGATION:
        raw_first = raw_first.replace(word, "好")
    first = _LEAD_FILLERS.sub("", raw_first)
    if first.startswith(_NEGATIVE_AT_START):
        return False
    if not first:  # only fillers: "嗯", "嗯嗯"
        return True if re.fullmatch(r"[嗯恩]+", clauses[0]) else None
    if any(first.startswith(w) or raw_first.startswith(w) for w in _POSITIVE):
        return True
    if len(first) <= 4 and any(w in first for w in _POSITIVE if len(w) > 1 or w in "对好行"):
        return True
    return None


_CONF_NEGATED = re.compile(r"(不|不用|不需要|没必要|无需|不必|没有必要|别)(要)?(给我)?(保密|匿名)")
_CONF_KEEP_SECRET = re.compile(
    r"(不要|不能|别|不想|不希望|不愿意|不愿|不许|千万别|不可以)(让人|让他们|让对方|被人|被)?(公开|透露|泄露|泄漏|告诉|暴露|知道|说出|曝光)"
)
_CONF_NOBODY_KNOWS = re.compile(r"(不想|不希望|不要|别|不愿意?|千万别)让.{0,8}(知道|发现)(是我)?")
_CONF_PUBLIC_OK = re.compile(r"(可以|能|不怕|无所谓|没关系|随便)(公开|透露|告诉|知道)|公开(也|就)?(行|可以|没事|没关系)|不怕")
_CONF_NEUTRAL = ("无所谓", "都行", "随便", "没关系", "都可以", "不在乎", "不介意")


def parse_confidential(text: str) -> bool | None:
    """Answer to "do you want your information kept confidential?": True / False / None.

    "需要保密", "别告诉他们是我", "匿名" -> True; "不需要保密", "不用保密", "可以公开", "无所谓" -> False;
    a bare yes/no ("要", "不用了") is read with `parse_yes_no`.
    """
    t = "".join(_clauses(text))
    if not t:
        return None
    if _CONF_NEGATED.search(t):
        return False
    if _CONF_KEEP_SECRET.search(t) or _CONF_NOBODY_KNOWS.search(t) or "保密" in t or "匿名" in t:
        return True
    if _CONF_PUBLIC_OK.search(t) or any(w in t for w in _CONF_NEUTRAL):
        return False
    return parse_yes_no(text)


SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
    "谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安"
    "齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛"
    "靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧"
    "闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚"
    "皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦"
    "戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信"
    "展阴昝智幸奉植衡富尧闭由"
)
COMPOUND_SURNAMES = (
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "令狐", "慕容", "司徒", "夏侯", "尉迟", "公孙", "长孙", "宇文",
    "端木", "独孤", "南宫", "西门", "申屠", "轩辕", "百里", "呼延", "万俟", "司空", "澹台", "闻人", "钟离",
)
# Surnames spelled out the way callers do: "弓长张", "木子李".
SPELLED_SURNAMES = {
    "弓长张": "张", "立早章": "章", "木子李": "李", "口天吴": "吴", "耳东陈": "陈", "双木林": "林", "草头黄": "黄",
    "三横一竖王": "王", "三横王": "王", "古月胡": "胡", "言午许": "许", "双口吕": "吕", "禾口程": "程", "子小孙": "孙",
    "人可何": "何", "女生周": "周", "走肖赵": "赵", "文刀刘": "刘", "卯金刀刘": "刘", "禾火秋": "秋", "千里重": "重",
}
TITLES = (
    "先生", "女士", "小姐", "阿姨", "大爷", "大妈", "大姐", "大哥", "老师", "师傅", "奶奶", "爷爷", "叔叔", "同志",
    "大叔", "姐", "哥", "总", "工", "经理", "老太太", "老爷子",
)
_DECLINE = re.compile(
    r"(不想说|不想告诉|不想透露|不方便(说|透露|告诉|留)|不愿意(说|透露|告诉|留)|匿名|不留(名|姓名|名字)|不用(留|记|说|登记)?(名字|姓名|称呼)|"
    r"就不说了|不告诉你|不说了|保密|算了|不必了|没必要|不用了|不需要|热心(市民|群众)|就叫我?(群众|市民)|名字就不)"
)
_NAME_CUES = re.compile(
    r"(?:我(?:的)?(?:名字|姓名)(?:是|叫)?|我叫|叫我|(?:^|(?<=[，,。；;]))叫|您叫我|你叫我|称呼我|我是|姓名(?:是|叫)?|名字(?:是|叫)?|免贵姓|免贵|我姓|姓)"
)
_NAME_STOP = re.compile(r"(电话|手机|号码|住在|住|在|家|今年|来自|的|就行|就好|就可以|就|吧|啊|呀|呢|哈|嘛|了|是|我|，|。|,|\s|\d)")
_NOT_NAMES = ("市民", "群众", "业主", "居民", "租户", "本人", "老百姓", "居委会", "物业", "这里", "那个", "一个")


def _surname_len(s: str) -> int:
    if s[:2] in COMPOUND_SURNAMES:
        return 2
    return 1 if s[:1] and s[0] in SURNAMES else 0


_NON_NAME_CHARS = set("的了吗呢吧啊呀是不没有对可以行好白道知么什这那个我你他她它们都就还也很便样事情说")


def _mentions_place(body: str) -> bool:
    from nlu.places import scan_places  # lazy: names rarely need the gazetteer

    return any(h.kind != "landmark" for h in scan_places(body))


def _name_from(fragment: str, surname_only: bool, exact: bool = False) -> str | None:
    """A name (with title if said) at the start of `fragment`."""
    fragment = fragment.lstrip("是叫：: ")
    for spelled, surname in SPELLED_SURNAMES.items():
        if fragment.startswith(spelled):
            fragment = surname + fragment[len(spelled):].lstrip("的")
    prefix = ""
    if fragment[:1] in ("老", "小") and _surname_len(fragment[1:]):
        prefix, fragment = fragment[0], fragment[1:]
    n = _surname_len(fragment)
    if not n:
        return None
    stop = _NAME_STOP.search(fragment, n)
    body = fragment[: stop.start()] if stop else fragment
    for title in TITLES:
        pos = body.find(title, n)
        if 0 <= pos <= n + 2:
            return prefix + body[: pos + len(title)]
    if surname_only or prefix:
        return prefix + body[:n]
    if exact and len(body) > n + 2:
        return None
    body = body[: n + 2]
    if any(w in body for w in _NOT_NAMES) or any(c in _NON_NAME_CHARS for c in body[n:]):
        return None
    if re.search(r"[区县镇乡路街号楼]", body) or _mentions_place(body):
        return None
    return prefix + body


def parse_name(text: str, explicit_only: bool = False) -> str | None:
    """The name or form of address the citizen gave, `DECLINED`, or None.

    "我叫张三" -> "张三", "王先生" -> "王先生", "我姓李" / "姓李" -> "李", "叫我刘阿姨就行" -> "刘阿姨",
    "弓长张" -> "张", "不想说" / "匿名" -> DECLINED. With `explicit_only` (free text, not an answer to
    "how may I address you?") only cue phrases count and declines are ignored.
    """
    t = _norm(text).replace(" ", "")
    if not t:
        return None
    found = []
    for cue in _NAME_CUES.finditer(t):
        surname_only = cue.group().endswith("姓") or cue.group() == "免贵"
        name = _name_from(t[cue.end():], surname_only, exact=cue.group() == "我是")
        if name:
            found.append(name)
    if found:
        return max(found, key=len)
    if explicit_only:
        return None
    if _DECLINE.search(t):
        return DECLINED
    bare = _PUNCT.sub("", t)
    bare = re.sub(r"(就行了?|就好|就可以了?|吧|啊|呀|哈)$", "", bare)
    if len(bare) <= 6:
        return _name_from(bare, surname_only=False, exact=True)
    return None


_REQUEST_STRONG = (
    ("praise", r"表扬|点赞|锦旗|致谢|感谢信|夸一夸|(想|要)(感谢|谢谢|表扬)|说声谢谢|道个谢|道声谢|表示感谢|打来感谢|专门感谢|特地感谢"),
    ("complaint", r"投诉|举报|检举|揭发|曝光"),
    ("help", r"求助|求救|帮帮我|救救|寻求帮助"),
    ("suggestion", r"建议|提议|提个意见|出个主意|献计"),
    ("consultation", r"咨询|打听|怎么办理|如何办理|怎么办|需要什么材料|需要哪些材料|在哪里办|在哪办|办理流程"),
)
_CONSULT_WEAK = re.compile(r"问一下|问问|想问|请问|了解一下|想知道|能不能告诉我")
# "反映" is also said of praise ("上回我反映的问题解决了，想感谢…"): it counts only when nothing else does.
_COMPLAINT_WEAK = re.compile(r"反映|(想|要)反应|反应一下|反应个")


def parse_request_type(text: str, weak: bool = True) -> str | None:
    """consultation / help / complaint / suggestion / praise from explicit words, else None.

    The earliest explicit word decides ("我想咨询一下怎么投诉" -> consultation); "请问", "问一下"
    only count when nothing else does; a closing "谢谢" / "感谢你们的帮助" is politeness, not praise.
    """
    t = _norm(text)
    best: tuple[int, str] | None = None
    for kind, pattern in _REQUEST_STRONG:
        m = re.search(pattern, t)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), kind)
    if best is None and weak and _COMPLAINT_WEAK.search(t):
        return "complaint"
    if best is None and weak and _CONSULT_WEAK.search(t):
        return "consultation"
    return best[1] if best else None


_NOT_RESOLVED = re.compile(r"没(有)?解决|没(有)?用|不行|不清楚|没听懂|不明白|还是不知道|不是我要问的|没(有)?帮|还有问题|想登记|要登记|帮我登记")
_RESOLVED = re.compile(r"解决了|解决啦|清楚了|明白了|知道了|懂了|可以了|有帮助|帮到了|没问题了|就这样吧|好的谢谢|行了")


def parse_resolved(text: str) -> bool | None:
    """Did the answer solve it? "解决了/明白了" → True, "没解决/还是不清楚/想登记" → False, else yes/no."""
    t = _norm(text)
    if _NOT_RESOLVED.search(t):
        return False
    if _RESOLVED.search(t):
        return True
    return parse_yes_no(text)
