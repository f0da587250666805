"""The self-service form's API and the status API, on the real ticket store (PostgreSQL with TEST_DATABASE_URL)."""
from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.status import status_message
from ground.store import TicketStore
from ground.tables.tickets import tickets as tickets_table
from tests.web_support import serving
from web import form as web_form
from web.form import FormService, RateLimiter

VALID = {
    "request_type": "complaint", "category": "", "description": "小区门口的垃圾三天没有清运，味道很大",
    "district": "西城", "street": "什刹海街道", "address": "鼓楼西大街 12号", "occurred_at": "2026-11-30T08:30",
    "contact_name": "李女士", "phone": "幺三九 1111-2222", "confidential": True,
}


def rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(tickets_table))]


@pytest.fixture
async def form_api(clean_db):
    app = web.Application()
    service = FormService(lambda: TicketStore(clean_db))
    web_form.setup(app, service)
    async with serving(app) as server, aiohttp.ClientSession(base_url=str(server.make_url(""))) as http:
        yield http, service


async def post(http, body, key=None, path="/api/requests"):
    headers = {"Idempotency-Key": key} if key else {}
    async with http.post(path, json=body, headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers


async def test_valid_request_files_a_web_form_ticket_normalised_like_the_bot(form_api, clean_db):
    http, _ = form_api
    status, data, _ = await post(http, VALID, key=uuid.uuid4().hex)
    assert status == 201, data
    assert data["ticket_no"] in data["message"] and "工单编号" in data["message"]
    [t] = rows(clean_db)
    assert t["ticket_no"] == data["ticket_no"] and t["channel"] == "web_form"
    assert (t["district"], t["street"], t["phone"]) == ("西城区", "什刹海街道", "13911112222")
    assert t["category"] == "环境卫生"  # no category chosen: classified from the words, as the bot does
    assert t["confidential"] is True and t["contact_name"] == "李女士" and t["status"] == "new"
    assert t["occurred_at"].isoformat().startswith("2026-11-30T00:30")  # 08:30 Beijing time, stored UTC
    assert t["assigned_unit"]


async def test_invalid_request_gets_mandarin_errors_by_field_and_files_nothing(form_api, clean_db):
    http, _ = form_api
    bad = {**VALID, "request_type": "rant", "description": "脏", "district": "浦东", "street": "望京街道",
           "phone": "12345", "occurred_at": "2099-01-01T00:00", "category": "外星人"}
    status, data, _ = await post(http, bad)
    assert status == 422
    errors = data["errors"]
    # the street is checked against the district once the district is known
    assert set(errors) == {"request_type", "description", "district", "phone", "occurred_at", "category"}
    assert "诉求类型" in errors["request_type"] and "至少5个字" in errors["description"]
    assert "服务热线" in errors["phone"] and "晚于现在" in errors["occurred_at"]
    status, data, _ = await post(http, {**VALID, "district": "朝阳区", "street": "什刹海街道"})
    assert status == 422 and set(data["errors"]) == {"street"} and "朝阳区没有" in data["errors"]["street"]
    assert rows(clean_db) == []


async def test_double_submit_with_one_idempotency_key_files_one_ticket(form_api, clean_db):
    http, _ = form_api
    key = uuid.uuid4().hex
    results = await asyncio.gather(*(post(http, VALID, key=key) for _ in range(3)))
    assert {r[0] for r in results} == {201}
    assert len({r[1]["ticket_no"] for r in results}) == 1
    assert len(rows(clean_db)) == 1
    status, other, _ = await post(http, VALID, key=uuid.uuid4().hex)  # a new key is a new request
    assert status == 201 and other["ticket_no"] != results[0][1]["ticket_no"]


async def test_submissions_are_rate_limited_per_client_in_mandarin(form_api, clean_db):
    http, service = form_api
    service.submits = RateLimiter(2, 600)
    assert (await post(http, VALID, key=uuid.uuid4().hex))[0] == 201
    assert (await post(http, VALID, key=uuid.uuid4().hex))[0] == 201
    status, data, headers = await post(http, VALID, key=uuid.uuid4().hex)
    assert status == 429 and "频繁" in data["error"] and int(headers["Retry-After"]) > 0
    assert len(rows(clean_db)) == 2


async def test_status_tells_the_bots_sentence_only_with_the_right_phone_and_limits_guessing(form_api, clean_db):
    http, _ = form_api
    _, filed, _ = await post(http, VALID, key=uuid.uuid4().hex)
    store = TicketStore(clean_db)
    store.change_status(filed["ticket_no"], "dispatched", actor="admin:li", note="已转西城区什刹海街道办理")
    status, data, _ = await post(http, {"ticket_no": filed["ticket_no"], "phone": "139 1111 2222"}, path="/api/status")
    assert status == 200
    ticket = store.get(filed["ticket_no"])
    assert data["text"] == status_message(ticket, store.events(filed["ticket_no"]))
    assert "已派发" in data["text"] and "已转西城区什刹海街道办理" not in data["text"]  # internal note: never shown
    for _ in range(5):  # someone guessing the phone of this ticket
        status, data, _ = await post(http, {"ticket_no": filed["ticket_no"], "phone": "13800000000"}, path="/api/status")
        assert status == 404 and "没有查到" in data["error"]
    status, data, _ = await post(http, {"ticket_no": filed["ticket_no"], "phone": "13911112222"}, path="/api/status")
    assert status == 429 and "频繁" in data["error"]
    status, data, _ = await post(http, {"ticket_no": "", "phone": ""}, path="/api/status")
    assert status == 422 and set(data["errors"]) == {"ticket_no", "phone"}


async def test_options_list_categories_and_every_districts_streets(form_api):
    http, _ = form_api
    async with http.get("/api/form/options") as resp:
        data = await resp.json()
    assert [t["label"] for t in data["request_types"]] == ["咨询", "求助", "投诉", "建议", "表扬"]
    assert "噪音扰民" in data["categories"] and len(data["districts"]) == 16
    chaoyang = next(d for d in data["districts"] if d["name"] == "朝阳区")
    assert "望京街道" in chaoyang["streets"]
