"""Beijing districts and streets in citizen text, places outside Beijing, and the address remainder.

All matching is a leftmost-longest scan over one lexicon (district names, aliases, homophones,
street names and their short forms, places outside Beijing, and a few Beijing landmarks that
contain outside names), so "朝阳门" is the 东城 street, not 朝阳区, "大兴庄镇" is a 平谷 town, not
大兴区, and "河北镇" (房山) is not the province.

Decisions: a bare district alias counts wherever it appears ("朝阳医院" -> 朝阳区; the hospital,
like 朝阳公园 and 朝阳路, is in 朝阳区); "北京" alone is no district. Street short forms that are
common words ("平房", "光明", "天桥"...) or district names ("海淀", "丰台") only match with a suffix.
Whitespace inside names ("朝阳 区") is ignored.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from ground.settings import current


STREET_SUFFIXES = ("街道", "地区", "镇", "乡")
_ETHNIC = ("满族蒙古族乡", "满族乡", "回族乡")
_VARIANT_SUFFIXES = ("街道", "街道办事处", "街道办", "地区", "地区办事处", "镇", "镇政府", "乡", "乡政府", "办事处")
_OFFICE_SUFFIXES = ("办事处", "人民政府", "政府", "办")
# Short forms that are everyday words, other places, or ambiguous in speech: suffix required.
UNSAFE_STEMS = frozenset(
    "平房 光明 胜利 新华 向阳 东风 迎风 城关 新镇 城北 城南 城子 大台 天桥 椿树 前门 龙潭 北苑 新村 古城 "
    "东湖 曙光 东升 温泉 上庄 南口 荣华 安定 龙山 北房 渤海 宝山 滨河 鼓楼 果园 十里堡 北庄 石城 康庄 "
    "四海 龙泉 永定 清水 王平 长沟 空港 仁和 太平桥 和平街 花乡 八角 长阳 石楼 高岭 永宁 中仓 文景 杨庄 大榆树".split()
)
# Extra short names of streets (some ambiguous on purpose: the district is still inferred).
STREET_ALIASES = {
    "崇外": ("崇文门外街道",), "永外": ("永定门外街道",), "广内": ("广安门内街道",),
    "广外": ("广安门外街道",), "天通苑": ("天通苑北街道", "天通苑南街道"),
}
# Matched only to hide what they contain: Beijing names containing an outside place name, and
# common words that start with a street short form.
BEIJING_LANDMARKS = (
    "西安门", "昆明湖", "长春街", "长春桥", "陕西巷", "四川营", "福州馆", "苏州街", "苏州桥", "东北旺",
    "南京饭店", "天津庄",
    # common words that start with a street short form: "上地铁" (not 上地), "东四环" (not 东四, 东城)
    "上地铁", "和义务", "东四环", "北宫门",
)
OUTSIDE_PLACES = (
    "天津 河北 山西 内蒙古 内蒙 辽宁 吉林 黑龙江 上海 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 "
    "广西 海南 重庆 四川 贵州 云南 西藏 陕西 甘肃 青海 宁夏 新疆 台湾 香港 澳门 "
    "石家庄 唐山 秦皇岛 邯郸 邢台 保定 张家口 承德 沧州 廊坊 衡水 雄安 燕郊 三河市 大厂县 大厂回族自治县 "
    "香河 固安 涿州 霸州 怀来 涞水 涿鹿 高碑店市 武清 蓟州 宝坻 滨海新区 北三县 "
    "太原 大同市 呼和浩特 包头 沈阳 大连 长春 哈尔滨 南京 苏州 无锡 杭州 宁波 温州 合肥 福州 厦门 南昌 "
    "济南 青岛 烟台 潍坊 郑州 洛阳 武汉 长沙 广州 深圳 东莞 佛山 珠海 南宁 桂林 海口 三亚 成都 贵阳 昆明 "
    "拉萨 西安 兰州 西宁 银川 乌鲁木齐 徐州 常州 南通 扬州 绍兴 泉州 汕头 惠州 绵阳 宜昌 襄阳 临沂 淄博 "
    "济宁 威海 菏泽 朝阳市 大兴安岭 吉林市"
).split()
# After an outside name: it is a dish, a person's origin, a licence plate... not where the problem is.
_OUTSIDE_BLOCK_AFTER = re.compile(
    r"^的?(菜|饭|餐|酒楼|酒店|宾馆|大厦|小吃|拉面|面|火锅|米粉|米线|烤鸭|炒饭|包子|烧烤|烤串|串|麻辣烫|啤酒|"
    r"人|口音|话|籍|户口|户籍|牌照|车牌|号牌|牌子|车|老乡|口味|风味|特产|驻京|银行|商会|卫视|大学|方言|鸭|馆|路)"
)
_OUTSIDE_BLOCK_BEFORE = re.compile(r"(老家|户口|户籍|籍贯|来自|原籍|娘家|出生|从|回|去|到|出差)[^，,。；;！!？?]{0,3}$")

_FILLER_HEAD = re.compile(
    r"^(?:[，,。、:：\s]|嗯|呃|那个|就是|我们家|我家|我们|我|家|住在|住|是在|是|就在|在|位于|地址是|地址在|地址|地点是|地点在|地点|"
    r"位置是|位置在|位置|具体地址是|具体位置是|具体是|具体在|具体|详细地址是|详细地址|北京市|北京|地区|区|的|这边|那边)+"
)
_FILLER_TAIL = re.compile(r"(?:[，,。、！!？?\s]|的|了|呢|啊|呀|吧|哈|这边|那边|这儿|那儿|这里|那里|这块儿?|那块儿?|一带)+$")
_STOP = re.compile(
    r"(的|有|被|把|给|没|不|又|也|还|就|太|很|每|一直|经常|总是|老是|特别|非常|天天|晚上|早上|白天|半夜|现在|最近|已经|好几|"
    r"这边|那边|这里|那里|[，,。；;！!？?])"
)
_END_MARK = re.compile(
    r"((?<!\d)\d+|(?<![一二三四五六七八九十百零])[一二三四五六七八九十百零]+)(号楼|号院|号|栋|幢|单元|层|楼|室|门|期|区|排|条)$|"
    r"(小区|社区|家园|花园|公寓|大厦|广场|胡同|大街|路|街|巷|里|院|村|庄|屯|营|园|苑|城|门|桥|门口|对面|旁边|附近|"
    r"东侧|西侧|南侧|北侧|站|中心|市场|商场|医院|学校|公园|大楼|楼|号|坊|湾|厂|店|处)$"
)
_STRONG_MARK = re.compile(r"(号楼|号院|(?<!\d)\d+号|单元|(?<!\d)\d+室|小区|社区|家园|花园|公寓|大厦|胡同|村|门口|对面|旁边|附近)")
# The number runs above start only where a run starts (look-behind): without it a search retries
# inside every long run of digits and backtracks over the rest (quadratic in a 40,000-digit message).
_TAIL_WINDOW = 64  # _FILLER_TAIL is searched in the last characters only, repeatedly (linear)
_CONTAINER_LOCATIVE = re.compile(r"(胡同|小区|社区|院|楼|村|家园|公园)(?:里面|里边|里|内)$")


@dataclass(frozen=True)
class Entry:
    """What a lexicon term means."""

    kind: str  # "district" | "street" | "outside" | "landmark"
    value: str  # official district / street name, or the outside place
    district: str | None
    exact: bool  # the official name itself (not a short form or another suffix)
    via: str  # "name" | "alias" | "homophone" | "stem" | "suffix" | "office"


@dataclass(frozen=True)
class PlaceHit:
    """A lexicon term found in a text."""

    start: int
    end: int
    text: str
    entries: tuple[Entry, ...]

    @property
    def kind(self) -> str:
        """The kind of the hit's entries (all entries of a term share it)."""
        return self.entries[0].kind

    @property
    def bare(self) -> bool:
        """A short form without 区/街道/镇... (so it may be the start of a longer place name)."""
        return all(e.via in ("alias", "homophone", "stem") for e in self.entries) and not self.text.endswith(
            ("区", "县", "街道", "地区", "镇", "乡")
        )


