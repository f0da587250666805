"""Spoken and written Chinese digits to ASCII digits.

Two kinds of numbers appear in hotline speech:

* digit-by-digit strings (phone and ticket numbers): "幺三九 幺二三四 五六七八" -> "13912345678".
  Only runs of at least `min_digits` digits are converted, so ordinary words such as
  "一下", "一直", "三天" or "十一点" are never turned into digits;
* ordinary numbers with 十/百/千/万 (times, counts, dates): use `cn_to_int`.

Full-width digits are mapped one to one, so character offsets stay valid.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Characters read as one digit when a number is spoken digit by digit.
SPOKEN_DIGITS: dict[str, str] = {
    "零": "0", "〇": "0", "○": "0", "洞": "0",
    "幺": "1", "一": "1", "壹": "1",
    "两": "2", "二": "2", "贰": "2",
    "三": "3", "叁": "3", "四": "4", "肆": "4", "五": "5", "伍": "5",
    "六": "6", "陆": "6", "七": "7", "柒": "7", "拐": "7",
    "八": "8", "捌": "8", "九": "9", "玖": "9", "勾": "9",
}
_FULLWIDTH = {chr(0xFF10 + i): str(i) for i in range(10)}
_FULLWIDTH.update({"＋": "+", "－": "-", "（": "(", "）": ")", "　": " "})
_HALFWIDTH_TABLE = str.maketrans(_FULLWIDTH)

# Separators allowed between digit groups ("139 1234 5678", "010-6789-1234", "(010)67891234").
_SOFT_SEPARATORS = set(" \t-_—–‐()（）－　")
# Commas only split groups of at least three digits ("幺三九，幺二三四，五六七八").
_COMMA_SEPARATORS = set(",，、")
_MAX_GAP = 3
# A spoken digit at the end of a run that forms a word with the next character ("一直", "三天").
_WORD_AFTER_DIGIT = set("直下样起定般些会共切遍趟次天个号楼层年月日岁块元毛角分秒点周位名件条只张辆栋户家边声回")


@dataclass(frozen=True)
class DigitRun:
    """A run of digits in a text: its span (in the original text) and its ASCII digits."""

    start: int
    end: int
    digits: str
    spoken: bool  # at least one digit was a Chinese character

    @property
    def text_len(self) -> int:
        """Number of characters the run covers in the text."""
        return self.end - self.start


def to_halfwidth(text: str) -> str:
    """Full-width digits and signs to ASCII; same length as the input."""
    return text.translate(_HALFWIDTH_TABLE)


def _digit_of(ch: str, spoken: bool) -> str | None:
    if "0" <= ch <= "9":
        return ch
    if ch in _FULLWIDTH and _FULLWIDTH[ch].isdigit():
        return _FULLWIDTH[ch]
    if spoken:
        return SPOKEN_DIGITS.get(ch)
    return None


def _is_ascii_digit(ch: str) -> bool:
    return "0" <= ch <= "9" or ("０" <= ch <= "９")


def _read_group(text: str, i: int, spoken: bool) -> int:
    """End of the homogeneous digit group starting at i (ASCII or Chinese, not mixed)."""
    ascii_group = _is_ascii_digit(text[i])
    j = i
    while j < len(text) and _digit_of(text[j], spoken) is not None and _is_ascii_digit(text[j]) == ascii_group:
        j += 1
    return j


def find_digit_runs(text: str, min_digits: int = 1, spoken: bool = True) -> list[DigitRun]:
    """All digit runs in `text` with at least `min_digits` digits.

    A run is one or more digit groups joined by short separators (spaces, dashes, brackets;
    commas only between groups of three or more digits). Groups are either ASCII or spoken
    Chinese digits; a group of the other kind joins only when it has three digits or more.
    Runs made of Chinese digits must have `min_digits` digits to count, which keeps "一下"
    or "三天" out.
    """
    runs: list[DigitRun] = []
    n = len(text)
    i = 0
    while i < n:
        if _digit_of(text[i], spoken) is None:
            i += 1
            continue
        groups = [(i, _read_group(text, i, spoken))]
        while True:
            g_start, g_end = groups[-1]
            k = g_end
            while k < n and k - g_end < _MAX_GAP and (text[k] in _SOFT_SEPARATORS or text[k] in _COMMA_SEPARATORS):
                k += 1
            gap = text[g_end:k]
            if k == g_end or k >= n or _digit_of(text[k], spoken) is None:
                break
            nxt_end = _read_group(text, k, spoken)
            prev_len, next_len = g_end - g_start, nxt_end - k
            if any(c in _COMMA_SEPARATORS for c in gap) and (prev_len < 3 or next_len < 3):
                break
            if _is_ascii_digit(text[k]) != _is_ascii_digit(text[g_start]) and (next_len < 3 or prev_len < 3):
                break
            groups.append((k, nxt_end))
        start, end = groups[0][0], groups[-1][1]
        digits = "".join(_digit_of(text[a], spoken) or "" for g0, g1 in groups for a in range(g0, g1))
        is_spoken = any(not _is_ascii_digit(text[a]) for g0, g1 in groups for a in range(g0, g1))
        # Drop a trailing spoken digit that starts a word with the next character: "…五六七八一直".
        if (
            len(digits) > 1 and not _is_ascii_digit(text[end - 1]) and end < n
            and text[end] in _WORD_AFTER_DIGIT and end - 1 > start
        ):
            end -= 1
            digits = digits[:-1]
            while end > start and (text[end - 1] in _SOFT_SEPARATORS or text[end - 1] in _COMMA_SEPARATORS):
                end -= 1
        if len(digits) >= min_digits:
            runs.append(DigitRun(start, end, digits, is_spoken))
        i = groups[-1][1]
    return runs


def convert_spoken_runs(text: str, min_digits: int = 7) -> str:
    """Replace digit runs of at least `min_digits` digits with compact ASCII digits.

    "幺三九 幺二三四 五六七八" -> "13912345678"; "010-6789 1234" -> "01067891234".
    Shorter runs and ordinary words are left alone (full-width digits become ASCII).
    """
    out: list[str] = []
    last = 0
    for run in find_digit_runs(text, min_digits=min_digits):
        out.append(text[last:run.start])
        out.append(run.digits)
        last = run.end
    out.append(text[last:])
    return to_halfwidth("".join(out))


def normalize_digits(text: str, min_digits: int = 7) -> str:
    """Text with full-width digits in ASCII and long spoken digit runs converted (for ASR repair)."""
    return convert_spoken_runs(text, min_digits=min_digits)


_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
CN_NUMBER_CHARS = "零〇一二两三四五六七八九十百千万亿幺壹贰叁肆伍陆柒捌玖拾佰仟"
CN_NUMBER_RE = re.compile(rf"[0-9０-９{CN_NUMBER_CHARS}]+")


def cn_to_int(s: str) -> int | None:
    """An ordinary number written in Chinese or digits to int, else None.

    "十一" -> 11, "二十三" -> 23, "一百零五" -> 105, "两千" -> 2000, "三万五" -> 35000,
    "二零二四" -> 2024 (digit by digit), "12" -> 12, "半" -> None.
    """
    s = to_halfwidth((s or "").strip())
    if not s:
        return None
    if s.isdigit():
        return int(s)
    if any(c not in CN_NUMBER_CHARS and not c.isdigit() for c in s):
        return None
    if not any(c in _UNITS or c in _BIG_UNITS for c in s):
        digits = "".join(_digit_of(c, True) or "" for c in s)
        return int(digits) if len(digits) == len(s) else None
    total, section, number = 0, 0, None
    last_unit = 1
    for ch in s:
        if ch in _BIG_UNITS:
            section += number or 0
            total += (section or 1) * _BIG_UNITS[ch]
            section, number, last_unit = 0, None, _BIG_UNITS[ch]
        elif ch in _UNITS:
            section += (1 if number is None else number) * _UNITS[ch]
            number, last_unit = None, _UNITS[ch]
        elif ch in ("零", "〇"):
            number = None
            last_unit = 1
        else:
            d = _digit_of(ch, True)
            if d is None:
                return None
            number = int(d)
    if number is not None:
        # "三万五" -> 35000, "一百五" -> 150: a trailing digit after a unit is one step below it.
        if last_unit >= 10 and s[-2] not in ("零", "〇"):
            number *= last_unit // 10
        section += number
    return total + section


def spell_for_speech(digits: str) -> str:
    """Digits as Chinese characters for text-to-speech, 1 read as 幺: "139" -> "幺三九"."""
    names = "零幺二三四五六七八九"
    return "".join(names[int(c)] if c.isdigit() else c for c in digits)
