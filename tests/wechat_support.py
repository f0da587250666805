"""WeChat's side, for tests: signed and encrypted messages made with wechatpy's own crypto,
the channel served by a real Sanic server, and a local fake of WeChat's API (token + customer-service)."""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import socket
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Optional
from urllib.parse import urlencode

import aiohttp
import xmltodict
from aiohttp import web
from sanic import Sanic
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import to_text

APP_ID = "wx1234567890abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 chars, as WeChat issues them
_msg_ids = itertools.count(int(time.time() * 1000))
_apps = itertools.count()


def sign(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's signature: SHA-1 of token, timestamp, nonce sorted and joined."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def text_xml(openid: str, content: str, msg_id: Optional[int] = None) -> str:
    msg_id = msg_id or next(_msg_ids)
    return (f"<xml><ToUserName><![CDATA[gh_seat]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def voice_xml(openid: str, recognition: str, msg_id: Optional[int] = None) -> str:
    msg_id = msg_id or next(_msg_ids)
    return (f"<xml><ToUserName><![CDATA[gh_seat]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[voice]]></MsgType>"
            f"<MediaId><![CDATA[media1]]></MediaId><Format><![CDATA[amr]]></Format>"
            f"<Recognition><![CDATA[{recognition}]]></Recognition><MsgId>{msg_id}</MsgId></xml>")


def subscribe_xml(openid: str) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_seat]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[subscribe]]></Event></xml>")


@dataclass
class WeChatServer:
    """What WeChat's servers do towards the seat: sign (and encrypt) and post messages."""

    url: str
    token: str
    aes: bool = False

    def _query(self, extra: dict[str, str] | None = None, bad: bool = False) -> dict[str, str]:
        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        signature = sign(self.token, timestamp, nonce)
        if bad:
            signature = sign("not-the-token", timestamp, nonce)
        return {"signature": signature, "timestamp": timestamp, "nonce": nonce, **(extra or {})}

    async def verify(self, http: aiohttp.ClientSession, echostr: str, bad: bool = False) -> tuple[int, str]:
        query = self._query({"echostr": echostr}, bad)
        async with http.get(self.url + "?" + urlencode(query)) as resp:
            return resp.status, await resp.text()

    async def post(self, http: aiohttp.ClientSession, xml: str, bad: bool = False) -> tuple[int, str, Any]:
        """(HTTP status, raw body, parsed reply message or None for ``success``/errors)."""
        query = self._query(bad=bad)
        body = xml
        if self.aes:
            crypto = WeChatCrypto(self.token, AES_KEY, APP_ID)
            body = crypto.encrypt_message(xml, query["nonce"], query["timestamp"])
            # the signature of the ciphertext, as WeChat sends it
            enc = xmltodict.parse(body)["xml"]
            query = {**query, "encrypt_type": "aes", "msg_signature": to_text(enc["MsgSignature"])}
            query["timestamp"], query["nonce"] = to_text(enc["TimeStamp"]), to_text(enc["Nonce"])
        async with http.post(self.url + "?" + urlencode(query), data=body.encode()) as resp:
            raw = text = await resp.text()
            if resp.status != 200 or text in ("success", ""):
                return resp.status, text, None
            if self.aes:
                enc = xmltodict.parse(text)["xml"]
                text = WeChatCrypto(self.token, AES_KEY, APP_ID).decrypt_message(
                    text, enc["MsgSignature"], enc["TimeStamp"], enc["Nonce"])
            return resp.status, raw, parse_message(text)


@dataclass
class FakeWeChatAPI:
    """A local stand-in for api.weixin.qq.com: access tokens and customer-service messages."""

    expire_first_token: bool = False
    tokens_issued: int = 0
    sent: list[dict] = field(default_factory=list)
    rejected_tokens: list[str] = field(default_factory=list)
    base_url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.custom_send)
        return app

    async def token(self, request: web.Request) -> web.Response:
        if request.query.get("appid") != APP_ID or request.query.get("secret") != "secret":
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        self.tokens_issued += 1
        return web.json_response({"access_token": f"token-{self.tokens_issued}", "expires_in": 7200})

    async def custom_send(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token", "")
        if self.expire_first_token and token == "token-1":
            self.rejected_tokens.append(token)
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        if not token.startswith("token-"):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        self.sent.append(json.loads(await request.text()))
        self.arrived.set()
        return web.json_response({"errcode": 0, "errmsg": "ok"})


@asynccontextmanager
async def fake_wechat_api(**kwargs: Any) -> AsyncIterator[FakeWeChatAPI]:
    api = FakeWeChatAPI(**kwargs)
    runner = web.AppRunner(api.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    api.base_url = f"http://127.0.0.1:{port}/cgi-bin/"
    try:
        yield api
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serve_channel(channel: Any, on_new_message: Any) -> AsyncIterator[str]:
    """The channel's blueprint on a real Sanic server at 127.0.0.1; yields the webhook URL."""
    app = Sanic(f"wechat_test_{next(_apps)}")
    Sanic.test_mode = True  # sanic's touchup rewrites shared classes; test mode keeps the originals per app
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/wechat")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True,
                                     access_log=False)
    await server.startup()
    try:
        yield f"http://127.0.0.1:{port}/webhooks/wechat/webhook"
    finally:
        server.close()
        await server.wait_closed()
