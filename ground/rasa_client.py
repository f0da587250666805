"""Rasa's REST channel as the voice session's dialogue: POST {rasa_url}/webhooks/rest/webhook.

Replies are split into what to say (``texts``) and the machine-readable end-of-call marker the bot
sends as a custom payload (``{"end_call": "handoff" | "goodbye", "reason": ...}``; see
bot/actions/escalation.py and the responses utter_goodbye / utter_outside_beijing in domain.yml).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Optional

import aiohttp

from ground.end_call import END_CALL, HANDOFF_ID, REASON
from ground.settings import current, rasa_auth_token

log = logging.getLogger("voice.rasa")
WEBHOOK_PATH = "/webhooks/rest/webhook"


class RasaError(RuntimeError):
    """Rasa could not be reached or answered with an error."""


@dataclass(frozen=True)
class Reply:
    """The bot's answer to one message."""
    texts: list[str] = field(default_factory=list)
    end_call: Optional[str] = None  # an EndCall value ("handoff" | "goodbye") or None
    reason: str = ""
    handoff_id: Optional[int] = None  # a handoff's queued handoff (ground.end_call.HANDOFF_ID)
    raw: list[dict[str, Any]] = field(default_factory=list, repr=False)


def parse_reply(messages: list[dict[str, Any]]) -> Reply:
    """Texts in order, and the first end-of-call marker among the custom payloads."""
    texts: list[str] = []
    end_call, reason, handoff_id = None, "", None
    for message in messages or []:
        text = (message.get("text") or "").strip()
        if text:
            texts.append(text)
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get(END_CALL) and end_call is None:
            end_call, reason = str(custom[END_CALL]), str(custom.get(REASON) or "")
            try:
                handoff_id = int(custom[HANDOFF_ID]) if custom.get(HANDOFF_ID) is not None else None
            except (TypeError, ValueError):
                handoff_id = None
    return Reply(texts=texts, end_call=end_call, reason=reason, handoff_id=handoff_id, raw=list(messages or []))


class RasaClient:
    """One HTTP client session to Rasa's REST webhook (share it between calls; close it once)."""

    def __init__(self, rasa_url: str, timeout_s: float = 30.0, token: Optional[str] = None) -> None:
        """`token`: the seat's internal secret (default: the Rasa token), so that Rasa keeps the internal
        metadata this client sets (survey try, call id, channel; see seat.rasa_run)."""
        self.url = rasa_url.rstrip("/") + WEBHOOK_PATH
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: Optional[aiohttp.ClientSession] = None
        self.sent: list[dict[str, Any]] = []  # bodies sent (last 100), for diagnostics and tests

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> Reply:
        """One message of the caller; the bot's reply. RasaError on failure."""
        body = {"sender": sender, "message": text, "metadata": metadata}
        self.sent = (self.sent + [body])[-100:]
        try:
            if self._token is None:
                self._token = rasa_auth_token(current())
            async with self._http().post(self.url, json=body,
                                         headers={"Authorization": f"Bearer {self._token}"}) as resp:
                if resp.status != 200:
                    raise RasaError(f"Rasa answered HTTP {resp.status} at {self.url}")
                messages = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise RasaError(f"Rasa at {self.url} failed: {exc.__class__.__name__}: {exc}") from exc
        if not isinstance(messages, list):
            raise RasaError(f"unexpected Rasa reply {str(messages)[:200]!r}")
        return parse_reply(messages)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
