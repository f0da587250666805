"""Asking for a person ("转人工", "找客服", "我要跟人说"), and stopping a wait for one ("取消", "不等了").

Detected by words, so a request for a person is never taken as the answer to the form's question: the guard
component below sets the intent to ``human_handoff`` whatever DIET said (after the emergency guard: danger wins).
Conservative on the other side: a complaint about someone's customer service ("快递公司的客服不接电话"), man-made
things ("人工湖", "人工费") and long descriptions that only mention a person are not requests for one.
"""
from __future__ import annotations

import re
from typing import List

MAX_ASK_CHARS = 24  # longer messages describe a problem; only an explicit 转人工 hands off there
_NOT_A_PERSON = r"(?!湖|智能|费|降雨|增雨|草|河|岛|林|成本|造|合成|授精|呼吸|耳蜗|关节|牙|养殖|繁殖|影响|挖|清)"
_PERSON = r"(?:人工" + _NOT_A_PERSON + r"|真人|活人|接线员|话务员|值班的人|工作人员|坐席|座席|客服(?:人员|小姐姐|代表)?)"
_EXPLICIT = re.compile(r"转(?:接)?(?:到|给)?(?:一下)?人工" + _NOT_A_PERSON + r"|人工(?:服务|客服|坐席|台)")
_ASK = re.compile(
    r"(?:转|接|换|找|要|叫|请|让|给我|帮我|来个|来一个|有没有|需要)[^，。,！!？?]{0,5}?" + _PERSON
    + r"|(?:跟|和|同|找)(?:真|活)?人(?:说|讲|聊|谈|沟通|对话)"
    + r"|不(?:想|要)?(?:跟|和)?机器(?:人)?(?:说|聊|讲)|换个人|不要机器人"
    + r"|(?:跟|和|同)(?:你们)?(?:的)?" + _PERSON + r"[^，。,]{0,4}(?:说|讲|聊|谈|沟通|对话)"
    + r"|有(?:个)?" + _PERSON + r"[^，。,]{0,3}吗|(?:喊|叫|找)个人(?:来|过来|接)"
)
_BARE = re.compile(r"^(?:人工|客服|接线员|话务员|真人|人工客服|人工服务)+(?:呢|吧|啊|呀|在吗|在哪|有吗)?$")
_SOMEONE_ELSES = re.compile(r"(?:公司|银行|商家|平台|店|物业|快递|医院|运营商|商场|网站|APP|app)[^，。,]{0,5}客服|客服(?:电话|热线)")
_COMPLAINT_ABOUT = re.compile(r"投诉|举报|态度|骂|不理|不接|打不通|不处理|扣钱|退款")
_FILLERS = re.compile(r"[，。,.！!？?、\s~]|喂|你好|您好|麻烦|请|一下|我说|那个|嗯|啊")

_STOP = re.compile(
    r"取消|不等了|不想等|不用等|等不了|算了|不用了|不要了|不需要了|结束等待|别转了|不转了|不用转|先挂了|挂了吧|我挂了"
)


def asks_for_person(text: str) -> bool:
    """Whether `text` asks to talk to a human agent."""
    if not text:
        return False
    if _EXPLICIT.search(text) and not (_COMPLAINT_ABOUT.search(text) and "转" not in text):
        return True
    compact = _FILLERS.sub("", text)
    if not compact or len(compact) > MAX_ASK_CHARS:
        return False
    if _BARE.match(compact):
        return True
    if _SOMEONE_ELSES.search(text) or (_COMPLAINT_ABOUT.search(text) and "转" not in text):
        return False
    return bool(_ASK.search(compact))


def wants_to_stop_waiting(text: str) -> bool:
    """Whether a citizen waiting for a person says they no longer want to wait."""
    return bool(text) and bool(_STOP.search(text)) and not asks_for_person(text.replace("不转了", ""))


try:  # the Rasa component is optional for code that only needs the words (bot, tests)
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, TEXT
    from rasa.shared.nlu.training_data.message import Message

    from nlu.safety import MessageGuard, force_intent
except ImportError:  # pragma: no cover
    pass
else:

    @DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
    class HandoffIntentGuard(MessageGuard):
        """Sets the intent to `human_handoff` when a message asks for a person (an emergency stays one)."""

        def process(self, messages: List[Message]) -> List[Message]:
            for message in messages:
                current = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
                if current == "emergency" or not asks_for_person(message.get(TEXT) or ""):
                    continue
                force_intent(message, "human_handoff")
            return messages
