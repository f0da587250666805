"""Customer-service messages (客服消息) through wechatpy's client, against a configurable API base URL.

wechatpy caches the access token (its session storage) and, on an expired or invalid token
(40001/40014/42001), fetches a new one and retries the call. Its token URL is fixed to
api.weixin.qq.com; :class:`SeatWeChatClient` takes it from the same base URL so tests use a local fake.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

log = logging.getLogger(__name__)


class SeatWeChatClient(WeChatClient):
    def __init__(self, appid: str, secret: str, api_base_url: str, timeout: float = 5.0, **kwargs: Any) -> None:
        super().__init__(appid, secret, timeout=timeout, **kwargs)
        self.API_BASE_URL = api_base_url

    def fetch_access_token(self) -> dict:
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class CustomerService:
    """Sends text to a follower (allowed for 48 hours after their last message)."""

    def __init__(self, client: WeChatClient) -> None:
        self.client = client

    @classmethod
    def from_settings(cls, settings: Any) -> "CustomerService":
        return cls(SeatWeChatClient(settings.app_id, settings.app_secret, settings.api_base_url))

    async def send_text(self, openid: str, text: str) -> bool:
        """True when WeChat accepted the message (the client is blocking: run in a thread)."""
        try:
            await asyncio.to_thread(self.client.message.send_text, openid, text)
            return True
        except (WeChatClientException, OSError) as exc:
            log.warning("customer-service message to %s… failed: %s", openid[:6], exc)
            return False
