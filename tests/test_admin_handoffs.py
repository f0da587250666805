"""The operator workspace's handlers (issue 16) against a recording fake of Rasa's HTTP API and the page's push:
claiming (one winner), taking over (pause + joined sentence), live chat both ways, the ticket form with the
self-service form's rules, resolving, leaving (button or gone workspace), the phone pop, the live stream, roles."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest

from admin.app import create_app
from admin.services.conversation_control import JOINED, RESOLVED
from admin.views.handoffs import reap_gone_operators
from ground.store import TicketStore, users
from ground.store import handoffs as store
from tests.admin_support import PASSWORD, admin_config, login, start_client
from ground.settings import Settings
from tests.handoff_console_support import PUSH_SECRET, RASA_TOKEN, FakeRasaAndPage
from tests.wechat_support import APP_ID, fake_wechat_api

PHONE = "13812345678"
COLLECTED = {"request_type": "complaint", "category": "房屋物业", "district": "朝阳区", "street": "望京街道",
             "description": "小区物业乱收停车费，每月多收两百元", "phone": PHONE, "contact_name": "王小明"}


@pytest.fixture
async def fake():
    rasa = FakeRasaAndPage()
    rasa.url = await rasa.start()
    yield rasa
    await rasa.close()


@pytest.fixture
async def console_app(tmp_path, clean_db, database_url, fake):
    for name, role in (("op1", "operator"), ("op2", "operator"), ("boss", "admin"), ("vi", "viewer"),
                       ("ed", "editor")):
        users.create_user(clean_db, name, PASSWORD, role)
    config = admin_config(tmp_path, database_url, rasa_urls=(fake.url,), rasa_token=RASA_TOKEN,
                          push_url=fake.url + "/internal/push", push_token=PUSH_SECRET, workspace_poll_s=0.2,
                          operator_gone_s=60.0)
    app = create_app(config, engine=clean_db, run_tests=False, warm_up=False)
    clients = []

    async def client(username: str):
        c = await start_client(app) if not clients else await _second(clients[0], app)
        c.csrf = await login(c, username)
        clients.append(c)
        return c

    yield client
    for c in clients:
        await c.close()


async def _second(first, app):
    """Another browser (own cookies) on the same running console."""
    from aiohttp.test_utils import TestClient
    c = TestClient(first.server)
    await c.start_server()
    return c


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _open(engine, cid: str = "web-citizen-1", channel: str = "web", **kw) -> store.Handoff:
    return store.open_handoff(engine, cid, "citizen asked for a human agent", COLLECTED, channel, now=_now(), **kw)


async def _post(client, path: str, body: dict | None = None):
    return await client.post(path, json=body or {}, headers={"X-CSRF-Token": client.csrf})


async def test_claim_pauses_the_bot_tells_the_citizen_and_a_second_operator_loses(console_app, clean_db, fake):
    handoff = _open(clean_db)
    fake.connected.add(handoff.conversation_id)
    fake.bot_says(handoff.conversation_id, "正在为您转接人工客服，前面还有0位")
    op1, op2 = await console_app("op1"), await console_app("op2")
    resp = await _post(op1, f"/api/handoffs/{handoff.id}/claim")
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    assert data["status"] == "claimed" and data["claimed_by"] == "op1"
    assert data["collected"]["phone"] == PHONE and data["prefill"]["district"] == "朝阳区"
    assert [t["speaker"] for t in data["turns"]] == ["bot", "bot"]
    assert fake.kinds(handoff.conversation_id) == ["pause", "bot"]
    assert fake.conversations[handoff.conversation_id].paused
    assert fake.pushed_texts(handoff.conversation_id) == [JOINED]
    lost = await _post(op2, f"/api/handoffs/{handoff.id}/claim")
    assert lost.status == 409 and "op1" in (await lost.json())["error"]
    assert store.get(clean_db, handoff.id).claimed_by == "op1"


async def test_two_operators_clicking_at_once_exactly_one_wins(console_app, clean_db, fake):
    handoff = _open(clean_db, "web-race")
    op1, op2 = await console_app("op1"), await console_app("op2")
    for _ in range(3):
        r1, r2 = await asyncio.gather(_post(op1, f"/api/handoffs/{handoff.id}/claim"),
                                      _post(op2, f"/api/handoffs/{handoff.id}/claim"))
        assert sorted([r1.status, r2.status]) == [200, 409]
        winner = "op1" if r1.status == 200 else "op2"
        assert store.get(clean_db, handoff.id).claimed_by == winner
        assert fake.kinds(handoff.conversation_id).count("pause") == 1  # the loser never touched the chat
        released = await _post(op1 if winner == "op1" else op2, f"/api/handoffs/{handoff.id}/release")
        assert released.status == 200
        fake.appended.clear()


async def test_live_chat_both_ways_and_a_ticket_written_by_the_operator(console_app, clean_db, fake):
    cid = "web-chat-1"
    handoff = _open(clean_db, cid)
    fake.connected.add(cid)
    op1 = await console_app("op1")
    assert (await _post(op1, f"/api/handoffs/{handoff.id}/claim")).status == 200
    sent = await _post(op1, f"/api/handoffs/{handoff.id}/message", {"text": "您好，请问停车费是每月多少？"})
    assert sent.status == 201 and (await sent.json())["delivered"] is True
    last = fake.appended[-1][1][-1]
    assert last["event"] == "bot" and last["metadata"] == {"operator": "op1"}
    fake.citizen_says(cid, "每月三百，以前是一百")
    detail = await (await op1.get(f"/api/handoffs/{handoff.id}")).json()
    assert [(t["speaker"], t["text"]) for t in detail["turns"]][-2:] == [
        ("operator", "您好，请问停车费是每月多少？"), ("citizen", "每月三百，以前是一百")]
    # the self-service form's rules: a bad phone and a missing street are refused, nothing is written
    form = {"request_type": "complaint", "category": "", "description": "小区物业乱收停车费，每月三百，以前是一百",
            "district": "朝阳区", "street": "", "phone": "123", "contact_name": "王小明"}
    bad = await _post(op1, f"/api/handoffs/{handoff.id}/ticket", form)
    assert bad.status == 422
    errors = (await bad.json())["errors"]
    assert set(errors) == {"street", "phone"}
    assert store.get(clean_db, handoff.id).status == "claimed"
    form.update(street="望京街道", phone=PHONE)
    done = await _post(op1, f"/api/handoffs/{handoff.id}/ticket", form)
    assert done.status == 201, await done.text()
    result = await done.json()
    ticket_store = TicketStore(clean_db)
    ticket = ticket_store.get(result["ticket_no"])
    assert ticket.channel == "web" and ticket.conversation_id == cid and ticket.phone == PHONE
    assert [e.actor for e in ticket_store.events(ticket.ticket_no)] == ["op1"]
    closed = store.get(clean_db, handoff.id)
    assert (closed.status, closed.outcome, closed.ticket_no) == ("closed", "ticket", ticket.ticket_no)
    assert fake.kinds(cid)[-2:] == ["slot", "resume"] and "bot" in fake.kinds(cid)[-30:]
    slots = fake.conversations[cid].slots
    assert not fake.conversations[cid].paused and slots["handoff_id"] is None and slots["phone"] is None
    assert ticket.ticket_no in fake.pushed_texts(cid)[-1]
    again = await _post(op1, f"/api/handoffs/{handoff.id}/ticket", form)  # closed: no second ticket
    assert again.status == 409


async def test_a_wechat_chat_taken_over_gets_the_operators_words_as_customer_service_messages(
        tmp_path, clean_db, database_url, fake):
    """A citizen on WeChat has no page to push to: the joined sentence, the operator's messages and the closing
    sentence go out as WeChat customer-service messages (against a local stand-in of WeChat's API)."""
    openid = "oWeChatCitizen0001"
    users.create_user(clean_db, "op1", PASSWORD, "operator")
    async with fake_wechat_api() as wechat:
        settings = Settings.from_env({"DATABASE_URL": database_url, "WECHAT_APP_ID": APP_ID,
                                      "WECHAT_APP_SECRET": "secret", "WECHAT_API_BASE_URL": wechat.base_url})
        config = admin_config(tmp_path, database_url, settings=settings, rasa_urls=(fake.url,),
                              rasa_token=RASA_TOKEN, push_url=fake.url + "/internal/push", push_token=PUSH_SECRET,
                              operator_gone_s=60.0)
        app = create_app(config, engine=clean_db, run_tests=False, warm_up=False)
        op1 = await start_client(app)
        try:
            op1.csrf = await login(op1, "op1")
            handoff = _open(clean_db, openid, channel="wechat")
            assert (await _post(op1, f"/api/handoffs/{handoff.id}/claim")).status == 200
            sent = await _post(op1, f"/api/handoffs/{handoff.id}/message", {"text": "您好，我是人工客服小李"})
            assert sent.status == 201 and (await sent.json())["delivered"] is True
            assert (await _post(op1, f"/api/handoffs/{handoff.id}/resolve", {})).status == 200
        finally:
            await op1.close()
        said = [(m["touser"], m["msgtype"], m["text"]["content"]) for m in wechat.sent]
        assert said == [(openid, "text", JOINED), (openid, "text", "您好，我是人工客服小李"),
                        (openid, "text", RESOLVED)]
        assert fake.pushed_texts(openid) == []  # nothing went to the citizen page
        assert fake.kinds(openid)[-2:] == ["slot", "resume"]  # and the bot is back


async def test_a_wechat_chat_without_credentials_keeps_the_words_in_the_transcript(console_app, clean_db, fake):
    """No WECHAT_APP_ID/SECRET: the message is kept in the tracker and reported as not delivered, not lost."""
    handoff = _open(clean_db, "oWeChatCitizen0002", channel="wechat")
    op1 = await console_app("op1")
    assert (await _post(op1, f"/api/handoffs/{handoff.id}/claim")).status == 200
    sent = await _post(op1, f"/api/handoffs/{handoff.id}/message", {"text": "请问您还在吗？"})
    assert sent.status == 201 and (await sent.json())["delivered"] is False
    assert fake.appended[-1][1][-1]["text"] == "请问您还在吗？"


async def test_resolve_without_a_ticket_resumes_the_bot(console_app, clean_db, fake):
    handoff = _open(clean_db, "web-resolve")
    op1 = await console_app("op1")
    await _post(op1, f"/api/handoffs/{handoff.id}/claim")
    resp = await _post(op1, f"/api/handoffs/{handoff.id}/resolve", {"note": "已解答停车收费政策"})
    assert resp.status == 200
    closed = store.get(clean_db, handoff.id)
    assert (closed.status, closed.outcome, closed.note) == ("closed", "resolved", "已解答停车收费政策")
    assert fake.kinds(handoff.conversation_id)[-2:] == ["slot", "resume"]
    assert fake.pushed_texts(handoff.conversation_id)[-1] == RESOLVED


async def test_operator_leaving_puts_the_chat_back_in_the_queue(console_app, clean_db, fake):
    first = _open(clean_db, "web-first")
    handoff = _open(clean_db, "web-leave")
    op1, op2 = await console_app("op1"), await console_app("op2")
    await _post(op1, f"/api/handoffs/{handoff.id}/claim")
    not_mine = await _post(op2, f"/api/handoffs/{handoff.id}/release")
    assert not_mine.status == 409
    resp = await _post(op1, f"/api/handoffs/{handoff.id}/release")
    assert resp.status == 200 and (await resp.json())["status"] == "waiting"
    again = store.get(clean_db, handoff.id)
    assert again.status == "waiting" and again.claimed_by is None
    assert fake.kinds(handoff.conversation_id)[-2:] == ["bot", "resume"]  # handoff slot kept: still waiting
    assert "handoff_id" not in fake.conversations[handoff.conversation_id].slots
    said = [e["text"] for _, evs in fake.appended for e in evs if e["event"] == "bot"][-1]
    assert "重新进入排队" in said and "前面还有1位" in said  # `first` waits before it
    assert store.get(clean_db, first.id).status == "waiting"


async def test_a_gone_workspace_releases_its_chats(console_app, clean_db, fake):
    handoff = _open(clean_db, "web-gone")
    op1 = await console_app("op1")
    await _post(op1, f"/api/handoffs/{handoff.id}/claim")
    app = op1.server.app
    assert await reap_gone_operators(app) == 0  # just seen (the claim marks the operator present)
    store.operator_seen(clean_db, "op1", _now() - timedelta(minutes=5))
    assert await reap_gone_operators(app) == 1
    assert store.get(clean_db, handoff.id).status == "waiting"
    assert fake.kinds(handoff.conversation_id)[-1] == "resume"
    old = store.open_handoff(clean_db, "web-long-gone", "citizen asked for a human agent", {}, "web",
                             now=_now() - timedelta(hours=2))
    await reap_gone_operators(app)  # a wait older than HANDOFF_ABANDON_MINUTES: the citizen is gone
    assert (store.get(clean_db, old.id).status, store.get(clean_db, handoff.id).status) == ("abandoned", "waiting")


async def test_rasa_down_on_claim_keeps_the_handoff_waiting(console_app, clean_db, fake):
    handoff = _open(clean_db, "web-down")
    fake.fail_appends = True
    op1 = await console_app("op1")
    resp = await _post(op1, f"/api/handoffs/{handoff.id}/claim")
    assert resp.status == 502 and "放回队列" in (await resp.json())["error"]
    assert store.get(clean_db, handoff.id).status == "waiting"


async def test_phone_handoff_pops_by_call_id_and_is_taken_without_touching_a_chat(console_app, clean_db, fake):
    handoff = _open(clean_db, "call-7f3a", channel="voice", call_id="7f3a-uuid")
    op1 = await console_app("op1")
    for key in (str(handoff.id), f"HO{handoff.id}", "7f3a-uuid"):  # the HANDOFF_ID the dialplan set, or the call id
        pop = await op1.get(f"/api/handoffs/call/{key}")
        assert pop.status == 200
        data = await pop.json()
        assert data["id"] == handoff.id and data["phone_call"] and data["collected"]["district"] == "朝阳区"
    assert (await op1.get("/api/handoffs/call/nope")).status == 404
    taken = await _post(op1, f"/api/handoffs/{handoff.id}/claim")
    assert taken.status == 200
    assert fake.appended == [] and fake.pushed == []
    page = await (await op1.get("/handoffs")).text()
    assert "接听" in page or "查找来电" in page


async def test_stream_shows_new_arrivals_and_the_citizens_messages(console_app, clean_db, fake):
    op1 = await console_app("op1")
    resp = await op1.get("/api/handoffs/stream")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")

    async def next_event(kind: str) -> dict:
        event = None
        while True:
            line = (await asyncio.wait_for(resp.content.readline(), 10)).decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == kind:
                return json.loads(line.split(":", 1)[1])

    assert (await next_event("queue"))["items"] == []
    handoff = _open(clean_db, "web-arrives")
    items = (await next_event("queue"))["items"]
    assert [i["id"] for i in items] == [handoff.id] and items[0]["reason_label"] == "市民要求转人工"
    assert store.operators_online(clean_db, _now()) == 1  # each tick marks the operator present
    other = await console_app("op2")
    await _post(other, f"/api/handoffs/{handoff.id}/release")  # not theirs: refused, nothing changes
    await _post(op1, f"/api/handoffs/{handoff.id}/claim")
    assert (await next_event("queue"))["items"][0]["status"] == "claimed"
    fake.citizen_says(handoff.conversation_id, "我还在，请快点")
    for _ in range(5):
        turns = (await next_event("turns"))["turns"]
        if turns and turns[-1]["text"] == "我还在，请快点":
            break
    assert turns[-1]["speaker"] == "citizen"
    resp.close()


async def test_only_operators_and_admins_reach_the_workspace(console_app, clean_db, fake):
    handoff = _open(clean_db, "web-roles")
    for name, status in (("vi", 403), ("ed", 403), ("boss", 200), ("op1", 200)):
        c = await console_app(name)
        assert (await c.get("/handoffs")).status == status, name
        assert (await c.get(f"/api/handoffs/{handoff.id}")).status == status, name
    no_csrf = await c.post(f"/api/handoffs/{handoff.id}/claim", json={})
    assert no_csrf.status == 403 and store.get(clean_db, handoff.id).status == "waiting"


async def test_dashboard_shows_containment_handoff_rate_reasons_and_waits(console_app, clean_db):
    import time_machine

    from ground.settings import HOTLINE_TZ
    from ground.store import TicketDraft

    noon = datetime(2026, 11, 15, 12, 0, tzinfo=HOTLINE_TZ).astimezone(timezone.utc)
    tickets = TicketStore(clean_db)
    with time_machine.travel(noon, tick=False):
        for cid, channel in (("web-a", "web"), ("web-b", "web"), ("call-a", "voice"), ("call-b", "voice"),
                             ("call-c", "voice")):  # finished by the bot alone
            tickets.create_ticket(TicketDraft(request_type="complaint", description="楼下工地半夜施工很吵",
                                              conversation_id=cid, request_key="k", channel=channel))
    waited = store.open_handoff(clean_db, "web-c", "citizen asked for a human agent", {}, "web", now=noon)
    store.claim(clean_db, waited.id, "op1", noon + timedelta(seconds=60))
    gone = store.open_handoff(clean_db, "web-d", "two failed understandings in a row", {}, "web", now=noon)
    assert store.mark_abandoned(clean_db, timedelta(minutes=10), noon + timedelta(minutes=30)) == 1
    assert store.get(clean_db, gone.id).status == "abandoned"
    call = store.open_handoff(clean_db, "call-d", "citizen asked for a human agent", {}, "voice", now=noon)
    store.claim(clean_db, call.id, "op2", noon + timedelta(seconds=180))
    boss = await console_app("boss")
    page = await (await boss.get("/dashboards?month=2026-11&months=2")).text()
    table = page.split('id="handoff-figures"')[1].split("</table>")[0]
    rows = [r for r in table.split("<tr") if "2026-11-15" in r]
    cells = [[c.split(">", 1)[1].split("<")[0].strip() for c in r.split("<td")[1:]] for r in rows]
    by_channel = {c[1]: c for c in cells}
    # all: 8 conversations, 3 handed off; web: 4 and 2; phone: 4 and 1
    assert by_channel["合计"][2:6] == ["8", "3", "62.5%", "37.5%"]
    assert by_channel["网页"][2:6] == ["4", "2", "50.0%", "50.0%"]
    assert by_channel["电话"][2:6] == ["4", "1", "75.0%", "25.0%"]
    assert "市民要求转人工 2" in rows[0] and "连续两次没有听懂 1" in rows[0]
    assert by_channel["合计"][7:10] == ["120 秒", "168 秒", "1"]  # waits 60 s and 180 s; one abandoned
    assert by_channel["网页"][9] == "1" and by_channel["电话"][9] == "0"
