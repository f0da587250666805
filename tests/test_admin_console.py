"""The admin console over HTTP: editing flows through the forms, knowledge base, tickets, dashboards."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

from ground.store import audit

from ground.store import revisions

from ground.store import users
from admin.services.flowforms import story_blocks
from admin.app import create_app
from ground.roles import mask_text
from ground.store import knowledge as repository
from nlu.kb_index import KbIndex
from ground.store import TicketDraft, TicketStore
from ground.settings import REPO_ROOT
from tests.calendar_support import mid_month, month_of, previous_month
from tests.admin_support import PASSWORD, admin_config, login, start_client

PHONE, NAME = "13812345678", "张三丰"


@pytest.fixture
async def console(tmp_path, clean_db, database_url):
    for name, role in (("boss", "admin"), ("ed", "editor"), ("op", "operator"), ("vi", "viewer")):
        users.create_user(clean_db, name, PASSWORD, role)
    config = admin_config(tmp_path, database_url)
    client = await start_client(create_app(config, engine=clean_db, run_tests=False, warm_up=False))
    client.config = config
    yield client
    await client.close()


def _ticket(store: TicketStore, key: str, **extra) -> str:
    values = dict(request_type="complaint", description=f"楼下噪音，请回电{PHONE}，我是{NAME}", conversation_id=f"conv-{key}",
                  request_key=key, category="噪音扰民", district="朝阳区", street="望京街道", phone=PHONE,
                  contact_name=NAME, channel="voice")
    values.update(extra)
    return store.create_ticket(TicketDraft(**values)).ticket_no


def _tracker_events(engine, sender: str) -> None:
    """Rows as Rasa's SQLTrackerStore writes them (its own table, created by Rasa, not our migrations)."""
    meta = MetaData()
    events = Table("events", meta, Column("id", Integer, primary_key=True), Column("sender_id", String(255)),
                   Column("type_name", String(255)), Column("timestamp", Float), Column("intent_name", String(255)),
                   Column("action_name", String(255)), Column("data", Text))
    meta.create_all(engine)
    now = datetime.now(timezone.utc).timestamp()
    with engine.begin() as conn:
        conn.execute(events.delete())
        conn.execute(events.insert(), [
            {"sender_id": sender, "type_name": "user", "timestamp": now, "data": json.dumps({"text": f"我要投诉噪音，电话{PHONE}"})},
            {"sender_id": sender, "type_name": "action", "timestamp": now + 1, "data": json.dumps({"name": "x"})},
            {"sender_id": sender, "type_name": "bot", "timestamp": now + 2, "data": json.dumps({"text": "好的，已为您登记。"})},
        ])


async def test_editor_changes_a_response_through_the_form(console, clean_db) -> None:
    token = await login(console, "ed")
    page = await (await console.get("/flows/responses/utter_thank")).text()
    assert "不客气，感谢您对我们工作的支持。" in page
    resp = await console.post("/flows/responses/utter_thank",
                              data=[("_csrf", token), ("text[]", "不客气，有事随时打12345。"), ("text[]", "不用谢。"),
                                    ("text[]", "")], allow_redirects=False)
    assert resp.status == 302
    domain = (console.config.flows_dir / "domain.yml").read_text()
    assert "    - text: 不客气，有事随时打12345。\n    - text: 不用谢。\n" in domain
    assert "不客气，有事随时打12345" not in (REPO_ROOT / "domain.yml").read_text()
    page = await (await console.get("/flows/responses/utter_thank")).text()
    assert "已保存并通过校验" in page
    [rev] = revisions.list_revisions(clean_db)
    assert rev.author == "ed" and "+    - text: 不用谢。" in rev.diff
    assert (await console.get(f"/flows/revisions/{rev.id}")).status == 200
    assert [e.action for e in audit.recent(clean_db)][:1] == ["flows.save"]


async def test_a_broken_raw_edit_is_refused_and_nothing_lost(console, clean_db) -> None:
    token = await login(console, "ed")
    before = (console.config.flows_dir / "data" / "stories.yml").read_text()
    broken = before + "  - story: 坏的\n    steps:\n      - intent: greet\n      - action: utter_not_in_domain\n"
    resp = await console.post("/flows/raw", data={"_csrf": token, "file": "data/stories.yml", "content": broken})
    assert resp.status == 422
    text = await resp.text()
    assert "校验没有通过" in text and "utter_not_in_domain" in text
    assert (console.config.flows_dir / "data" / "stories.yml").read_text() == before
    assert revisions.list_revisions(clean_db) == []


