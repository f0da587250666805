"""Chat surveys through the real stack (Rasa + action server + PostgreSQL): a survey posted while the citizen
is away opens at the page's next "/greet"; one posted while connected is pushed live (to a recording stand-in
for the web service's POST /internal/push) and answered in the same conversation."""
from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
from aiohttp import web

from callbacks.chat import ChatConfig, ChatDelivery
from callbacks.worker import CallbackWorker
from ground.db import create_engine
from ground.store import TicketStore
from ground.tables.tickets import utcnow
from tests.callbacks_support import always_open_env, attempts_of, closed_ticket, policy_from, result_of


class RecordingPush:
    """Plays the web service's push endpoint: 202 for connected senders, 404 otherwise; records every push."""

    def __init__(self, connected: set[str]) -> None:
        self.connected, self.pushed = connected, []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.pushed.append(body)
        return web.json_response({}, status=202 if body["sender"] in self.connected else 404)


async def _post_survey(stack, engine, push: RecordingPush) -> str:
    app = web.Application()
    app.router.add_post("/internal/push", push.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            chat = ChatDelivery(ChatConfig(stack.api_url, stack.token, f"http://127.0.0.1:{port}/internal/push"), session)
            worker = CallbackWorker(engine, None, policy_from(always_open_env(utcnow())), chat=chat)
            await worker.schedule()
            return await worker.run_once()
    finally:
        await runner.cleanup()


def _texts(replies: list[dict]) -> str:
    return " ".join(r.get("text", "") for r in replies)


@pytest.fixture
def engine(stack):
    eng = create_engine(stack.database_url)
    yield eng
    eng.dispose()


def test_survey_waits_for_the_next_visit_then_opens_at_greet(stack, engine) -> None:
    sender = f"browser-{uuid.uuid4().hex[:8]}"
    no = closed_ticket(engine, utcnow(), channel="web", phone=None, conversation_id=sender)
    push = RecordingPush(connected=set())
    assert asyncio.run(_post_survey(stack, engine, push)) == "chat:waiting"
    assert push.pushed and push.pushed[0]["sender"] == sender  # tried, the citizen was away
    opened = _texts(stack.say(sender, "/greet", {"channel": "web"}))
    assert f"您反映的编号{no}关于垃圾清运的问题已办结" in opened and "可以吗" in opened
    assert "按1" not in opened  # key hints are for calls only
    assert "联系过您吗" in _texts(stack.say(sender, "可以的"))
    assert "解决了吗" in _texts(stack.say(sender, "联系过了，来过人"))
    assert "满意吗" in _texts(stack.say(sender, "解决了"))
    assert "评价我们已经记录" in _texts(stack.say(sender, "基本满意吧"))
    result = result_of(engine, no)
    assert (result.responded, result.resolved, result.satisfaction, result.channel) == (True, True, "basically_satisfied", "chat")
    assert result.completed_at is not None
    assert [(a.attempt, a.outcome) for a in attempts_of(engine, no)] == [(1, "answered")]
    # the next visit is an ordinary one
    assert "智能客服" in _texts(stack.say(sender, "/greet", {"channel": "web"}))


def test_connected_citizen_gets_the_survey_live_and_an_unsatisfied_answer_asks_for_reopening(stack, engine) -> None:
    sender = f"browser-{uuid.uuid4().hex[:8]}"
    no = closed_ticket(engine, utcnow(), channel="web", phone=None, conversation_id=sender, confidential=True)
    push = RecordingPush(connected={sender})
    assert asyncio.run(_post_survey(stack, engine, push)) == "chat:live"
    [delivered] = [p for p in push.pushed if p["sender"] == sender]
    intro = " ".join(m["text"] for m in delivered["messages"])
    assert no in intro and "垃圾" not in intro  # confidential: the number only
    assert "联系过您吗" in _texts(stack.say(sender, "可以"))
    assert "解决了吗" in _texts(stack.say(sender, "没有人联系我"))
    assert "满意吗" in _texts(stack.say(sender, "没解决"))
    assert "原因" in _texts(stack.say(sender, "不满意"))
    assert "重新办理" in _texts(stack.say(sender, "垃圾还堆在门口，根本没人来清"))
    result = result_of(engine, no)
    assert (result.responded, result.resolved, result.satisfaction) == (False, False, "unsatisfied")
    assert result.comment == "垃圾还堆在门口，根本没人来清"
    event = TicketStore(engine).events(no)[-1]
    assert event.actor == "survey" and "reopen requested" in event.note and "根本没人来清" in event.note


def test_busy_in_chat_reschedules(stack, engine) -> None:
    sender = f"browser-{uuid.uuid4().hex[:8]}"
    no = closed_ticket(engine, utcnow(), channel="web", phone=None, conversation_id=sender)
    asyncio.run(_post_survey(stack, engine, RecordingPush(connected={sender})))
    assert "稍后再联系您" in _texts(stack.say(sender, "现在没空，晚点再说"))
    tries = attempts_of(engine, no)
    assert [(a.attempt, a.outcome) for a in tries] == [(1, "busy"), (2, None)]
    assert result_of(engine, no) is None
