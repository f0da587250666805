"""Finding 3 (issue 13): one long message no longer freezes the seat.

The real Rasa app as `seat.rasa_run` starts it (Rasa's REST channel, the trained model, the seat's guards),
served on a local port: a 40,000-character message is refused within a second with a Mandarin sentence,
while another conversation sent at the same time is answered. Before, Rasa's REST channel took any length
and spent over 30 s of CPU on such a message, every other conversation waiting.
"""
from __future__ import annotations

import asyncio
import time

import aiohttp

import seat.rasa_run as seat_rasa
from tests.rasa_support import fresh_sanic_registry, needs_model, served_rasa  # noqa: F401 (fixture)

pytestmark = needs_model


async def _scenario() -> tuple:
    async with served_rasa() as rasa:
        url = rasa.webhook
        async with aiohttp.ClientSession() as http:
            async def post(sender: str, text: str) -> tuple[int, list, float]:
                started = time.perf_counter()
                async with http.post(url, json={"sender": sender, "message": text}) as resp:
                    return resp.status, await resp.json(content_type=None), time.perf_counter() - started

            await post("warm-up", "你好")
            (long_status, long_body, long_s), (other_status, other_body, _), (mid_status, mid_body, _) = \
                await asyncio.gather(post("flooder", "噪音" * 20_000), post("citizen", "再见"),
                                     post("talker", "噪音" * 1_500))
            return long_status, long_body, long_s, other_status, other_body, mid_status, mid_body


def test_a_40000_character_message_is_refused_within_a_second_while_others_are_answered() -> None:
    long_status, long_body, long_s, other_status, other_body, mid_status, mid_body = asyncio.run(_scenario())
    assert long_status == 413 and "太长" in long_body[0]["text"]
    # 3,000 characters: a small request, but over the 2,000-character message limit.
    assert mid_status == 413 and mid_body == [{"recipient_id": "talker", "text": seat_rasa.TOO_LONG}]
    assert long_s < 1.0
    assert other_status == 200 and other_body and other_body[0]["recipient_id"] == "citizen"
