"""The WeChat channel's settings, read once from the environment (or credentials.yml)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

DEFAULT_API_BASE = "https://api.weixin.qq.com/cgi-bin/"


@dataclass(frozen=True)
class WeChatSettings:
    """What the Official Account is and where its API lives.

    ``token`` unset: the channel is disabled (the webhook answers 503, Rasa still starts).
    """

    token: Optional[str] = None
    app_id: Optional[str] = None
    app_secret: Optional[str] = None
    aes_key: Optional[str] = None        # EncodingAESKey (43 chars): encrypted (安全模式) messages accepted
    api_base_url: str = DEFAULT_API_BASE  # customer-service API; tests point it at a local fake
    redis_url: Optional[str] = None       # retries deduplicated across processes; None: this process only
    reply_deadline_s: float = 4.5         # after this, answer "success" and reply by customer-service message

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    @property
    def can_push(self) -> bool:
        """Customer-service messages need the app id and secret."""
        return bool(self.app_id and self.app_secret)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> "WeChatSettings":
        """WECHAT_TOKEN, WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_AES_KEY, WECHAT_API_BASE_URL,
        WECHAT_REDIS_URL (else REDIS_URL), WECHAT_REPLY_DEADLINE_S; `overrides` (credentials.yml) win."""
        env = os.environ if env is None else env
        given = {k: v for k, v in dict(overrides or {}).items() if v not in (None, "")}

        def pick(key: str, name: str) -> Optional[str]:
            value = given.get(key, env.get(name))
            value = str(value).strip() if value is not None else None
            return value or None

        deadline_raw = given.get("reply_deadline_s", env.get("WECHAT_REPLY_DEADLINE_S", "4.5"))
        try:
            deadline = float(deadline_raw)
        except (TypeError, ValueError):
            raise ValueError(f"WECHAT_REPLY_DEADLINE_S is not a number: {deadline_raw!r}") from None
        if not 0 < deadline < 5:
            raise ValueError("WECHAT_REPLY_DEADLINE_S must be between 0 and 5 seconds (WeChat waits 5 s)")
        base = pick("api_base_url", "WECHAT_API_BASE_URL") or DEFAULT_API_BASE
        return cls(
            token=pick("token", "WECHAT_TOKEN"),
            app_id=pick("app_id", "WECHAT_APP_ID"),
            app_secret=pick("app_secret", "WECHAT_APP_SECRET"),
            aes_key=pick("aes_key", "WECHAT_AES_KEY"),
            api_base_url=base if base.endswith("/") else base + "/",
            redis_url=pick("redis_url", "WECHAT_REDIS_URL") or pick("redis_url", "REDIS_URL"),
            reply_deadline_s=deadline,
        )
