"""How the operator workspace controls a citizen's conversation: Rasa's HTTP API and the citizen page's push.

Taking over pauses the bot the Rasa way (``pause`` event), the operator's sentences are appended to the tracker
as ``bot`` events (so the transcript keeps them) and pushed to the citizen: to the open page (``POST
/internal/push`` with the push secret) on a web chat, as a WeChat customer-service message (客服消息, allowed for
48 hours after the citizen's last message) on a WeChat chat; handing back resets the ``handoff_id`` slot and appends ``resume``. The citizen's own
messages in a paused conversation are logged by Rasa without a reply: :meth:`ConversationControl.tracker`
reads them.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol
from urllib.parse import quote

import aiohttp

from bot.handoff import ENDED, place
from bot.intake import BOOKKEEPING_SLOTS, FORM_SLOTS
from ground.settings import PUSH_TOKEN_HEADER

log = logging.getLogger(__name__)

JOINED = "人工客服已接入，请问有什么可以帮您？"
RESOLVED = ENDED  # the bot's own sentence for a person's service that ended
HANDOFF_SLOT = "handoff_id"
# forgotten when the operator closes: the request they filed or resolved (as the bot forgets it after filing)
CLOSING_RESETS = (HANDOFF_SLOT, "requested_slot", *FORM_SLOTS, *BOOKKEEPING_SLOTS)


class TextSender(Protocol):
    """Sends one text to a WeChat follower (wechat.client.CustomerService); True when WeChat accepted it."""

    async def send_text(self, openid: str, text: str) -> bool: ...


class ControlError(RuntimeError):
    """Rasa could not be reached or refused the change."""


def released_sentence(position: int, wait_s: int) -> str:
    """Told when the operator left: the citizen is back in the queue, with their place and the estimated wait."""
    return f"人工客服暂时离开了，您已重新进入排队，{place(position, wait_s)}，请稍候。"


@dataclass(frozen=True)
class ControlConfig:
    rasa_url: str                                     # one Rasa server (they share the tracker store)
    rasa_token: str = field(repr=False)               # RASA_AUTH_TOKEN
    push_url: Optional[str] = None                    # WEB_PUSH_URL; None: the page is never pushed to
    push_token: str = field(default="", repr=False)   # WEB_PUSH_TOKEN
    timeout_s: float = 15.0


def bot_event(text: str) -> dict[str, Any]:
    return {"event": "bot", "text": text}


def slot_event(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


class ConversationControl:
    """One HTTP session to Rasa and the citizen page (open with :meth:`start`, close with :meth:`close`)."""

    def __init__(self, config: ControlConfig, wechat: Optional[TextSender] = None) -> None:
        self.config = config
        self.wechat = wechat  # None: WECHAT_APP_ID/SECRET unset, a WeChat chat gets the operator's words only later
        self._session: Optional[aiohttp.ClientSession] = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout_s))
        return self._session

    def _url(self, conversation_id: str, tail: str) -> str:
        # one quoted path segment: a conversation id must never reach another endpoint of the API
        return f"{self.config.rasa_url.rstrip('/')}/conversations/{quote(conversation_id, safe='')}/{tail}"

    async def append(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        """Append events to the conversation's tracker (ControlError when Rasa refuses or is gone)."""
        url = self._url(conversation_id, "tracker/events")
        try:
            async with self._http().post(url, params={"token": self.config.rasa_token,
                                                      "include_events": "NONE"}, json=events) as resp:
                if resp.status != 200:
                    detail = (await resp.text())[:200]
                    raise ControlError(f"Rasa answered HTTP {resp.status} appending events: {detail}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise ControlError(f"Rasa unreachable: {exc.__class__.__name__}: {exc}") from exc

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        """The conversation's tracker with all its events (ControlError when unavailable)."""
        try:
            async with self._http().get(self._url(conversation_id, "tracker"),
                                        params={"token": self.config.rasa_token, "include_events": "ALL"}) as resp:
                if resp.status != 200:
                    raise ControlError(f"Rasa answered HTTP {resp.status} for the tracker")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise ControlError(f"Rasa unreachable: {exc.__class__.__name__}: {exc}") from exc
        return data if isinstance(data, dict) else {}

    async def push(self, conversation_id: str, texts: list[str], channel: str = "web") -> bool:
        """Deliver `texts` to the citizen now: their open page, or their WeChat; False when that cannot be done
        (not connected, not pushable, WeChat refused). The tracker keeps them either way."""
        if channel == "wechat":
            return await self._push_wechat(conversation_id, texts)
        if not self.config.push_url or not conversation_id.startswith("web-"):
            return False
        body = {"sender": conversation_id, "messages": [{"text": t} for t in texts]}
        try:
            async with self._http().post(self.config.push_url, json=body,
                                         headers={PUSH_TOKEN_HEADER: self.config.push_token}) as resp:
                if resp.status == 202:
                    return True
                if resp.status != 404:
                    log.warning("push to the citizen page: HTTP %s", resp.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("citizen page unreachable for a push: %s", exc)
        return False

    async def _push_wechat(self, openid: str, texts: list[str]) -> bool:
        if self.wechat is None:
            log.warning("operator's message to a WeChat chat not pushed: WECHAT_APP_ID and WECHAT_APP_SECRET unset")
            return False
        delivered = True
        for text in texts:  # in order; one refused text does not hold back the next
            delivered = await self.wechat.send_text(openid, text) and delivered
        return delivered

    async def say(self, conversation_id: str, text: str, channel: str = "web") -> bool:
        """An operator's (or the workspace's) sentence: in the tracker, and delivered to the citizen."""
        await self.append(conversation_id, [bot_event(text)])
        return await self.push(conversation_id, [text], channel)

    async def take_over(self, conversation_id: str, text: str = JOINED, channel: str = "web") -> None:
        """Pause the bot and tell the citizen a person joined."""
        await self.append(conversation_id, [{"event": "pause"}, bot_event(text)])
        await self.push(conversation_id, [text], channel)

    async def hand_back(self, conversation_id: str, text: str, keep_waiting: bool = False,
                        channel: str = "web") -> None:
        """Say `text`, then resume the bot. `keep_waiting`: the handoff is still open (the operator left), so its
        slots stay; otherwise the handoff slot and the request's slots are reset."""
        events = [bot_event(text)]
        if not keep_waiting:
            events.extend(slot_event(name, None) for name in CLOSING_RESETS)
        events.append({"event": "resume"})
        await self.append(conversation_id, events)
        await self.push(conversation_id, [text], channel)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
