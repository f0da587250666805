"""The console's knowledge-base pages: source, owner unit and review date shown, entries past review
flagged and filtered, and the knowledge gaps (consultations ending in a ticket or "没解决") grouped by
similar question with one click to a new entry prefilled from them."""
from __future__ import annotations

import html
import re
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from ground.store import users
from admin.app import create_app
from ground.store import knowledge as repository
from ground.store.knowledge import Entry
from ground.store import TicketDraft, TicketStore
from tests.admin_support import PASSWORD, admin_config, login, start_client

PHONE = "13812345678"
TODAY = date.today()
ENTRIES = [
    Entry("gjj-1", "公积金", "租房可以提取公积金吗", ("租房怎么取公积金",), "可以按月提取。", department="muni.housing",
          source="《住房公积金管理条例》", review_by=TODAY + timedelta(days=200)),
    Entry("hk-1", "户籍", "户口本丢了怎么补办", ("户口簿丢失",), "到派出所补领。", department="muni.police",
          source="《中华人民共和国户口登记条例》", review_by=TODAY - timedelta(days=3)),
    Entry("old-1", "养老", "高龄津贴怎么领", ("高龄补贴",), "满八十周岁的老人可以申请。", department="muni.civil"),
]


@pytest.fixture
async def console(tmp_path, clean_db, database_url):
    users.create_user(clean_db, "ed", PASSWORD, "editor")
    client = await start_client(create_app(admin_config(tmp_path, database_url), engine=clean_db, run_tests=False,
                                           warm_up=False))
    repository.upsert_entries(clean_db, ENTRIES)
    yield client
    await client.close()


def _rows(page: str) -> list[str]:
    return re.findall(r"<tr[^>]*>(.*?)</tr>", page, flags=re.S)


async def test_kb_list_shows_source_owner_and_flags_entries_past_review(console) -> None:
    await login(console, "ed")
    page = await (await console.get("/kb")).text()
    row = next(r for r in _rows(page) if "hk-1" in r)
    assert "《中华人民共和国户口登记条例》" in row and "muni.police" in row and "待复核" in row
    assert "待复核" not in next(r for r in _rows(page) if "gjj-1" in r)
    assert "1 条已过复核日期" in page
    due = await (await console.get("/kb?review=due")).text()
    assert "hk-1" in due and "gjj-1" not in due and "old-1" not in due
    missing = await (await console.get("/kb?review=none")).text()
    assert "old-1" in missing and "gjj-1" not in missing
    edit = await (await console.get("/kb/hk-1")).text()
    assert "已过复核日期" in edit and 'name="source"' in edit and 'name="review_by"' in edit


async def test_editor_sets_source_and_review_date(console, clean_db) -> None:
    token = await login(console, "ed")
    resp = await console.post("/kb/hk-1", data={
        "_csrf": token, "topic": "户籍", "question": "户口本丢了怎么补办", "paraphrases": "户口簿丢失",
        "answer": "到户籍所在地派出所补领。", "department": "muni.police", "source": "《户口登记条例》",
        "review_by": (TODAY + timedelta(days=365)).isoformat(), "status": "active"}, allow_redirects=False)
    assert resp.status == 302
    entry = next(e for e in repository.fetch_entries(clean_db) if e.key == "hk-1")
    assert entry.source == "《户口登记条例》" and not entry.review_due(TODAY)
    resp = await console.post("/kb/hk-1", data={
        "_csrf": token, "topic": "户籍", "question": "户口本丢了怎么补办", "answer": "x", "review_by": "明年",
        "status": "active"})
    assert "日期格式不对" in await resp.text()
    assert next(e for e in repository.fetch_entries(clean_db) if e.key == "hk-1").answer == "到户籍所在地派出所补领。"


async def test_knowledge_gaps_grouped_with_a_prefilled_new_entry(console, clean_db) -> None:
    store = TicketStore(clean_db)
    # three consultations about dog licences end in tickets (no entry), one in "没解决" after an answer,
    # one solved: only the unsolved ones are gaps
    for i, text in enumerate(("养狗要办什么证", "养狗需要办证吗", "养的狗要去哪办证")):
        repository.record_answer(clean_db, f"dog-{i}", None, text, 0.0, "rest", kind="none")
        store.create_ticket(TicketDraft(request_type="consultation", description=text, conversation_id=f"dog-{i}",
                                        request_key=f"dog-{i}", district="朝阳区", phone=PHONE))
    a = repository.record_answer(clean_db, "gjj-x", "gjj-1", f"租房提公积金为什么不到账，我电话{PHONE}", 0.9, "voice")
    repository.set_outcome(clean_db, a, False)
    store.create_ticket(TicketDraft(request_type="consultation", conversation_id="gjj-x", request_key="gjj-x",
                                    description=f"租房提公积金为什么不到账，我电话{PHONE}（已答复：可以按月提取。）",
                                    district="海淀区", phone=PHONE))
    ok = repository.record_answer(clean_db, "hk-ok", "hk-1", "户口本丢了", 0.9, "rest")
    repository.set_outcome(clean_db, ok, True)
    store.create_ticket(TicketDraft(request_type="complaint", description="楼下太吵", conversation_id="noise",
                                    request_key="noise", district="朝阳区", phone=PHONE))
    await login(console, "ed")
    page = await (await console.get("/kb/gaps")).text()
    rows = [r for r in _rows(page) if 'class="gap"' in r or "据此新增条目" in r]
    assert len(rows) == 2, page
    dog, gjj = rows
    assert "养狗" in dog and re.search(r"<td>3</td>", dog)
    assert "gjj-1" in gjj and re.search(r"<td>1</td>", gjj)  # the unsolved answer and its ticket: one question
    assert PHONE not in page and "138****5678" in page
    assert "户口本丢了" not in page and "楼下太吵" not in page
    link = html.unescape(re.search(r'href="(/kb/new\?[^"]+)"', dog).group(1))
    prefill = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    assert "养狗" in prefill["question"] and prefill["paraphrases"].count("\n") == 1
    form = await (await console.get(link)).text()
    assert f'value="{html.escape(prefill["question"])}"' in form or prefill["question"] in form
    assert "养狗需要办证吗" in form or "养的狗要去哪办证" in form