@dataclass(frozen=True)
class DistrictMatch:
    """A district found in a text (start/end None when inferred from a street)."""

    name: str
    start: int | None
    end: int | None
    matched: str
    via: str


@dataclass(frozen=True)
class StreetMatch:
    """A street-level unit and its district."""

    street: str
    district: str
    start: int
    end: int
    matched: str
    via: str


def street_stem(street: str) -> str:
    """The street name without 街道/地区/镇/乡 (and ethnic 乡 suffixes): 望京街道 -> 望京."""
    for suffix in _ETHNIC + STREET_SUFFIXES:
        if street.endswith(suffix) and len(street) > len(suffix):
            return street[: -len(suffix)]
    return street


def places_file() -> Path:
    """The places file: SEAT_PLACES_FILE or the one in the repo."""
    return current().files.places


def _outside_base(place: str) -> str:
    """"三河市" -> "三河", "大厂回族自治县" -> "大厂"; two-character names stay as they are."""
    return re.sub(r"(回族自治县|市|县)$", "", place) if len(place) >= 3 else place


@functools.lru_cache(maxsize=4)
def _load(path: str) -> tuple[list[dict], dict[str, tuple[Entry, ...]], int]:
    with open(path, encoding="utf-8") as fh:
        districts = (yaml.safe_load(fh) or {}).get("districts") or []
    lex: dict[str, list[Entry]] = {}

    def add(term: str, entry: Entry) -> None:
        if term and entry not in lex.setdefault(term, []):
            lex[term].append(entry)

    outside = {_outside_base(p) for p in OUTSIDE_PLACES}
    district_terms: set[str] = set()
    for d in districts:
        name = d["name"]
        add(name, Entry("district", name, name, True, "name"))
        district_terms.add(name)
        for via in ("aliases", "homophones"):
            for term in d.get(via) or []:
                kind_via = "alias" if via == "aliases" else "homophone"
                add(term, Entry("district", name, name, False, kind_via))
                district_terms.add(term)
                if via == "homophones" and not term.endswith("区"):
                    add(term + "区", Entry("district", name, name, False, "homophone"))
    for d in districts:
        for street in d.get("streets") or []:
            dist = d["name"]
            add(street, Entry("street", street, dist, True, "name"))
            for suffix in _OFFICE_SUFFIXES:
                add(street + suffix, Entry("street", street, dist, True, "office"))
            stem = street_stem(street)
            if len(stem) < 2 or stem in district_terms:
                continue
            for suffix in _VARIANT_SUFFIXES:
                if stem + suffix != street:
                    add(stem + suffix, Entry("street", street, dist, False, "suffix"))
            if stem not in UNSAFE_STEMS and stem not in outside:
                add(stem, Entry("street", street, dist, False, "stem"))
    by_name = {s: d["name"] for d in districts for s in d.get("streets") or []}
    for alias, streets in STREET_ALIASES.items():
        for s in streets:
            if s in by_name:
                add(alias, Entry("street", s, by_name[s], False, "stem"))
    for place in OUTSIDE_PLACES:
        base = _outside_base(place)
        for term in {place, place + "省", place + "市"}:
            if term not in lex:
                add(term, Entry("outside", base, None, True, "name"))
    for landmark in BEIJING_LANDMARKS:
        add(landmark, Entry("landmark", landmark, None, True, "name"))
    frozen = {k: tuple(v) for k, v in lex.items() if v}
    return districts, frozen, max(len(k) for k in frozen)


