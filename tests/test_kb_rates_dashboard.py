"""The dashboard's knowledge-base one-time resolution rate counts honestly (issue #18): consultations solved
by the knowledge base / all consultations, clarifications and unanswered questions counted, one
consultation counted once even when it ends in a ticket, other tickets (complaints) not counted.

Every outcome is written through the store as the seat writes it (ground.store.knowledge: record_answer,
revise_answer, set_outcome; consultation tickets through TicketStore) and read back through
ground.store.kb_rates and the console's /dashboards page."""
from __future__ import annotations

from datetime import datetime

import pytest

from admin.app import create_app
from ground.settings import HOTLINE_TZ
from ground.store import TicketDraft, TicketStore, users
from ground.store import knowledge as repository
from ground.store.kb_rates import one_time_resolution
from tests.admin_support import PASSWORD, admin_config, login, start_client


def _ticket(store: TicketStore, conversation: str, request_type: str = "consultation") -> str:
    return store.create_ticket(TicketDraft(request_type=request_type, description="知识库没能解答的问题",
                                           conversation_id=conversation, request_key=f"k-{conversation}",
                                           district="朝阳区", phone="13911112222")).ticket_no


def _consultations(engine) -> None:
    store = TicketStore(engine)
    record = repository.record_answer
    # c1: answered, the citizen says solved
    repository.set_outcome(engine, record(engine, "c1", "gjj-1", "租房能取公积金吗", 0.9, "rest"), True)
    # c2: a clarification the citizen accepts ("对"), then solved: one record, solved
    c2 = record(engine, "c2", "jzz-1", "居住证咋弄", 0.5, "voice", kind="clarify")
    repository.revise_answer(engine, c2, "jzz-1", "answer")
    repository.set_outcome(engine, c2, True)
    # c3: a clarification left unanswered (the citizen hangs up): a consultation, not solved
    record(engine, "c3", "jzz-1", "那个证", 0.4, "rest", kind="clarify")
    # c4: no entry found, the citizen leaves without a ticket
    record(engine, "c4", None, "明天股票会涨吗", 0.0, "rest", kind="none")
    # c5: no entry found, a consultation ticket: one consultation (the ticket), not two
    record(engine, "c5", None, "养鸽子要办证吗", 0.0, "voice", kind="none")
    _ticket(store, "c5")
    # c6: answered, "没解决", a consultation ticket: one consultation
    repository.set_outcome(engine, record(engine, "c6", "gjj-1", "公积金怎么还没到账", 0.8, "rest"), False)
    _ticket(store, "c6")
    # c7: answered, "没解决", no ticket
    repository.set_outcome(engine, record(engine, "c7", "gjj-1", "公积金怎么提", 0.8, "rest"), False)
    # c8: a complaint, no knowledge base: not a consultation
    _ticket(store, "c8", request_type="complaint")
    # c9: answered, never confirmed
    record(engine, "c9", "jzz-1", "居住证怎么办", 0.9, "voice")


def test_the_rate_counts_every_consultation_once(clean_db):
    _consultations(clean_db)
    (month,) = one_time_resolution(clean_db, by="month")
    # solved: c1, c2; consultations: c1..c7 and c9 (c8 is a complaint)
    assert (month.resolved_by_kb, month.consultations) == (2, 8)
    assert month.rate == pytest.approx(0.25)
    assert month.period == datetime.now(HOTLINE_TZ).strftime("%Y-%m")


@pytest.fixture
async def console(tmp_path, clean_db, database_url):
    users.create_user(clean_db, "vi", PASSWORD, "viewer")
    client = await start_client(create_app(admin_config(tmp_path, database_url), engine=clean_db, run_tests=False,
                                           warm_up=False))
    yield client
    await client.close()


async def test_the_dashboard_shows_the_honest_rate(console, clean_db):
    _consultations(clean_db)
    await login(console, "vi")
    page = (await (await console.get("/dashboards")).text()).replace("\n", "")
    month = datetime.now(HOTLINE_TZ).strftime("%Y-%m")
    table = page.split("<h2>知识库一次解决率</h2>")[1].split("</table>")[0]
    assert f"<tr><td>{month}</td><td>2</td><td>8</td><td>25.0%</td></tr>" in table
