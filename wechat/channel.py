"""The WeChat Official Account input channel for Rasa (``/webhooks/wechat/webhook``).

credentials.yml::

    wechat.channel.WeChatInput:    # settings from WECHAT_TOKEN, WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_AES_KEY

- ``GET``: WeChat's server verification (``signature``, ``timestamp``, ``nonce``, ``echostr``).
- ``POST``: every message's ``signature`` is checked (403 otherwise); with ``encrypt_type=aes``
  (安全模式) the body is decrypted and the reply encrypted (``msg_signature`` checked too).
- Text runs the dialogue (metadata ``channel: wechat``, sender = the OpenID); voice uses WeChat's
  ``Recognition``; ``subscribe`` greets; buttons are numbered choices (``wechat.replies``).
- A passive reply must come within 5 s: after ``reply_deadline_s`` the channel answers ``success``
  and sends the reply as a customer-service message. WeChat's retries of a ``MsgId`` never run the
  dialogue again (``wechat.ledger``).

Protocol: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
(passive replies: …/Passive_user_reply_message.html; customer-service messages: …/Service_Center_messages.html).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from wechat.client import CustomerService
from wechat.ledger import PENDING, make_ledger
from wechat.replies import UNSUPPORTED, VOICE_NOT_RECOGNISED, buttons_of, choice, render
from ground.settings import WeChatSettings, current

log = logging.getLogger(__name__)

CHANNEL = "wechat"
GREET = "/greet"
MAX_BODY_BYTES = 64 * 1024
SYSTEM_ERROR = "抱歉，系统暂时无法处理您的消息，请稍后再试或拨打12345热线。"


def _mask(openid: str) -> str:
    return (openid or "")[:6] + "…"


class WeChatInput(InputChannel):
    """WeChat Official Account (公众号) messages in, passive or customer-service replies out."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[Text, Any]]) -> InputChannel:
        return cls(current().wechat.overridden(credentials))

    def __init__(self, settings: WeChatSettings, customer_service: Optional[CustomerService] = None,
                 ledger: Any = None) -> None:
        self.settings = settings
        self.crypto = (WeChatCrypto(settings.token, settings.aes_key, settings.app_id)
                       if settings.enabled and settings.aes_key and settings.app_id else None)
        self.customer_service = customer_service or (
            CustomerService.from_settings(settings) if settings.can_push else None)
        self._ledger = ledger
        self._background: set[asyncio.Task] = set()
        if not settings.enabled:
            log.warning("WeChat channel disabled: WECHAT_TOKEN is not set")

    @property
    def ledger(self) -> Any:
        if self._ledger is None:  # created in the server's event loop
            self._ledger = make_ledger(self.settings.redis_url, f"seat:wechat:{self.settings.app_id or 'default'}:")
        return self._ledger

    def get_metadata(self, request: Request) -> dict[str, Any]:
        return {"channel": CHANNEL}

    # -- HTTP -------------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("wechat_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.settings.enabled else "disabled"})

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self.settings.enabled:
                return response.text("WeChat channel not configured", status=503)
            if not self._signed(request):
                return response.text("invalid signature", status=403)
            return response.text(request.args.get("echostr", ""))

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.settings.enabled:
                return response.text("WeChat channel not configured", status=503)
            if not self._signed(request):
                log.warning("WeChat message refused: bad signature from %s", request.ip)
                return response.text("invalid signature", status=403)
            if len(request.body or b"") > MAX_BODY_BYTES:
                return response.text("too large", status=413)
            encrypted = request.args.get("encrypt_type", "raw") == "aes"
            try:
                xml = self._decrypt(request) if encrypted else request.body.decode("utf-8")
            except (InvalidSignatureException, InvalidAppIdException):
                log.warning("WeChat message refused: bad msg_signature or app id from %s", request.ip)
                return response.text("invalid signature", status=403)
            except Exception as exc:  # malformed ciphertext or XML
                log.warning("WeChat message unreadable: %s", exc)
                return response.text("bad request", status=400)
            try:
                message = parse_message(xml)
            except Exception as exc:
                log.warning("WeChat message unparsable: %s", exc)
                return response.text("bad request", status=400)
            source = getattr(message, "source", None)  # an empty body parses to None
            if not isinstance(source, str) or not source.strip():
                log.warning("WeChat message refused: no sender (FromUserName) from %s", request.ip)
                return response.text("bad request: no FromUserName", status=400)
            try:
                self.message_key(message)  # wechatpy converts MsgId / CreateTime lazily, with int()
            except (TypeError, ValueError) as exc:
                log.warning("WeChat message refused: bad MsgId or CreateTime (%s)", exc)
                return response.text("bad request: MsgId and CreateTime must be numbers", status=400)
            text = await self.handle(message, on_new_message)
            if not text:
                return response.text("success")
            reply = create_reply(text, message).render()
            if encrypted:
                reply = self.crypto.encrypt_message(reply, request.args.get("nonce", ""),
                                                    request.args.get("timestamp"))
            return response.text(reply, content_type="application/xml")

        return bp

    def _signed(self, request: Request) -> bool:
        try:
            check_signature(self.settings.token, request.args.get("signature", ""),
                            request.args.get("timestamp", ""), request.args.get("nonce", ""))
            return True
        except InvalidSignatureException:
            return False

    def _decrypt(self, request: Request) -> str:
        if self.crypto is None:
            raise InvalidSignatureException("encrypted message but WECHAT_AES_KEY / WECHAT_APP_ID not set")
        return self.crypto.decrypt_message(request.body.decode("utf-8"), request.args.get("msg_signature", ""),
                                           request.args.get("timestamp", ""), request.args.get("nonce", ""))

    # -- messages ---------------------------------------------------------------

    @staticmethod
    def message_key(message: Any) -> str:
        """``MsgId`` for messages; sender and time for events (WeChat's own dedup rule)."""
        msg_id = getattr(message, "id", None)
        if msg_id:
            return f"id:{msg_id}"
        return f"ev:{message.source}:{message.time}:{getattr(message, 'event', '')}"

    def user_text(self, message: Any) -> tuple[Optional[str], Optional[str]]:
        """(text for the dialogue, or None) and (a direct answer, or None)."""
        kind = message.type
        if kind == "text":
            return (message.content or "").strip() or None, None
        if kind == "voice":
            recognised = (getattr(message, "recognition", None) or "").strip()
            return (recognised, None) if recognised else (None, VOICE_NOT_RECOGNISED)
        if kind == "event":
            if getattr(message, "event", "") == "subscribe":
                return GREET, None
            return None, None  # unsubscribe, menu clicks, location reports: nothing to say
        return None, UNSUPPORTED

    async def handle(self, message: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> str:
        """The passive reply text ('' = answer ``success``). Runs the dialogue once per message."""
        key = self.message_key(message)
        if not await self.ledger.claim(key):
            return await self._retry(key)
        text, direct = self.user_text(message)
        if text is None:
            await self.ledger.finish(key, "replied", direct or "")
            return direct or ""
        openid = message.source
        if not text.startswith("/"):
            picked = choice(text, await self.ledger.choices(openid))
            text = picked or text
        task = asyncio.create_task(self._dialogue(openid, text, on_new_message))
        done, _ = await asyncio.wait({task}, timeout=self.settings.reply_deadline_s)
        if task in done:
            try:
                reply = task.result()
            except Exception:  # the citizen still gets one answer, and retries get the same one
                log.exception("dialogue of %s failed", _mask(openid))
                reply = SYSTEM_ERROR
            await self.ledger.finish(key, "replied", reply)
            return reply
        log.info("dialogue of %s slower than %.1f s: reply by customer-service message",
                 _mask(openid), self.settings.reply_deadline_s)
        await self.ledger.finish(key, "pushing")
        pusher = asyncio.create_task(self._push_later(key, openid, task))
        self._background.add(pusher)
        pusher.add_done_callback(self._background.discard)
        return ""

    async def _retry(self, key: str) -> str:
        """A retried message: the first answer again once it is known, else ``success``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.reply_deadline_s
        while True:
            outcome = await self.ledger.outcome(key) or {}
            if outcome.get("state") == "replied":
                log.info("WeChat retry of %s: the stored reply again", key)
                return outcome.get("text", "")
            if outcome.get("state") != PENDING or loop.time() >= deadline:
                log.info("WeChat retry of %s: success (reply goes by customer-service message)", key)
                return ""
            await asyncio.sleep(0.1)

    async def _dialogue(self, openid: str, text: str,
                        on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> str:
        collector = CollectingOutputChannel()
        await on_new_message(UserMessage(text, collector, openid, input_channel=CHANNEL,
                                         metadata={"channel": CHANNEL}))
        await self.ledger.set_choices(openid, buttons_of(collector.messages))
        return render(collector.messages)

    async def _push_later(self, key: str, openid: str, task: "asyncio.Task[str]") -> None:
        try:
            reply = await task
        except Exception:
            log.exception("dialogue of %s failed", _mask(openid))
            reply = SYSTEM_ERROR
        if not reply:
            await self.ledger.finish(key, "pushed")
            return
        sent = bool(self.customer_service) and await self.customer_service.send_text(openid, reply)
        if not self.customer_service:
            log.error("reply to %s lost: customer-service messages need WECHAT_APP_ID and WECHAT_APP_SECRET",
                      _mask(openid))
        await self.ledger.finish(key, "pushed" if sent else "push_failed")
