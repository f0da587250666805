"""Fuzzing the citizen page (web/app.py, web/form.py) in process, on the real ticket store.

Random and mutated bodies to the chat relay, the self-service form, the status look-up and the push API;
random handshakes and messages on the events socket. Every answer is a success or a 4xx with a message,
never a 5xx; the form files a whole ticket or nothing. Rasa is a recording stand-in here (the real Rasa is
fuzzed in test_fuzz_rest.py and by bench/fuzz_stack.py).
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.http_exceptions import HttpProcessingError
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ground.store import TicketStore
from ground.tables.tickets import tickets as tickets_table
from tests.fuzz.strategies import TEXT
from tests.web_support import RecordingRasa, serving
from web.app import HUB_KEY, WebConfig, create_app
from web import form as web_form
from web.form import FormService

PUSH_TOKEN = "fuzz-push-token"
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                           max_leaves=8)
SENDERS = st.one_of(st.builds(lambda u: f"web-{u}", st.uuids()), TEXT, JSON_VALUES)


def fields_of(template: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The template with each field kept, mutated (text), replaced (any JSON) or dropped, plus stray keys."""
    def one(value: Any) -> st.SearchStrategy[Any]:
        mutated = st.tuples(st.just(str(value)), TEXT).map(lambda p: p[0] + p[1])
        return st.one_of(st.just(value), mutated, TEXT, JSON_VALUES)

    base = st.fixed_dictionaries({}, optional={k: one(v) for k, v in template.items()})
    return st.tuples(base, st.dictionaries(TEXT, JSON_VALUES, max_size=2)).map(lambda p: {**p[1], **p[0]})


