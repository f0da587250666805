"""What the voice seat says by itself (not from the dialogue), and when silence ends a call."""
from __future__ import annotations

from typing import Optional

STILL_THERE = "您好，请问还在吗？"
SILENCE_GOODBYE = "很抱歉，一直没有听到您的声音，先为您挂断了。如需帮助请再次拨打12345，再见。"
DIALOGUE_DOWN = "抱歉，系统暂时无法处理，正在为您转接人工客服，请稍候。"
# Phone calls: said at once on answer, while the dialogue prepares its greeting, which starts with the same
# words (domain.yml utter_greet; bot/survey.py's survey opening): the session takes them off its reply.
GREETING = "您好，这里是12345市民服务热线智能客服。"
SURVEY_GREETING = "您好，这里是12345市民服务热线回访，"
FILLER = "请稍等。"  # the dialogue is slow to answer: no dead air
FIXED_PROMPTS = (STILL_THERE, SILENCE_GOODBYE, DIALOGUE_DOWN, GREETING, SURVEY_GREETING, FILLER)  # cached


def greeting_for(context: dict) -> str:
    """The fixed greeting of a phone call: the survey's when the call runs a satisfaction survey."""
    return SURVEY_GREETING if context.get("survey_ticket") else GREETING


class SilencePolicy:
    """Re-prompt after `after_s` of silence once the bot finished speaking; hang up after `max_reprompts`.

    Clocked by the caller: `idle(now)` when playback ended, `activity()` on any caller input,
    `answered()` when the caller's input reached the dialogue, `check(now)` periodically.
    """

    def __init__(self, after_s: float = 8.0, max_reprompts: int = 3) -> None:
        self.after_s, self.max_reprompts = after_s, max_reprompts
        self.reprompts = 0
        self._since: Optional[float] = None

    @property
    def waiting(self) -> bool:
        """The silence timer runs (the bot finished speaking, the caller has not answered yet)."""
        return self._since is not None

    def idle(self, now: float) -> None:
        self._since = now

    def activity(self) -> None:
        self._since = None

    def answered(self) -> None:
        self.reprompts = 0

    def check(self, now: float) -> Optional[str]:
        """"reprompt", "hangup" (after max_reprompts re-prompts went unanswered) or None."""
        if self._since is None or now - self._since < self.after_s:
            return None
        self._since = None
        self.reprompts += 1
        return "reprompt" if self.reprompts <= self.max_reprompts else "hangup"
