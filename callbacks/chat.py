"""Chat surveys: the survey is opened in the citizen's web chat conversation.

The worker triggers the ``greet`` intent in the ticket's conversation through Rasa's HTTP API (the greeting
action finds the waiting survey and asks the first question) and posts the bot's messages to the web
service's ``POST /internal/push`` (202: the citizen is connected and sees it now; 404: not connected — the
survey waits, and the page's ``/greet`` at the next visit opens it). A WeChat ticket's conversation (the
citizen's OpenID) gets the bot's messages as a WeChat customer-service message instead (the scheduler
chose chat only while WeChat's 48-hour window is open; ``ground.wechat_window``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import quote

import aiohttp

from ground.settings import PUSH_TOKEN_HEADER

from wechat.client import CustomerService
from wechat.replies import render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatConfig:
    rasa_url: str                 # http://127.0.0.1:5005
    rasa_token: str = field(repr=False)
    push_url: Optional[str] = None  # http://127.0.0.1:8000/internal/push (WEB_PUSH_URL; None: never pushed live)
    push_token: str = field(default="", repr=False)  # WEB_PUSH_TOKEN, sent in the X-Seat-Push-Token header


class ChatDelivery:
    """Opens a chat survey; returns 'live' (pushed to a connected citizen) or 'waiting'."""

    def __init__(self, config: ChatConfig, session: aiohttp.ClientSession,
                 wechat: Optional[CustomerService] = None) -> None:
        self.config, self.session, self.wechat = config, session, wechat

    async def open(self, conversation_id: str) -> str:
        messages = await self._trigger(conversation_id)
        if not conversation_id.startswith("web-") and self.wechat is not None:  # a WeChat OpenID
            text = render(messages, numbered=False)
            return "live" if text and await self.wechat.send_text(conversation_id, text) else "waiting"
        if not messages or not self.config.push_url:
            return "waiting"
        body = {"sender": conversation_id, "messages": [{"text": m["text"]} for m in messages if m.get("text")]}
        try:
            async with self.session.post(self.config.push_url, json=body,
                                         headers={PUSH_TOKEN_HEADER: self.config.push_token}) as resp:
                if resp.status == 202:
                    return "live"
                if resp.status != 404:
                    log.warning("chat push for %s: HTTP %s", conversation_id, resp.status)
        except aiohttp.ClientError as exc:
            log.warning("chat push unavailable: %s", exc)
        return "waiting"

    async def _trigger(self, conversation_id: str) -> list[dict]:
        # one quoted path segment: an id like "a/../../model/train?" must not reach another endpoint of the API
        url = f"{self.config.rasa_url.rstrip('/')}/conversations/{quote(conversation_id, safe='')}/trigger_intent"
        try:
            async with self.session.post(url, params={"token": self.config.rasa_token},
                                         json={"name": "greet", "entities": {}}) as resp:
                if resp.status != 200:
                    log.warning("chat survey for %s: Rasa answered HTTP %s", conversation_id, resp.status)
                    return []
                return list((await resp.json()).get("messages") or [])
        except aiohttp.ClientError as exc:
            log.warning("chat survey for %s: Rasa unavailable (%s); it waits for the next visit", conversation_id, exc)
            return []