async def test_new_intent_with_examples(console) -> None:
    token = await login(console, "ed")
    resp = await console.post("/flows/nlu/intent", data={
        "_csrf": token, "name": "ask_weather", "file": "nlu/data/nlu.yml", "examples": "明天天气怎么样\n今天下雨吗\n"},
        allow_redirects=False)
    assert resp.status == 302
    assert "ask_weather" in (console.config.flows_dir / "domain.yml").read_text()
    page = await (await console.get("/flows/nlu/intent/ask_weather?file=nlu/data/nlu.yml")).text()
    assert "今天下雨吗" in page


async def test_kb_edit_takes_effect_without_training(console, clean_db) -> None:
    token = await login(console, "ed")
    resp = await console.post("/kb", data={
        "_csrf": token, "key": "test.heating", "topic": "供暖", "question": "暖气不热找谁",
        "paraphrases": "暖气温度低怎么办\n家里暖气不热", "answer": "请先联系供热单位的客服电话报修。", "status": "active"},
        allow_redirects=False)
    assert resp.status == 302
    entry = next(e for e in repository.fetch_entries(clean_db) if e.key == "test.heating")
    assert KbIndex([entry]).decide("家里暖气不热").action == "answer"
    resp = await console.post("/kb/test.heating/retire", data={"_csrf": token}, allow_redirects=False)
    assert resp.status == 302
    entry = next(e for e in repository.fetch_entries(clean_db) if e.key == "test.heating")
    assert entry.status == "retired" and KbIndex([entry]).decide("家里暖气不热").action == "none"
    page = await (await console.get("/kb?q=暖气不热")).text()
    assert "test.heating" in page


async def test_viewer_sees_masked_personal_data(console, clean_db) -> None:
    number = _ticket(TicketStore(clean_db), "k1")
    _tracker_events(clean_db, "conv-k1")
    await login(console, "vi")
    listing = await (await console.get("/tickets")).text()
    assert "138****5678" in listing and PHONE not in listing and "张**" in listing and NAME not in listing
    detail = await (await console.get(f"/tickets/{number}")).text()
    assert PHONE not in detail and NAME not in detail
    assert "我要投诉噪音，电话138****5678" in detail and "好的，已为您登记。" in detail
    assert 'action="/tickets/' not in detail  # no change form for a viewer


async def test_operator_sees_personal_data_and_closes(console, clean_db) -> None:
    number = _ticket(TicketStore(clean_db), "k2")
    _ticket(TicketStore(clean_db), "k3", district="海淀区", channel="rest")
    token = await login(console, "op")
    listing = await (await console.get("/tickets?district=朝阳区")).text()
    assert PHONE in listing and number in listing and "海淀区" not in listing.split("<table")[-1]
    assert number in await (await console.get(f"/tickets?q={number}")).text()
    resp = await console.post(f"/tickets/{number}", data={"_csrf": token, "status": "dispatched",
                                                           "assigned_unit": "朝阳区望京街道办事处"},
                              allow_redirects=False)
    assert resp.status == 302
    resp = await console.post(f"/tickets/{number}", data={"_csrf": token, "status": "closed", "note": "已处理"},
                              allow_redirects=False)
    assert resp.status == 302
    ticket = TicketStore(clean_db).get(number)
    assert ticket.status == "closed" and ticket.closed_at is not None and ticket.assigned_unit == "朝阳区望京街道办事处"
    assert [e.to_status for e in TicketStore(clean_db).events(number)] == ["new", "dispatched", "closed"]
    assert TicketStore(clean_db).events(number)[-1].actor == "op"


async def test_a_reassignment_from_the_console_leaves_an_event(console, clean_db) -> None:
    store = TicketStore(clean_db)
    number = _ticket(store, "k4", assigned_unit="朝阳区望京街道办事处")
    token = await login(console, "op")
    resp = await console.post(f"/tickets/{number}", data={"_csrf": token, "status": "new",
                                                           "assigned_unit": "朝阳区城管执法局", "note": "属城管"},
                              allow_redirects=False)
    assert resp.status == 302
    assert store.get(number).assigned_unit == "朝阳区城管执法局" and store.get(number).status == "new"
    last = store.events(number)[-1]
    assert (last.actor, last.from_status, last.to_status, last.assigned_unit) == ("op", "new", "new", "朝阳区城管执法局")
    assert "朝阳区望京街道办事处" in last.note and "朝阳区城管执法局" in last.note and "属城管" in last.note
    page = await (await console.get(f"/tickets/{number}")).text()
    assert last.note in page


