"""Which WeChat messages were already taken, their replies, and each citizen's pending choices.

WeChat retries a message it got no answer to within 5 s (same ``MsgId``, up to three times), possibly
to another Rasa process behind the balancer. The first process to claim the message runs the dialogue;
a retry never does: it gets the stored passive reply, or ``success`` when the reply goes out by
customer-service message. Redis (``SET NX``) makes the claim atomic across processes; without Redis
an in-process ledger does the same for a single Rasa server.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Optional, Protocol

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

MESSAGE_TTL_S = 600          # WeChat's retries come within ~15 s; keep the claim well past them
CHOICES_TTL_S = 2 * 24 * 3600
PENDING = "pending"


class Ledger(Protocol):
    async def claim(self, key: str) -> bool: ...
    async def finish(self, key: str, state: str, text: str = "") -> None: ...
    async def outcome(self, key: str) -> Optional[dict[str, str]]: ...
    async def set_choices(self, openid: str, buttons: list[dict[str, str]]) -> None: ...
    async def choices(self, openid: str) -> Optional[list[dict[str, str]]]: ...
    async def close(self) -> None: ...


class MemoryLedger:
    """One process's ledger (a single Rasa server, and tests)."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._items: dict[str, tuple[float, str]] = {}
        self._lock = asyncio.Lock()

    def _get(self, key: str) -> Optional[str]:
        item = self._items.get(key)
        if item is None or item[0] < self._clock():
            self._items.pop(key, None)
            return None
        return item[1]

    def _set(self, key: str, value: str, ttl: float) -> None:
        if len(self._items) > 50_000:  # bounded: drop expired entries
            now = self._clock()
            self._items = {k: v for k, v in self._items.items() if v[0] >= now}
        self._items[key] = (self._clock() + ttl, value)

    async def claim(self, key: str) -> bool:
        async with self._lock:
            if self._get("msg:" + key) is not None:
                return False
            self._set("msg:" + key, json.dumps({"state": PENDING}), MESSAGE_TTL_S)
            return True

    async def finish(self, key: str, state: str, text: str = "") -> None:
        self._set("msg:" + key, json.dumps({"state": state, "text": text}, ensure_ascii=False), MESSAGE_TTL_S)

    async def outcome(self, key: str) -> Optional[dict[str, str]]:
        raw = self._get("msg:" + key)
        return json.loads(raw) if raw else None

    async def set_choices(self, openid: str, buttons: list[dict[str, str]]) -> None:
        self._set("choices:" + openid, json.dumps(buttons, ensure_ascii=False), CHOICES_TTL_S)

    async def choices(self, openid: str) -> Optional[list[dict[str, str]]]:
        raw = self._get("choices:" + openid)
        return json.loads(raw) if raw else None

    async def close(self) -> None:
        return None


class RedisLedger:
    """The ledger in Redis, shared by every Rasa process of the seat."""

    def __init__(self, url: str, prefix: str = "seat:wechat:") -> None:
        self._redis = aioredis.from_url(url, decode_responses=True)
        self._prefix = prefix

    async def claim(self, key: str) -> bool:
        value = json.dumps({"state": PENDING})
        return bool(await self._redis.set(self._prefix + "msg:" + key, value, nx=True, ex=MESSAGE_TTL_S))

    async def finish(self, key: str, state: str, text: str = "") -> None:
        value = json.dumps({"state": state, "text": text}, ensure_ascii=False)
        await self._redis.set(self._prefix + "msg:" + key, value, ex=MESSAGE_TTL_S)

    async def outcome(self, key: str) -> Optional[dict[str, str]]:
        raw = await self._redis.get(self._prefix + "msg:" + key)
        return json.loads(raw) if raw else None

    async def set_choices(self, openid: str, buttons: list[dict[str, str]]) -> None:
        key = self._prefix + "choices:" + openid
        if buttons:
            await self._redis.set(key, json.dumps(buttons, ensure_ascii=False), ex=CHOICES_TTL_S)
        else:
            await self._redis.delete(key)

    async def choices(self, openid: str) -> Optional[list[dict[str, str]]]:
        raw = await self._redis.get(self._prefix + "choices:" + openid)
        return json.loads(raw) if raw else None

    async def close(self) -> None:
        await self._redis.close()


def make_ledger(redis_url: Optional[str], prefix: str = "seat:wechat:") -> Any:
    if redis_url:
        return RedisLedger(redis_url, prefix)
    log.warning("WeChat retries deduplicated in this process only: set REDIS_URL when several Rasa servers run")
    return MemoryLedger()
