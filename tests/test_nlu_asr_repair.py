"""ASR text repair: what Vosk outputs becomes what the NLU was trained on."""
from __future__ import annotations

import pytest

from nlu.asr_repair import repair


@pytest.mark.parametrize("heard,expected", [
    ("我 要 投诉 楼下 工地 半夜 施工", "我要投诉楼下工地半夜施工"),
    ("电话 是 幺 三 九 幺 二 三 四 五 六 七 八", "电话是13912345678"),
    ("我 在 海定 区 中关村", "我在海淀区中关村"),
    ("工单 号 二 零 二 六 一 一 二 六 零 零 零 一 二 三", "工单号20261126000123"),
    ("三 天 没 人 清运", "三天没人清运"),
    ("", ""),
])
def test_repair(heard, expected):
    assert repair(heard) == expected
