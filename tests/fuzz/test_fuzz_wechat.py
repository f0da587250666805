"""Fuzzing the WeChat webhook (wechat/channel.py) with correctly signed random and mutated XML and with bad
signatures: 200 with a reply or "success", 400/403/413, never a 5xx; the dialogue sees only messages with a
sender. The dialogue is a recording stand-in (tests/test_wechat_channel.py); the channel is the real one."""
from __future__ import annotations

import itertools
import time
import uuid
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.strategies import TEXT
from tests.test_wechat_channel import TOKEN, RecordingDialogue, channel
from tests.wechat_support import serve_channel, sign

_ids = itertools.count(10**12)
FIELDS = ("ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "Recognition", "Event", "MsgId")
VALUES = st.one_of(TEXT, st.sampled_from(["", "text", "voice", "event", "subscribe", "image", "-1", "x",
                                           "oOpenid", "]]>", "<a>", "&amp;", "99999999999999999999999"]))


def xml_of(fields: dict[str, str]) -> bytes:
    parts = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return f"<xml>{parts}</xml>".encode("utf-8", "surrogatepass")


MESSAGES = st.one_of(
    st.fixed_dictionaries({"ToUserName": st.just("gh_seat"), "FromUserName": st.just("oFuzz"),
                           "CreateTime": st.just(str(int(time.time()))), "MsgType": st.just("text"),
                           "Content": TEXT}).map(xml_of),
    st.fixed_dictionaries({}, optional={k: VALUES for k in FIELDS}).map(xml_of),
    st.tuples(st.fixed_dictionaries({}, optional={k: VALUES for k in FIELDS}).map(xml_of),
              st.integers(0, 300)).map(lambda p: p[0][:p[1]]),
    st.binary(max_size=500),
)


@pytest.fixture
async def wechat():
    dialogue = RecordingDialogue()
    async with serve_channel(channel(), dialogue) as url, \
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        yield url, http, dialogue


@settings(max_examples=150)
@given(MESSAGES, st.sampled_from(["good", "good", "bad", "none"]), st.booleans())
@example(b"<xml><FromUserName><![CDATA[]]></FromUserName><MsgType><![CDATA[text]]></MsgType>"
         b"<Content><![CDATA[hi]]></Content><CreateTime>1700000000</CreateTime></xml>", "good", False)  # was 500
@example(b"<xml><MsgType><![CDATA[voice]]></MsgType><CreateTime>x</CreateTime></xml>", "good", False)  # was 500
@example(b"<xml><FromUserName><![CDATA[o1]]></FromUserName><MsgType><![CDATA[text]]></MsgType>"
         b"<MsgId><![CDATA[\xe8\x83\xa1]]></MsgId></xml>", "good", False)  # was 500 (int() of MsgId)
@example(b"", "good", False)  # was 500 (parsed to None)
async def test_webhook_never_answers_5xx(wechat, body, signature, aes) -> None:
    url, http, dialogue = wechat
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    query = {"timestamp": timestamp, "nonce": nonce, "signature": sign(TOKEN, timestamp, nonce)}
    if signature == "bad":
        query["signature"] = sign("not-the-token", timestamp, nonce)
    elif signature == "none":
        del query["signature"]
    if aes:
        query.update(encrypt_type="aes", msg_signature="0" * 40)
    seen = len(dialogue.messages)
    async with http.post(url + "?" + urlencode(query), data=body) as resp:
        status = resp.status
        await resp.read()
    assert status in (200, 400, 403, 413), status
    if signature != "good":
        assert status == 403
    new = dialogue.messages[seen:]
    assert all(isinstance(m.sender_id, str) and m.sender_id.strip() for m in new)