def _data() -> tuple[list[dict], dict[str, tuple[Entry, ...]], int]:
    return _load(str(places_file()))


def district_names() -> list[str]:
    """The 16 official district names."""
    return [d["name"] for d in _data()[0]]


def streets_of(district: str) -> list[str]:
    """Official street-level units of a district (any alias accepted)."""
    name = canonical_district(district)
    return next((list(d.get("streets") or []) for d in _data()[0] if d["name"] == name), [])


def districts_of_street(street: str) -> list[str]:
    """Districts that have a street-level unit of that official name (two for 八里庄街道)."""
    return [d["name"] for d in _data()[0] if street in (d.get("streets") or [])]


def canonical_district(name: str | None) -> str | None:
    """Official district name for a name, alias or homophone ("朝阳" -> "朝阳区"), else None."""
    if not name:
        return None
    entries = _data()[1].get(re.sub(r"\s+", "", name)) or ()
    return next((e.value for e in entries if e.kind == "district"), None)


def scan_places(text: str) -> list[PlaceHit]:
    """All lexicon hits, leftmost-longest and non-overlapping, with spans in the original text."""
    if not text:
        return []
    _, lex, max_len = _data()
    index = [i for i, ch in enumerate(text) if not ch.isspace()]
    compact = "".join(text[i] for i in index)
    hits: list[PlaceHit] = []
    i = 0
    while i < len(compact):
        for length in range(min(max_len, len(compact) - i), 0, -1):
            term = compact[i:i + length]
            if term in lex:
                start, end = index[i], index[i + length - 1] + 1
                hits.append(PlaceHit(start, end, text[start:end], lex[term]))
                i += length
                break
        else:
            i += 1
    return hits