def bodies(template: dict[str, Any]) -> st.SearchStrategy[tuple[bytes, str]]:
    """(body, content type): the template fuzzed, any JSON value, broken JSON or raw bytes."""
    as_json = lambda doc: (json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass"), "application/json")  # noqa: E731
    return st.one_of(
        fields_of(template).map(as_json),
        JSON_VALUES.map(as_json),
        st.tuples(fields_of(template).map(as_json), st.integers(0, 200), st.binary(max_size=4)).map(
            lambda p: (p[0][0][:p[1]] + p[2], "application/json")),
        st.tuples(st.binary(max_size=300), st.sampled_from(["application/json", "text/plain", ""])),
    )


class ErrorLog(logging.Handler):
    """Records ERROR (and exception) log records of the page while the test runs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if record.name == "aiohttp.server" and isinstance(exc, HttpProcessingError) and exc.code == 400:
            return  # aiohttp itself answered 400 to an unparsable request (e.g. a URL over 8 KB) and logs it
        self.records.append(record)

    def check(self) -> None:
        """No error was logged since the last check (one fixture serves all examples of a property)."""
        found, self.records = self.records, []
        assert not found, "\n".join(self.format(r) for r in found)


@pytest.fixture
def error_log():
    handler = ErrorLog()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


@pytest.fixture
async def page(engine):
    """The page app in front of a recording Rasa, its form on the real store; yields (http, app, engine)."""
    rasa = RecordingRasa()
    async with serving(rasa.app()) as rasa_server:
        config = WebConfig(rasa_url=str(rasa_server.make_url("")), push_token=PUSH_TOKEN, chat_per_minute=10**6,
                           pages_per_client=10**6, database_url="sqlite://")
        app = create_app(config)
        app[web_form.FORM_KEY] = FormService(lambda: TicketStore(engine))
        app[web_form.FORM_KEY].submits.limit = 10**6  # per-client limits are tested in tests/security
        app[web_form.FORM_KEY].lookups.limit = 10**6
        async with serving(app) as server, aiohttp.ClientSession(base_url=str(server.make_url(""))) as http:
            yield http, app, engine


async def post(http: aiohttp.ClientSession, path: str, body: bytes, content_type: str,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    headers = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    async with http.post(path, data=body, headers=headers) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if resp.content_type == "application/json" else text


def assert_clear(status: int, data: Any) -> None:
    """Success, or a 4xx that says what is wrong (in a JSON `error`)."""
    assert status < 500, (status, data)
    if status >= 400:
        assert isinstance(data, dict) and isinstance(data.get("error"), str) and data["error"], (status, data)


def ticket_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(tickets_table)).scalar_one()


CHAT = {"sender": f"web-{uuid.UUID(int=1)}", "message": "我要投诉，楼下工地半夜施工"}
FORM = {
    "request_type": "complaint", "category": "", "description": "小区门口的垃圾三天没有清运，味道很大",
    "district": "西城", "street": "什刹海街道", "address": "鼓楼西大街 12号", "occurred_at": "2026-11-30T08:30",
    "contact_name": "李女士", "phone": "幺三九 1111-2222", "confidential": True,
}


@given(bodies(CHAT))
@example((b'{"sender": "web-00000000-0000-0000-0000-000000000001", "message": "\\u0000"}', "application/json"))
async def test_chat_relay_answers_or_refuses_clearly(page, error_log, body) -> None:
    http, _, _ = page
    error_log.records.clear()
    status, data = await post(http, "/api/chat", *body)
    assert_clear(status, data)
    if status == 200:
        assert isinstance(data["messages"], list)
    error_log.check()


@settings(max_examples=120)
@given(bodies(FORM), st.one_of(st.none(), st.text(max_size=120), st.uuids().map(str)))
@example((json.dumps({**FORM, "occurred_at": "9999-12-31T23:59"}).encode(), "application/json"), None)
@example((json.dumps({**FORM, "occurred_at": "0001-01-01T00:00"}).encode(), "application/json"), None)
@example((json.dumps({**FORM, "phone": "0"}).encode(), "application/json"), None)
@example((json.dumps({**FORM, "description": "x\u0000y"}).encode(), "application/json"), None)
async def test_form_files_a_whole_ticket_or_nothing(page, error_log, body, key) -> None:
    http, _, engine = page
    error_log.records.clear()
    before = ticket_count(engine)
    headers = {"Idempotency-Key": key} if key is not None and key.isascii() and key.isprintable() else {}
    status, data = await post(http, "/api/requests", *body, headers=headers)
    assert_clear(status, data)
    after = ticket_count(engine)
    if status == 201:
        assert after - before in (0, 1)  # 0: the same Idempotency-Key again
        with engine.connect() as conn:
            row = conn.execute(select(tickets_table).where(tickets_table.c.ticket_no == data["ticket_no"])).one()
        assert row.request_type and row.description and row.channel == "web_form" and row.status == "new"
        assert row.phone and row.phone.isdigit()
    else:
        assert after == before, "a refused form stored something"
        if status == 422:
            assert isinstance(data["errors"], dict)
    error_log.check()


@given(bodies({"ticket_no": "20240315-000123", "phone": "13911112222"}))
async def test_status_lookup_answers_or_refuses_clearly(page, error_log, body) -> None:
    http, _, _ = page
    error_log.records.clear()
    status, data = await post(http, "/api/status", *body)
    assert_clear(status, data)
    error_log.check()


@given(bodies({"sender": f"web-{uuid.UUID(int=1)}", "messages": [{"text": "您好", "buttons": []}]}),
       st.sampled_from([PUSH_TOKEN, "", "wrong"]))
async def test_push_answers_or_refuses_clearly(page, error_log, body, token) -> None:
    http, _, _ = page
    error_log.records.clear()
    status, data = await post(http, "/internal/push", *body, headers={"X-Seat-Push-Token": token} if token else {})
    assert status < 500 and (status in (202, 404) or (status == 403) == (token != PUSH_TOKEN))
    assert_clear(status, data) if status not in (202, 404) else None
    error_log.check()


WS_MESSAGES = st.lists(st.one_of(
    st.sampled_from(['{"type":"ping"}', "ping", " ping\n"]).map(lambda s: ("text", s)),
    TEXT.map(lambda s: ("text", s)),
    JSON_VALUES.map(lambda v: ("text", json.dumps(v, ensure_ascii=False))),
    st.binary(max_size=5000).map(lambda b: ("binary", b)),
), max_size=5)


@settings(max_examples=80)
@given(SENDERS, st.sampled_from([None, "same", "http://evil.example", "null", "\u6f22"]), WS_MESSAGES)
async def test_events_socket_pongs_or_closes_cleanly(page, error_log, sender, origin, messages) -> None:
    http, app, _ = page
    error_log.check()
    headers = {}
    if origin == "same":
        headers["Origin"] = str(http._base_url)
    elif origin is not None:
        headers["Origin"] = origin
    params = {"sender": sender if isinstance(sender, str) else json.dumps(sender)}
    try:
        ws = await http.ws_connect("/ws/events", params=params, headers=headers, timeout=10)
    except aiohttp.WSServerHandshakeError as exc:
        assert 400 <= exc.status < 500, exc.status
        return
    try:
        assert (await ws.receive_json(timeout=10)) == {"type": "hello"}
        for kind, data in messages:
            if ws.closed:
                break
            await (ws.send_str(data) if kind == "text" else ws.send_bytes(data))
            msg = await ws.receive(timeout=10)
            if kind == "text" and data.strip() in ('{"type":"ping"}', "ping"):
                assert msg.type == WSMsgType.TEXT and json.loads(msg.data) == {"type": "pong"}
            else:
                assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED), msg
                assert ws.close_code in (1003, 1009), ws.close_code  # unsupported data / too big
                break
    finally:
        await ws.close()
    for _ in range(100):
        if not app[HUB_KEY].connected():
            break
        await __import__("asyncio").sleep(0.01)
    assert app[HUB_KEY].connected() == 0
    error_log.check()
