"""Life-safety emergencies: detected by words, never ticketed, answered with the right number."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Text

# Each kind: the number to call and the words that mean danger now. Negations ("没有着火") are excluded.
EMERGENCY_KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "fire": ("119", "火警", ("着火", "起火", "失火", "火灾", "冒烟了", "烧起来", "大火", "火着起来", "烧着了")),
    "gas": ("119", "燃气泄漏", ("煤气泄漏", "燃气泄漏", "天然气泄漏", "煤气泄露", "燃气泄露", "天然气泄露", "煤气味", "燃气味",
                               "天然气味", "漏气了", "闻到煤气", "闻到燃气", "闻到天然气", "煤气中毒", "一氧化碳中毒")),
    "medical": ("120", "急救", ("晕倒", "昏迷", "流血不止", "受伤流血", "不省人事", "心脏病发", "抽搐", "没有呼吸", "不喘气", "喘不上气",
                                "被车撞了", "中毒", "快不行了", "割腕", "触电", "溺水", "落水", "掉进河里", "掉进水里", "冰窟窿",
                                "叫不醒", "口吐白沫")),
    "violence": ("110", "报警", ("打人", "被打", "持刀", "拿着刀", "拿刀", "砍人", "被砍", "抢劫", "撬门", "撬锁", "正在撬", "在撬", "入室",
                                 "绑架", "杀人", "家暴", "在打架", "打群架", "正在偷", "跳楼", "要自杀", "轻生", "放火", "纵火",
                                 "进贼")),
}
# Danger said with a person: "他没气了" (a gas canister "没气了" is routine).
_DANGER_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("gas", re.compile(r"(燃气|煤气|天然气|管道)[^，。,！!？?]{0,4}(泄漏|泄露|漏了|漏气|往外冒)")),
    ("medical", re.compile(r"(人|他|她|爸|妈|爷|奶|老伴|孩子|老人|大爷|大妈|姥|婆|公)[^，。,！!？?]{0,3}没气儿?了")),
)
# Phrases holding a danger word without danger: removed before the words are looked for.
_BENIGN = re.compile(
    r"火灾险|火灾保险|火灾隐患|火灾报警器|火灾自动报警|防火灾|落水管|跳楼价|被打扰|被打搅|被打卡|打人工|杀人游戏|剧本杀|道德绑架|"
    r"(轮胎|车胎|胎|气球|自行车|电动车|气垫|充气)[^，。,]{0,2}漏气了?|泄漏报警器|泄露报警器|燃气报警器|大火收汁|(开锁|锁匠)[^，。,]{0,6}撬锁|"
    r"撬锁[^，。,]{0,4}(收费|多少钱|师傅|公司)|(打|点)不?着火|食物中毒险|中毒险|防溺水|防触电|触电保护器|漏电保护|烟雾报警器|火锅|"
    r"(烟囱|排气管|尾气|锅炉|工厂|厂子|车)[^，。,]{0,3}冒黑?烟|(手机|钥匙|钱包|东西|衣服|花盆|卡)[^，。,]{0,3}掉(下去|下来|进)"
)
_NEGATION = re.compile(r"(没有|没|不是|并没|防止|预防|怎么预防|如何预防|安全检查|演练|以前|去年|上个月|上次|前几天|之前|担心|害怕会|会不会|万一|如果)")
# After the danger word: a question about rules or services, not a report ("火灾险怎么买" is caught by
# _BENIGN; "着火了保险赔不赔" is a claim after the fact).
_AFTER_THE_FACT = re.compile(r"(投诉|保险|理赔|赔偿|赔不赔|赔多少|报销|起诉|判|立案|保护令|离婚|律师|法律援助|鉴定|证明|补贴)")
# Distress without a listed danger word ("电梯困人了", "有人喝农药了", "楼塌了，有人被压在下面"): when DIET
# guesses `emergency` and neither a danger word nor one of these is in the message, the guess came from
# a topic word alone ("家里燃气要开通找谁", "火车票怎么退") and the next intent is taken.
DISTRESS = re.compile(
    r"突然|快来|快叫|快救|快点|赶紧|救命|救人|喊救|困人|被困|困在|困住|被压|压着|压在|砸到|砸伤|在砸|正在砸|抢孩子|抢人|跟踪|"
    r"掉进|掉下|摔下|跳下|往下跳|出不来|卡着|卡住|动不了|不动了|躺地上|躺着不动|倒下|倒地|晕过去|晕了|叫不醒|不省人事|"
    r"流血|出血|是血|好多血|很多血|一地血|发紫|脸都紫|噎住|喘不|窜起|炸了|爆炸|刀|棍子|追着|追我|还在追|正在|喝农药|吞了|吃了药|"
    r"冒气|冒黑烟|冒烟|车祸|追尾|塌了|倒塌|害怕|陌生人|不能动|说不出话|抽|昏"
)


def _distress(text: str) -> bool:
    return bool(DISTRESS.search(_BENIGN.sub("，", text or "")))


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
    """The emergency described in `text`, or None. Conservative: a negated, past, feared or after-the-fact
    mention is not one, nor a phrase that only holds a danger word ("火灾险", "落水管", "轮胎漏气")."""
    if not text:
        return None
    text = _BENIGN.sub("，", text)
    for kind, (number, service, words) in EMERGENCY_KINDS.items():
        for word in words:
            pos = text.find(word)
            while pos >= 0:
                if not _NEGATION.search(text[max(0, pos - 6) : pos]) and not _AFTER_THE_FACT.search(text[pos:]):
                    return Emergency(kind, number, service)
                pos = text.find(word, pos + 1)
    for kind, pattern in _DANGER_PATTERNS:
        m = pattern.search(text)
        if m and not _NEGATION.search(text[max(0, m.start() - 6) : m.start()]):
            number, service, _ = EMERGENCY_KINDS[kind]
            return Emergency(kind, number, service)
    return None


def is_routine(text: str) -> bool:
    """Neither a danger word nor distress: "燃气开通", "燃气费", "火车票怎么退", "去年被抢劫的案子"."""
    return detect_emergency(text) is None and not _distress(text)


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

    # The rest of an overridden ranking keeps its order at most at this confidence: Rasa's FallbackClassifier
    # (after the guards) calls a message ambiguous when its top two intents are within 0.1, and turned
    # "有人在我家门口撬锁" (emergency 1.0, DIET's complain 0.94) into nlu_fallback ("请再说一遍").
    OVERRIDDEN_MAX = 0.5

    def force_intent(message: Message, name: str) -> None:
        """Make `name` the message's intent with full confidence, first in its ranking (the guards' override)."""
        intent = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: 1.0}
        ranking = [{**r, PREDICTED_CONFIDENCE_KEY: min(float(r.get(PREDICTED_CONFIDENCE_KEY) or 0.0), OVERRIDDEN_MAX)}
                   for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != name]
        message.set(INTENT, intent, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [intent, *ranking], add_to_output=True)

    class MessageGuard(GraphComponent):
        """A rule-based, untrained step after DIET that may override a message's intent (`process`)."""

        @classmethod
        def create(
            cls,
            config: Dict[Text, Any],
            model_storage: ModelStorage,
            resource: Resource,
            execution_context: ExecutionContext,
        ) -> "MessageGuard":
            return cls()

        def process(self, messages: List[Message]) -> List[Message]:
            raise NotImplementedError

        def process_training_data(self, training_data: TrainingData) -> TrainingData:
            return training_data

    @DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
    class EmergencyIntentGuard(MessageGuard):
        """Sets the intent to `emergency` when a message describes danger now, whatever DIET said."""

        def process(self, messages: List[Message]) -> List[Message]:
            for message in messages:
                text = message.get(TEXT) or ""
                found = detect_emergency(text)
                if not found:
                    if (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == "emergency" and is_routine(text):
                        self._demote(message)
                    continue
                force_intent(message, "emergency")
            return messages

        @staticmethod
        def _demote(message: Message) -> None:
            """DIET said `emergency` for routine business: the next intent of its ranking instead."""
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != "emergency"]
            intent = ranking[0] if ranking else {INTENT_NAME_KEY: "nlu_fallback", PREDICTED_CONFIDENCE_KEY: 1.0}
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