def find_districts(text: str) -> list[DistrictMatch]:
    """Every district said explicitly, in order."""
    return [
        DistrictMatch(h.entries[0].value, h.start, h.end, h.text, h.entries[0].via)
        for h in scan_places(text) if h.kind == "district"
    ]


def _street_candidates(hit: PlaceHit) -> list[Entry]:
    exact = [e for e in hit.entries if e.exact]
    return exact or list(hit.entries)


def find_district(text: str, infer: bool = True) -> DistrictMatch | None:
    """The first district said; else (with `infer`) the district of an unambiguous street."""
    found = find_districts(text)
    if found:
        return found[0]
    if infer:
        for hit in scan_places(text):
            if hit.kind == "street":
                dists = {e.district for e in _street_candidates(hit)}
                if len(dists) == 1:
                    return DistrictMatch(dists.pop() or "", None, None, hit.text, "street")
    return None


def find_street(text: str, district: str | None = None) -> StreetMatch | None:
    """The first street-level unit in `text` (short forms accepted) and its district.

    `district` (any alias) restricts the choice; by default the district said in the same text
    does. A short form shared by two districts ("八里庄") needs the district to resolve.
    """
    hits = scan_places(text)
    wanted = canonical_district(district) if district else None
    if wanted is None:
        wanted = next((h.entries[0].value for h in hits if h.kind == "district"), None)
    for hit in hits:
        if hit.kind != "street":
            continue
        cands = _street_candidates(hit)
        if wanted:
            cands = [e for e in cands if e.district == wanted]
        if len({(e.value, e.district) for e in cands}) == 1:
            e = cands[0]
            return StreetMatch(e.value, e.district or "", hit.start, hit.end, hit.text, e.via)
    return None


def find_outside_beijing(text: str) -> str | None:
    """A place outside Beijing named as a location ("我在燕郊", "河北廊坊的"), else None.

    Not counted: Beijing names containing one ("河北镇", "香河园", "西安门"), dishes and shops
    ("兰州拉面", "重庆火锅"), origins ("河北人", "老家河南", "户口在天津"), licence plates ("河北牌照").
    """
    for hit in scan_places(text):
        if hit.kind != "outside":
            continue
        if _OUTSIDE_BLOCK_AFTER.match(text[hit.end:hit.end + 5]) or _OUTSIDE_BLOCK_BEFORE.search(text[:hit.start]):
            continue
        return hit.entries[0].value
    return None


