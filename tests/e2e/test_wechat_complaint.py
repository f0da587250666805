"""A citizen complains over WeChat (encrypted mode) to the running seat: one ticket with channel `wechat`."""
from __future__ import annotations

import asyncio
import itertools
import time
import uuid

import aiohttp
import pytest
from sqlalchemy import select

from ground.db import create_engine
from ground.tables.tickets import tickets as tickets_table
from tests.e2e.conftest import WECHAT_TEST_TOKEN
from tests.wechat_support import WeChatServer, subscribe_xml, text_xml

pytestmark = pytest.mark.stack
_ids = itertools.count(int(time.time() * 1000) * 10)


def tickets_of(stack, openid: str) -> list[dict]:
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(tickets_table).where(tickets_table.c.conversation_id == openid))
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


async def converse(stack, openid: str, lines: list[str], aes: bool = True) -> list[str]:
    wx = WeChatServer(stack.wechat_url, WECHAT_TEST_TOKEN, aes=aes)
    replies = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for line in lines:
            xml = subscribe_xml(openid) if line == "<subscribe>" else text_xml(openid, line, next(_ids))
            status, raw, reply = await wx.post(http, xml)
            assert status == 200, raw
            assert reply is not None, f"no passive reply to {line!r} (the dialogue took longer than 4.5 s?)"
            assert reply.target == openid
            replies.append(reply.content)
    return replies


def test_complaint_over_wechat_files_one_wechat_ticket(stack):
    openid = "oWx" + uuid.uuid4().hex[:24]
    replies = asyncio.run(converse(stack, openid, [
        "<subscribe>",
        "我要投诉，我家旁边的工地每天晚上十一点以后还在施工，吵得根本睡不着",
        "朝阳区望京街道望京西园三区",
        "13911112222",
        "王先生",
        "不需要保密",
        "对，没问题",
    ]))
    assert replies[0], "the subscribe event is greeted"
    assert "以上信息是否正确" in replies[-2]
    rows = tickets_of(stack, openid)
    assert len(rows) == 1, replies
    t = rows[0]
    assert t["ticket_no"] in replies[-1]
    assert t["channel"] == "wechat" and t["conversation_id"] == openid
    assert (t["request_type"], t["district"], t["street"], t["phone"]) == ("complaint", "朝阳区", "望京街道", "13911112222")


def test_retried_confirmation_message_files_one_ticket(stack):
    """WeChat retries the final "对" three times: one reply text, one ticket."""
    openid = "oWx" + uuid.uuid4().hex[:24]
    asyncio.run(converse(stack, openid, [
        "我要反映一下，小区门口的路灯坏了一个星期了，能不能找人修一下",
        "海淀区学院路街道石油大院南门",
        "13800138000",
        "不想说",
    ], aes=False))

    async def confirm_with_retries() -> list:
        wx = WeChatServer(stack.wechat_url, WECHAT_TEST_TOKEN)
        xml = text_xml(openid, "对", next(_ids))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            first = asyncio.create_task(wx.post(http, xml))
            await asyncio.sleep(0.3)
            retries = await asyncio.gather(*(wx.post(http, xml) for _ in range(3)))
            return [await first, *retries]

    results = asyncio.run(confirm_with_retries())
    rows = tickets_of(stack, openid)
    assert len(rows) == 1
    assert {r[2].content for r in results if r[2] is not None} == {next(r[2].content for r in results if r[2])}
    assert rows[0]["ticket_no"] in results[0][2].content
    assert rows[0]["channel"] == "wechat"
