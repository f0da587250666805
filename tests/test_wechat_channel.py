"""The WeChat channel's protocol, with wechatpy's own crypto on WeChat's side and a real Sanic server.

The dialogue here is a recording fake (what Rasa would answer is tested end to end in
tests/e2e/test_wechat_complaint.py); everything between WeChat and the dialogue is the real channel.
"""
from __future__ import annotations

import asyncio
import os
import uuid

import aiohttp
import pytest

from tests.wechat_support import (AES_KEY, APP_ID, WeChatServer, fake_wechat_api, serve_channel, subscribe_xml,
                                  text_xml, voice_xml)
from wechat.channel import WeChatInput
from wechat.ledger import MemoryLedger, RedisLedger
from ground.settings import WeChatSettings, current

TOKEN = "seat-token-123"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class RecordingDialogue:
    """Stands in for Rasa: records each UserMessage and answers from a script."""

    def __init__(self, delay: float = 0.0, buttons: list[dict] | None = None) -> None:
        self.messages: list = []
        self.delay, self.buttons = delay, buttons

    async def __call__(self, message) -> None:
        self.messages.append(message)
        await asyncio.sleep(self.delay)
        if self.buttons:
            await message.output_channel.send_text_with_buttons(message.sender_id, "请选择诉求类型", self.buttons)
        else:
            await message.output_channel.send_text_message(message.sender_id, f"收到：{message.text}")


def channel(**kw) -> WeChatInput:
    ledger = kw.pop("ledger", None) or MemoryLedger()
    settings = WeChatSettings(**{"token": TOKEN, "app_id": APP_ID, "aes_key": AES_KEY, **kw})
    return WeChatInput(settings, ledger=ledger)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


async def test_verification_echoes_only_a_signed_echostr(http):
    async with serve_channel(channel(), RecordingDialogue()) as url:
        wx = WeChatServer(url, TOKEN)
        assert await wx.verify(http, "echo-4711") == (200, "echo-4711")
        status, body = await wx.verify(http, "echo-4711", bad=True)
        assert status == 403 and "echo-4711" not in body


async def test_bad_signature_is_refused_and_never_reaches_the_dialogue(http):
    dialogue = RecordingDialogue()
    async with serve_channel(channel(), dialogue) as url:
        status, _, reply = await WeChatServer(url, TOKEN).post(http, text_xml("oOpenid1", "我要投诉"), bad=True)
        assert status == 403 and reply is None
        assert dialogue.messages == []


async def test_plain_text_runs_the_dialogue_as_wechat_and_replies_passively(http):
    dialogue = RecordingDialogue()
    async with serve_channel(channel(), dialogue) as url:
        status, _, reply = await WeChatServer(url, TOKEN).post(http, text_xml("oOpenid2", "楼下工地半夜施工"))
    assert status == 200
    assert reply.type == "text" and reply.content == "收到：楼下工地半夜施工"
    assert reply.target == "oOpenid2" and reply.source == "gh_seat"
    (msg,) = dialogue.messages
    assert msg.sender_id == "oOpenid2" and msg.input_channel == "wechat" and msg.metadata == {"channel": "wechat"}


async def test_encrypted_mode_decrypts_and_encrypts(http):
    dialogue = RecordingDialogue()
    async with serve_channel(channel(), dialogue) as url:
        wx = WeChatServer(url, TOKEN, aes=True)
        status, raw, reply = await wx.post(http, text_xml("oOpenid3", "路灯不亮了"))
        assert status == 200 and "<Encrypt>" in raw and "路灯" not in raw
        assert reply.content == "收到：路灯不亮了"
        # a ciphertext signed with another token is refused even when the URL signature is right
        bad = WeChatServer(url, TOKEN, aes=True)
        bad.token = "other"
        status, _, _ = await bad.post(http, text_xml("oOpenid3", "再来一次"))
        assert status == 403
    assert [m.text for m in dialogue.messages] == ["路灯不亮了"]


async def test_buttons_become_numbered_choices_and_a_number_picks_the_payload(http):
    buttons = [{"title": "投诉", "payload": '/inform{"request_type":"complaint"}'},
               {"title": "建议", "payload": '/inform{"request_type":"suggestion"}'}]
    dialogue = RecordingDialogue(buttons=buttons)
    async with serve_channel(channel(), dialogue) as url:
        wx = WeChatServer(url, TOKEN)
        _, _, reply = await wx.post(http, text_xml("oOpenid4", "我有事情反映"))
        assert reply.content == "请选择诉求类型\n回复数字选择：1. 投诉 2. 建议"
        await wx.post(http, text_xml("oOpenid4", "2"))
        await wx.post(http, text_xml("oOpenid4", "7"))  # not a choice: passed on as said
    assert [m.text for m in dialogue.messages] == ["我有事情反映", '/inform{"request_type":"suggestion"}', "7"]


async def test_voice_uses_recognition_and_explains_when_there_is_none(http):
    dialogue = RecordingDialogue()
    async with serve_channel(channel(), dialogue) as url:
        wx = WeChatServer(url, TOKEN)
        _, _, reply = await wx.post(http, voice_xml("oOpenid5", "小区门口有积水"))
        assert reply.content == "收到：小区门口有积水"
        _, _, reply = await wx.post(http, voice_xml("oOpenid5", ""))
        assert "语音" in reply.content and "文字" in reply.content
    assert [m.text for m in dialogue.messages] == ["小区门口有积水"]