def canonicalize_places(text: str) -> str:
    """Replace misheard district names by the official ones ("海定区" -> "海淀区"), for ASR repair."""
    out, last = [], 0
    for hit in scan_places(text):
        entry = hit.entries[0]
        if hit.kind == "district" and entry.via == "homophone":
            out.append(text[last:hit.start])
            out.append(entry.value if hit.text.endswith("区") or not hit.bare else entry.value[:-1])
            last = hit.end
    out.append(text[last:])
    return "".join(out)


_NOT_CONTINUED = re.compile(r"(的|这|那|一带|附近|呢|啊|吧|呀|人|有|是|区|街道|地区|镇|乡)")


def _is_continued(text: str, hit: PlaceHit, starts: set[int]) -> bool:
    """Whether a bare place name is the start of a longer name ("望京西园", "朝阳公园").

    `starts`: where the district and street hits start. Constant work per hit (no copy of the
    rest of the text, no scan of all hits), so a long message stays linear.
    """
    if hit.end >= len(text) or not text[hit.end].isalnum():
        return False
    if hit.end in starts:
        return False
    return not _NOT_CONTINUED.match(text, hit.end)


def _strip_tail(piece: str) -> str:
    """`piece` without its trailing filler, found window by window from the end.

    A `(...)+$` search over the whole text restarts at each filler character and runs to the end
    (quadratic); the window keeps each search short and the loop removes a long tail in steps.
    """
    while piece:
        m = _FILLER_TAIL.search(piece, max(0, len(piece) - _TAIL_WINDOW))
        if not m:
            break
        piece = piece[: m.start()]
    return piece


def _clean(piece: str) -> str:
    prev = None
    while prev != piece:
        prev = piece
        piece = _strip_tail(_FILLER_HEAD.sub("", piece))
    return piece


def _strict(piece: str, protect: int) -> str | None:
    head = _FILLER_HEAD.match(piece)
    cut = head.end() if head else 0
    candidate, protect = piece[cut:], max(0, protect - cut)
    stop = _STOP.search(candidate, max(2, protect))
    if stop:
        candidate = candidate[: stop.start()]
    candidate = _CONTAINER_LOCATIVE.sub(r"\1", _clean(candidate))
    if not _END_MARK.search(candidate):
        strong = list(_STRONG_MARK.finditer(candidate))
        if not strong:
            return None
        candidate = candidate[: strong[-1].end()]
    has_digit = bool(re.search(r"\d|(?<![一二三四五六七八九十])[一二三四五六七八九十]+号", candidate))
    return candidate if len(candidate) >= 3 or has_digit else None


def split_address(text: str, strict: bool = False) -> str | None:
    """What is left as the address once district, street and filler are removed.

    "朝阳区望京街道望京西园三区" -> "望京西园三区"; "我是西城区什刹海街道的" -> None;
    "我家住在朝阳区望京西园三区3号楼" -> "望京西园三区3号楼". A bare short form that starts a longer
    name is kept ("望京西园", "朝阳公园"). With `strict` (free text, not an answer to "where?") the
    result must look like an address and is cut where the complaint starts.
    """
    if not text:
        return None
    hits = [h for h in scan_places(text) if h.kind in ("district", "street")]
    starts = {h.start for h in hits}
    pieces: list[tuple[str, int]] = []
    last, protect = 0, 0
    for hit in hits:
        if hit.bare and _is_continued(text, hit, starts):
            protect = hit.end - last
            continue
        pieces.append((text[last:hit.start], protect))
        last, protect = hit.end, 0
    pieces.append((text[last:], protect))
    kept: list[str] = []
    for piece, prot in pieces:
        cleaned = _strict(piece, prot) if strict else _clean(piece)
        if cleaned:
            kept.append(cleaned)
    result = "".join(kept).strip()
    return result or None