async def test_dashboards_show_volumes_and_rising(console, clean_db, calendar_now) -> None:
    # one ticket in the middle of last month, four now: month on month by calendar month in Beijing time
    this_month = month_of(calendar_now)
    last_month = previous_month(this_month)
    _ticket(TicketStore(clean_db, clock=lambda: mid_month(last_month)), "old1", category="供暖")
    store_now = TicketStore(clean_db)
    for i in range(4):
        _ticket(store_now, f"new{i}", category="供暖")
    await login(console, "vi")
    page = await (await console.get("/dashboards")).text()
    assert page.count("<svg") >= 4
    assert last_month in page and this_month in page
    assert "<td>供暖</td><td>4</td><td>1</td>" in page.replace("\n", "")
    assert "+300%" in page


def test_mask_text() -> None:
    assert mask_text(f"电话{PHONE}，座机010-62345678，我是{NAME}", (NAME,)) == "电话138****5678，座机010****5678，我是张**"


async def test_dashboards_show_the_three_rates_per_unit(console, clean_db, calendar_now) -> None:
    from ground.tables.callbacks import survey_results

    store = TicketStore(clean_db)
    now = datetime.now(timezone.utc)
    rows = [(True, True, "satisfied"), (True, False, "basically_satisfied"), (False, False, "unsatisfied"),
            (True, True, "satisfied")]
    for i, (responded, resolved, satisfaction) in enumerate(rows):
        number = _ticket(store, f"r{i}", assigned_unit="朝阳区望京街道办事处")
        ticket_id = store.get(number).id
        # its own transaction after the ticket's: SQLite has one writer, a transaction held open here would
        # lock out the store's next ticket
        with clean_db.begin() as conn:
            conn.execute(survey_results.insert().values(ticket_id=ticket_id, responded=responded, resolved=resolved,
                                                        satisfaction=satisfaction, channel="voice",
                                                        updated_at=now, completed_at=now))
    await login(console, "vi")
    page = await (await console.get("/dashboards")).text()
    assert "unit-rates-placeholder" not in page
    row = page.split('<table class="unit-rates">')[1].split("</table>")[0].replace("\n", "")
    # 3 of 4 contacted, 2 of 4 solved, (2 + 0.8 × 1) / 4 satisfied
    assert "朝阳区望京街道办事处" in row and "<td>4</td>" in row
    assert "75.0%" in row and "50.0%" in row and "70.0%" in row


async def test_every_page_renders_for_an_admin(console, clean_db) -> None:
    from ground.store.knowledge import load_kb

    load_kb(clean_db)
    number = _ticket(TicketStore(clean_db), "page")
    key = repository.fetch_entries(clean_db)[0].key
    await login(console, "boss")
    rules = story_blocks((console.config.flows_dir / "data" / "rules.yml").read_text(), "rules")
    pages = ["/", "/flows", "/flows/responses", "/flows/responses?q=再见", "/flows/responses/utter_greet",
             "/flows/nlu/intent", "/flows/nlu/intent/greet", "/flows/nlu/synonym", "/flows/nlu/lookup",
             "/flows/stories/rules", f"/flows/stories/rules/edit?name={rules[0].name}", "/flows/stories/stories",
             "/flows/stories/stories/edit", "/flows/forms", "/flows/forms/ticket_form", "/flows/raw",
             "/flows/raw?file=nlu/data/nlu.yml", "/flows/revisions", "/models", "/kb", "/kb/new", f"/kb/{key}",
             "/kb?topic=社保&status=active", "/tickets", f"/tickets/{number}", "/tickets?status=new&page=2",
             "/dashboards", "/dashboards?month=2026-01&months=12", "/users", "/audit"]
    for path in pages:
        resp = await console.get(path, allow_redirects=False)
        assert resp.status == 200, (path, resp.status, (await resp.text())[-500:])
    assert (await console.get("/flows/raw?file=../../etc/passwd")).status == 404
    assert (await console.get("/flows/nlu/nonsense")).status == 404
