"""Asking for a person at every step, and waiting for one, through the REST channel of the running seat (real
trained model, action server, PostgreSQL) — issue 16."""
from __future__ import annotations

import uuid

import pytest

from ground.db import create_engine
from ground.store import handoffs

WAITING = "正在为您转接人工客服"
LOOP = "好的。还有其他需要帮您的吗？"
START = "我要投诉，我家旁边的工地每天晚上十一点以后还在施工，吵得根本睡不着"
# (the question the bot asks, the answer that moves on), in the order the intake form asks them
PATH = [
    ("哪个区", "朝阳区望京街道望京西园三区"),
    ("联系电话", "13911112222"),
    ("怎么称呼", "王先生"),
    ("保密", "不需要保密"),
    ("是否正确", None),  # the read-back: the last state
]


def open_handoff(stack, sender: str):
    engine = create_engine(stack.database_url)
    try:
        return handoffs.open_for(engine, sender)
    finally:
        engine.dispose()


def reply(stack, sender: str, text: str) -> str:
    return " ".join(r.get("text", "") for r in stack.say(sender, text))


def test_the_issue_category_question_then_waiting_then_cancel(stack):
    sender = f"test-{uuid.uuid4().hex[:10]}"
    first = reply(stack, sender, "我要投诉，小区物业乱收停车费")
    assert "属于哪一类" in first or "哪个区" in first, first
    said = reply(stack, sender, "转人工")
    assert said.startswith(WAITING) and "预计等待" in said and "取消" in said, said
    assert "哪个区" not in said  # not taken as the category
    waiting = open_handoff(stack, sender)
    assert waiting is not None and waiting.status == "waiting" and waiting.reason == "citizen asked for a human agent"
    assert "停车费" in waiting.collected.get("description", "")
    for text in ("好的", "停车费每个月收三百", "你好", "人工"):
        said = reply(stack, sender, text)
        assert said.startswith("已记下，人工客服接入后会看到。") and "预计等待" in said, (text, said)
        assert LOOP not in said
    said = reply(stack, sender, "不等了")
    assert "已为您取消转人工" in said, said
    assert open_handoff(stack, sender) is None
    assert "哪个区" in reply(stack, sender, "我要投诉，楼下饭店油烟很大，熏得没法开窗")  # the bot is back


def test_readback_corrected_twice_hands_over_and_the_loop_is_gone(stack):
    """The issue's scenario: two failed read-backs, '正在为您转接人工客服', then '好的。还有…' forever."""
    sender, replies = stack.chat([START, "朝阳区望京街道望京西园三区", "13911112222", "王先生", "不需要保密"])
    assert "是否正确" in replies[-1], replies
    said = [reply(stack, sender, text) for text in ("不对", "嗯嗯那个", "啊这个")]
    assert any(WAITING in s for s in said), said
    assert open_handoff(stack, sender) is not None
    for text in ("好的", "喂", "对"):
        said = reply(stack, sender, text)
        assert LOOP not in said and said.startswith("已记下"), (text, said)


@pytest.mark.parametrize("ask", ["转人工", "人工", "找客服", "我要跟人说"])
def test_a_request_for_a_person_hands_over_at_every_question(stack, ask):
    for depth in range(len(PATH)):
        sender = f"test-{uuid.uuid4().hex[:10]}"
        said = reply(stack, sender, START)
        for question, answer in PATH[:depth]:
            assert question in said, (depth, said)
            said = reply(stack, sender, answer)
        assert PATH[depth][0] in said, (depth, said)
        handed = reply(stack, sender, ask)
        assert handed.startswith(WAITING), (ask, PATH[depth][0], handed)
        assert open_handoff(stack, sender) is not None, (ask, PATH[depth][0])


def test_a_request_for_a_person_hands_over_while_a_correction_is_pending(stack):
    sender, replies = stack.chat([START, "朝阳区望京街道望京西园三区", "13911112222", "王先生", "不需要保密", "不对"])
    assert "哪一项需要修改" in replies[-1], replies
    assert reply(stack, sender, "找客服").startswith(WAITING)


def test_a_request_for_a_person_hands_over_in_the_status_query(stack):
    sender, replies = stack.chat(["我想查一下工单进度"])
    assert "工单编号" in replies[-1], replies
    assert reply(stack, sender, "转人工").startswith(WAITING)