async def test_a_failing_dialogue_still_gets_one_mandarin_answer(http):
    async def broken(message) -> None:
        raise RuntimeError("action server down")

    async with serve_channel(channel(), broken) as url:
        wx = WeChatServer(url, TOKEN)
        xml = text_xml("oOpenid10", "你好", msg_id=880004)
        first, retry = await wx.post(http, xml), await wx.post(http, xml)
    assert first[0] == 200 and "系统暂时无法处理" in first[2].content
    assert retry[2].content == first[2].content


async def test_subscribe_greets(http):
    dialogue = RecordingDialogue()
    async with serve_channel(channel(), dialogue) as url:
        status, _, reply = await WeChatServer(url, TOKEN).post(http, subscribe_xml("oOpenid6"))
    assert status == 200 and reply.content == "收到：/greet"
    assert [m.text for m in dialogue.messages] == ["/greet"]


async def test_retried_msgid_gets_one_reply_and_one_dialogue_turn(http):
    dialogue = RecordingDialogue(delay=1.0)
    async with serve_channel(channel(), dialogue) as url:
        wx = WeChatServer(url, TOKEN)
        xml = text_xml("oOpenid7", "我要投诉噪音", msg_id=880001)
        first = asyncio.create_task(wx.post(http, xml))
        await asyncio.sleep(0.2)
        retries = await asyncio.gather(*(wx.post(http, xml) for _ in range(3)))
        results = [await first, *retries]
    assert len(dialogue.messages) == 1
    assert {r[2].content for r in results} == {"收到：我要投诉噪音"}  # the same one reply, never a second turn


async def test_slow_dialogue_answers_success_and_replies_by_customer_service_message(http):
    async with fake_wechat_api(expire_first_token=True) as api:
        ch = channel(app_secret="secret", api_base_url=api.base_url, reply_deadline_s=0.3)
        dialogue = RecordingDialogue(delay=1.5)
        async with serve_channel(ch, dialogue) as url:
            wx = WeChatServer(url, TOKEN, aes=True)
            xml = text_xml("oOpenid8", "我家停水两天了", msg_id=880002)
            status, raw, reply = await wx.post(http, xml)
            assert (status, raw, reply) == (200, "success", None)
            status, raw, _ = await wx.post(http, xml)  # WeChat's retry while the dialogue still runs
            assert (status, raw) == (200, "success")
            await asyncio.wait_for(api.arrived.wait(), 10)
            await asyncio.sleep(0.5)
    assert len(dialogue.messages) == 1
    assert api.sent == [{"touser": "oOpenid8", "msgtype": "text", "text": {"content": "收到：我家停水两天了"}}]
    # the cached token was rejected as expired once; wechatpy fetched a new one and sent again
    assert api.rejected_tokens == ["token-1"] and api.tokens_issued == 2


async def test_disabled_channel_answers_503():
    async with aiohttp.ClientSession() as http:
        async with serve_channel(WeChatInput(WeChatSettings()), RecordingDialogue()) as url:
            async with http.get(url + "?signature=x&timestamp=1&nonce=1&echostr=e") as resp:
                assert resp.status == 503


async def test_two_processes_sharing_redis_run_a_retried_message_once(http):
    prefix = f"test:wechat:{uuid.uuid4().hex}:"
    ledgers = [RedisLedger(REDIS_URL, prefix), RedisLedger(REDIS_URL, prefix)]
    dialogue_a, dialogue_b = RecordingDialogue(delay=0.5), RecordingDialogue(delay=0.5)
    try:
        async with serve_channel(channel(ledger=ledgers[0]), dialogue_a) as url_a, \
                serve_channel(channel(ledger=ledgers[1]), dialogue_b) as url_b:
            xml = text_xml("oOpenid9", "井盖丢了", msg_id=880003)
            results = await asyncio.gather(WeChatServer(url_a, TOKEN).post(http, xml),
                                           WeChatServer(url_b, TOKEN).post(http, xml))
    finally:
        for ledger in ledgers:
            await ledger.close()
    assert len(dialogue_a.messages) + len(dialogue_b.messages) == 1
    assert {r[2].content for r in results} == {"收到：井盖丢了"}


def test_credentials_yml_loads_the_channel_and_without_a_token_it_is_disabled(monkeypatch):
    from rasa.core.run import create_http_input_channels

    for name in ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_AES_KEY"):
        monkeypatch.delenv(name, raising=False)
    channels = {c.name(): c for c in create_http_input_channels(None, "credentials.yml")}
    assert channels["wechat"].settings.enabled is False and "rest" in channels
    monkeypatch.setenv("WECHAT_TOKEN", "t0ken")
    monkeypatch.setenv("WECHAT_REPLY_DEADLINE_S", "7")
    current.cache_clear()  # a Rasa server started with these variables builds its settings anew
    with pytest.raises(ValueError, match="WECHAT_REPLY_DEADLINE_S"):
        create_http_input_channels(None, "credentials.yml")
