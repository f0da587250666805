"""Life-safety emergencies: detected by words, never ticketed, answered with the right number."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Text

# Each kind: the number to call and the words that mean danger now. Negations ("没有着火") are excluded.
EMERGENCY_KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "fire": ("119", "火警", ("着火", "起火", "失火", "火灾", "冒烟了", "烧起来", "大火", "火着起来")),
    "gas": ("119", "燃气泄漏", ("煤气泄漏", "燃气泄漏", "天然气泄漏", "煤气味很大", "燃气味很大", "漏气了", "闻到煤气", "闻到燃气")),
    "medical": ("120", "急救", ("晕倒", "昏迷", "流血不止", "受伤流血", "不省人事", "心脏病发", "抽搐", "没有呼吸", "没气了", "被车撞了", "中毒", "快不行了", "割腕", "触电", "溺水", "落水", "掉进河里", "掉进水里", "冰窟窿")),
    "violence": ("110", "报警", ("打人", "被打", "持刀", "拿着刀", "砍人", "抢劫", "撬门", "撬锁", "正在撬", "在撬", "入室", "绑架", "杀人", "家暴", "在打架", "正在偷", "跳楼", "要自杀", "轻生", "放火", "纵火")),
}
_NEGATION = re.compile(r"(没有|没|不是|并没|防止|预防|怎么预防|如何预防|安全检查|演练|以前|去年|上个月)")


@dataclass(frozen=True)
class Emergency:
    """A detected emergency: what kind, and whom to call."""

    kind: str
    number: str
    service: str

    def advice(self) -> str:
        """One short, speakable instruction for the citizen."""
        extra = {
            "fire": "请马上离开危险区域。",
            "gas": "请不要开关电器、不要用明火，马上开窗并离开。",
            "medical": "请保持电话畅通，照看好伤病人员。",
            "violence": "请先保护好自己，到安全的地方。",
        }[self.kind]
        return f"这是紧急情况，12345不能处理，请立即拨打{self.number}{self.service}电话。{extra}"


def detect_emergency(text: str) -> Optional[Emergency]:
    """The emergency described in `text`, or None. Conservative: a negated or past mention is not one."""
    if not text:
        return None
    for kind, (number, service, words) in EMERGENCY_KINDS.items():
        for word in words:
            pos = text.find(word)
            if pos < 0:
                continue
            if _NEGATION.search(text[max(0, pos - 6) : pos]):
                continue
            return Emergency(kind, number, service)
    return None


def advice_for(text: str) -> str:
    """The instruction for `text`; when the kind is unclear, name all three numbers."""
    found = detect_emergency(text)
    if found:
        return found.advice()
    return "这是紧急情况，12345不能处理。火灾和燃气泄漏请拨打119，急救请拨打120，治安警情请拨打110。"


try:  # the Rasa component is optional for code that only needs detection (voice, tests)
    from rasa.engine.graph import ExecutionContext, GraphComponent
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.engine.storage.resource import Resource
    from rasa.engine.storage.storage import ModelStorage
    from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData
except ImportError:  # pragma: no cover
    GraphComponent = object  # type: ignore[assignment,misc]
else:

    @DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
    class EmergencyIntentGuard(GraphComponent):
        """Sets the intent to `emergency` when a message describes danger now, whatever DIET said."""

        @classmethod
        def create(
            cls,
            config: Dict[Text, Any],
            model_storage: ModelStorage,
            resource: Resource,
            execution_context: ExecutionContext,
        ) -> "EmergencyIntentGuard":
            return cls()

        def process(self, messages: List[Message]) -> List[Message]:
            for message in messages:
                found = detect_emergency(message.get(TEXT) or "")
                if not found:
                    continue
                intent = {INTENT_NAME_KEY: "emergency", PREDICTED_CONFIDENCE_KEY: 1.0}
                ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != "emergency"]
                message.set(INTENT, intent, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [intent, *ranking], add_to_output=True)
            return messages

        def process_training_data(self, training_data: TrainingData) -> TrainingData:
            return training_data
