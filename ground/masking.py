"""The one masking of personal data: phone numbers (every form the seat produces or accepts) and names.

Used for logs, lists and pages shown to roles that may not see personal data (see ground/roles.py).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Optional

_NON_DIGITS = re.compile(r"\D+")
# Mainland mobiles and landlines as they stand in free text: plain, grouped by spaces or dashes the way the bot reads
# them back ("010 6789 1234", "139 1234 5678"), with +86 / 0086 in front. Full-width digits are folded first.
_PHONE_IN_TEXT = re.compile(
    r"(?<!\d)(?:(?:\+|00)86[\s-]?)?(?:1[3-9]\d(?:[\s-]?\d){8}|0\d{2,3}(?:[\s-]?\d){7,8})(?![\d])")


def phone_digits(phone: Optional[str]) -> Optional[str]:
    """Digits only (full-width digits folded); a leading ``+86``/``0086`` before a mobile is dropped; None when
    there are no digits."""
    if phone is None:
        return None
    digits = _NON_DIGITS.sub("", unicodedata.normalize("NFKC", str(phone)).translate(_FOLD_FOR_PHONES))
    if not digits:
        return None
    if len(digits) == 15 and digits.startswith("00861"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("861"):
        digits = digits[2:]
    return digits


def mask_phone(phone: Optional[str]) -> Optional[str]:
    """``13912342222`` -> ``139****2222``, ``010 6789 1234`` -> ``010****1234``; shorter numbers keep less."""
    digits = phone_digits(phone)
    if digits is None:
        return None
    if len(digits) >= 11:
        return digits[:3] + "****" + digits[-4:]
    if len(digits) >= 7:
        return digits[:2] + "****" + digits[-2:]
    return "*" * len(digits)


def mask_name(name: Optional[str]) -> Optional[str]:
    """``王五`` -> ``王*``, ``王小明`` -> ``王**``; a one-character name becomes ``*``."""
    if name is None:
        return None
    name = name.strip()
    if not name:
        return ""
    if len(name) == 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


# Full-width digits, plus and hyphen folded one character for one, so a match in the folded text is the same span
# of the original: the rest of the text (full-width punctuation) stays as the citizen wrote it.
# Chinese-numeral digits are folded the same way, as citizens say a number digit by digit and the text-to-speech
# reads it back ("幺三八 一二三四 五六七八", "一三八…"); a comma between spoken groups counts as a separator.
_CN_DIGITS = {"0": "零〇洞", "1": "幺一壹", "2": "二两贰", "3": "三叁", "4": "四肆", "5": "五伍", "6": "六陆",
              "7": "七柒", "8": "八捌", "9": "九玖"}
_FOLD_FOR_PHONES = {**{0xFF10 + i: str(i) for i in range(10)}, 0xFF0B: "+", 0xFF0D: "-", 0x3000: " ",
                    0xFF0C: " ", 0x3001: " ", ord(","): " ",
                    **{ord(ch): digit for digit, chars in _CN_DIGITS.items() for ch in chars}}


def mask_text(text: Optional[str], names: tuple[str, ...] = ()) -> str:
    """Free text with phone numbers masked (138****5678) and the given names masked (张*)."""
    original = text or ""
    folded = original.translate(_FOLD_FOR_PHONES)
    parts, end = [], 0
    for m in _PHONE_IN_TEXT.finditer(folded):
        parts += [original[end:m.start()], mask_phone(m.group(0)) or ""]
        end = m.end()
    masked = "".join(parts) + original[end:]
    for name in names:
        if name and len(name.strip()) > 1:
            masked = masked.replace(name.strip(), mask_name(name) or "")
    return masked


def phones_in(text: Optional[str]) -> set[str]:
    """The phone numbers in free text (every form mask_text masks), as digits (``+86`` dropped)."""
    folded = (text or "").translate(_FOLD_FOR_PHONES)
    return {d for m in _PHONE_IN_TEXT.finditer(folded) if (d := phone_digits(m.group(0)))}
