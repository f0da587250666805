"""Repair of speech-recognition text before Rasa: Vosk's spaces, spoken digits, misheard districts."""
from __future__ import annotations

import re

from nlu.digits import normalize_digits
from nlu.places import canonicalize_places

# a space next to a Chinese character (Vosk separates words by spaces); spaces between two numbers stay
_CJK_SPACE = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff\d])|(?<=\d)\s+(?=[\u4e00-\u9fff])")


def repair(text: str) -> str:
    """What the citizen said, as the NLU expects typed Mandarin.

    "我 要 投诉 海定 区" -> "我要投诉海淀区"; "电话 幺 三 九 幺 二 三 四 五 六 七 八" -> "电话13912345678".
    Digit runs are converted before the spaces go, so that a number is never glued to the words around it.
    """
    text = " ".join((text or "").split())
    text = normalize_digits(text)
    text = _CJK_SPACE.sub("", text)
    return canonicalize_places(text).strip()
