"""Human agents end to end (issue 16): the citizen page and the operator workspace in headless Chromium against the
running stack (Rasa with the trained model + action server), the citizen page (`python -m web.app`) and the
console (`python -m admin`) on one database.

A full takeover ends in a ticket written by the operator; two operators race for one handoff (exactly one wins);
a citizen cancels while waiting (the queue drops it); an operator whose page closes mid-chat gives the chat back
to the queue (the citizen is told, another operator takes it).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from ground.db import create_engine
from ground.settings import REPO_ROOT
from ground.store import TicketStore
from ground.store import handoffs as store
from tests.admin_support import PASSWORD, copy_flows
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, free_port

pytestmark = [
    pytest.mark.stack,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is needed: apt-get install chromium"),
]
playwright_api = pytest.importorskip("playwright.sync_api")

PUSH_TOKEN = "e2e-handoff-push-token-0123"
GONE_S = 4  # HANDOFF_OPERATOR_GONE_S of the console under test
TIMEOUT_MS = 60_000


def _wait_http(url: str, proc: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{what} did not start:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.3)  # waiting for a process to come up, not a timing assertion


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def web_url(stack, tmp_path_factory) -> Iterator[str]:
    """The citizen page in front of the stack (text chat and pushes; no voice model needed)."""
    port = free_port()
    log = tmp_path_factory.mktemp("web") / "web.log"
    env = {**os.environ, "RASA_AUTH_TOKEN": stack.token, "PYTHONUNBUFFERED": "1", "WEB_PUSH_TOKEN": PUSH_TOKEN,
           "DATABASE_URL": stack.database_url}
    env.pop("VOSK_MODEL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "web.app", "--host", "127.0.0.1", "--port", str(port), "--rasa-url", stack.api_url],
        cwd=REPO_ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    _wait_http(base + "/health", proc, log, "the citizen page")
    try:
        yield base
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def console_url(stack, web_url, tmp_path_factory) -> Iterator[str]:
    """The admin console with two operators, pushing to the citizen page above."""
    tmp = tmp_path_factory.mktemp("console")
    (tmp / "flows").mkdir()
    copy_flows(tmp / "flows")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": stack.database_url, "FLOWS_DIR": str(tmp / "flows"),
           "ADMIN_MODELS_DIR": str(tmp / "models"), "ADMIN_DATA_DIR": str(tmp / "run"), "RASA_URLS": stack.api_url,
           "RASA_AUTH_TOKEN": stack.token, "ADMIN_SECRET": uuid.uuid4().hex, "ADMIN_PORT": str(port),
           "ADMIN_HOST": "127.0.0.1", "WEB_PUSH_URL": web_url + "/internal/push", "WEB_PUSH_TOKEN": PUSH_TOKEN,
           "HANDOFF_OPERATOR_GONE_S": str(GONE_S), "PYTHONUNBUFFERED": "1"}
    for name in ("op1", "op2"):
        done = subprocess.run([sys.executable, "-m", "seat", "admin", "create-user", name, "--role", "operator",
                               "--password-stdin"], input=PASSWORD + "\n", env=env, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    log = tmp / "admin.log"
    proc = subprocess.Popen([sys.executable, "-m", "admin"], cwd=REPO_ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    _wait_http(url + "/healthz", proc, log, "the admin console")
    try:
        yield url
    finally:
        _stop(proc)
        print(log.read_text(errors="replace")[-3000:])


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def engine(stack):
    eng = create_engine(stack.database_url)
    yield eng
    eng.dispose()


def citizen(browser, web_url: str):
    """A citizen's page, greeted; returns (context, page, sender id)."""
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(web_url + "/")
    page.wait_for_selector("body[data-greeted='1']")
    page.wait_for_selector("body[data-events='open']")
    return context, page, page.evaluate("localStorage.getItem('seat.sender')")


def say(page, text: str) -> None:
    before = page.locator("#chat-log .msg.bot").count()
    page.fill("#chat-input", text)
    page.click("#send")
    page.wait_for_function(f"document.querySelectorAll('#chat-log .msg.bot').length > {before}")


def bot_texts(page) -> list[str]:
    return page.locator("#chat-log .msg.bot").all_inner_texts()


def wait_bot_text(page, fragment: str) -> None:
    page.wait_for_function("(f) => [...document.querySelectorAll('#chat-log .msg.bot')]"
                           ".some(m => m.textContent.includes(f))", arg=fragment)


def operator(browser, console_url: str, name: str):
    context = browser.new_context(base_url=console_url, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto("/handoffs")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/handoffs")
    page.wait_for_selector("#workspace-status[data-state='live']")
    return context, page


def queue_item(page, sender: str):
    return page.locator(f"#queue li.handoff[data-conversation='{sender}']")


def tracker_events(stack, sender: str) -> list[dict]:
    url = f"{stack.api_url}/conversations/{sender}/tracker?token={stack.token}&include_events=ALL"
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.load(resp)["events"]


def hand_off(page) -> None:
    """The citizen asks for a person and is told their place in the queue."""
    say(page, "转人工")
    wait_bot_text(page, "人工客服")


def test_full_takeover_ends_in_a_ticket_written_by_the_operator(stack, browser, web_url, console_url, engine):
    from playwright.sync_api import expect

    c_ctx, cit, sender = citizen(browser, web_url)
    o_ctx, op = operator(browser, console_url, "op1")
    try:
        say(cit, "我要投诉，小区物业乱收停车费")
        hand_off(cit)
        item = queue_item(op, sender)
        expect(item).to_be_visible()  # a new arrival, without reloading
        expect(item).to_contain_text("市民要求转人工")
        expect(item).to_contain_text("投诉")
        item.locator("button.claim").click()
        expect(op.locator("#active")).to_be_visible()
        expect(op.locator("#collected")).to_contain_text("投诉")
        wait_bot_text(cit, "人工客服已接入")
        assert any(e.get("event") == "pause" for e in tracker_events(stack, sender))

        op.fill("#chat-input", "您好，请问是哪个小区，每月多收多少？")
        op.click("#chat-send")
        wait_bot_text(cit, "请问是哪个小区")
        bots_before = cit.locator("#chat-log .msg.bot").count()
        cit.fill("#chat-input", "朝阳区望京街道花家地小区，每月多收两百元")
        cit.click("#send")
        expect(op.locator("#transcript .turn.citizen").last).to_contain_text("花家地小区", timeout=5_000)
        expect(op.locator("#transcript .turn.operator")).to_contain_text(["请问是哪个小区"])
        cit.wait_for_selector("body[data-pending='0']")
        assert cit.locator("#chat-log .msg.bot").count() == bots_before  # the bot is paused: no reply

        form = op.locator("#ticket-form")
        expect(form.locator("[name=request_type]")).to_have_value("complaint")  # prefilled from the slots
        form.locator("[name=description]").fill("花家地小区物业乱收停车费，每月多收两百元")
        form.locator("[name=district]").select_option("朝阳区")
        form.locator("[name=street]").select_option("望京街道")
        form.locator("[name=phone]").fill("1381234")
        form.locator("#ticket-submit").click()
        expect(op.locator("#ticket-errors")).to_contain_text("11位")  # the same phone rule as the bot and the page
        form.locator("[name=phone]").fill("13812345678")
        form.locator("#ticket-submit").click()
        expect(op.locator("#last-result")).to_contain_text("已登记工单")
        ticket_no = op.locator("#last-result").get_attribute("data-ticket")
        wait_bot_text(cit, ticket_no)

        tickets = TicketStore(engine)
        ticket = tickets.get(ticket_no)
        assert (ticket.conversation_id, ticket.channel, ticket.district, ticket.street) == \
            (sender, "web", "朝阳区", "望京街道")
        assert [e.actor for e in tickets.events(ticket_no)] == ["op1"]
        handoff = store.get(engine, handoff_id_of(engine, sender))
        assert (handoff.status, handoff.outcome, handoff.ticket_no, handoff.claimed_by) == \
            ("closed", "ticket", ticket_no, "op1")
        expect(queue_item(op, sender)).to_have_count(0)
        events = tracker_events(stack, sender)
        assert [e["event"] for e in events if e["event"] in ("pause", "resume")][-1] == "resume"
        say(cit, "谢谢")  # the bot answers again
    finally:
        o_ctx.close()
        c_ctx.close()


def handoff_id_of(engine, sender: str) -> int:
    """The id of the conversation's latest handoff (open or closed)."""
    from sqlalchemy import select

    from ground.tables.tickets import handoffs

    with engine.connect() as conn:
        return conn.execute(select(handoffs.c.id).where(handoffs.c.conversation_id == sender)
                            .order_by(handoffs.c.id.desc()).limit(1)).scalar_one()


def test_two_operators_race_for_one_handoff_and_exactly_one_wins(stack, browser, web_url, console_url, engine):
    from playwright.sync_api import expect

    c_ctx, cit, sender = citizen(browser, web_url)
    ctx1, op1 = operator(browser, console_url, "op1")
    ctx2, op2 = operator(browser, console_url, "op2")
    try:
        hand_off(cit)
        for page in (op1, op2):
            expect(queue_item(page, sender).locator("button.claim")).to_be_visible()
        # both click at once: the two claims are in flight together (clicks do not wait for the answer)
        op1.evaluate("(s) => document.querySelector(`#queue li[data-conversation='${s}'] button.claim`).click()",
                     sender)
        op2.evaluate("(s) => document.querySelector(`#queue li[data-conversation='${s}'] button.claim`).click()",
                     sender)
        handoff = store.get(engine, handoff_id_of(engine, sender))
        for _ in range(100):
            handoff = store.get(engine, handoff.id)
            if handoff.status == "claimed":
                break
            time.sleep(0.1)  # polling the database for the winner, not a timing assertion
        winner, loser = (op1, op2) if handoff.claimed_by == "op1" else (op2, op1)
        assert handoff.claimed_by in ("op1", "op2")
        expect(winner.locator("#active")).to_be_visible()
        expect(loser.locator("#workspace-error")).to_contain_text("已被")
        expect(loser.locator("#active")).to_be_hidden()
        assert sum(e.get("event") == "pause" for e in tracker_events(stack, sender)) == 1
        wait_bot_text(cit, "人工客服已接入")
        # the winner leaves with the button: back in the queue, and the other operator takes it
        winner.click("#leave")
        wait_bot_text(cit, "重新进入排队")
        expect(queue_item(loser, sender).locator("button.claim")).to_be_visible()
        queue_item(loser, sender).locator("button.claim").click()
        expect(loser.locator("#active")).to_be_visible()
        assert store.get(engine, handoff.id).claimed_by == ("op2" if loser is op2 else "op1")
        loser.click("#resolve")
        expect(queue_item(loser, sender)).to_have_count(0)
    finally:
        for ctx in (ctx1, ctx2, c_ctx):
            ctx.close()


def test_citizen_cancelling_while_waiting_leaves_the_queue(stack, browser, web_url, console_url, engine):
    from playwright.sync_api import expect

    c_ctx, cit, sender = citizen(browser, web_url)
    o_ctx, op = operator(browser, console_url, "op1")
    try:
        hand_off(cit)
        expect(queue_item(op, sender)).to_be_visible()
        say(cit, "我还想补充一下，停车费太贵了")  # kept for the operator while waiting
        say(cit, "不等了")
        wait_bot_text(cit, "已为您取消")
        expect(queue_item(op, sender)).to_have_count(0)
        handoff = store.get(engine, handoff_id_of(engine, sender))
        assert (handoff.status, handoff.outcome) == ("cancelled", "cancelled")
        assert any("停车费太贵了" in (e.get("text") or "") for e in tracker_events(stack, sender)
                   if e.get("event") == "user")
    finally:
        o_ctx.close()
        c_ctx.close()


def test_operator_whose_page_closes_mid_chat_gives_the_chat_back(stack, browser, web_url, console_url, engine):
    from playwright.sync_api import expect

    c_ctx, cit, sender = citizen(browser, web_url)
    ctx1, op1 = operator(browser, console_url, "op1")
    ctx2, op2 = operator(browser, console_url, "op2")
    try:
        hand_off(cit)
        queue_item(op1, sender).locator("button.claim").click()
        expect(op1.locator("#active")).to_be_visible()
        wait_bot_text(cit, "人工客服已接入")
        expect(queue_item(op2, sender)).to_contain_text("已接入")
        ctx1.close()  # the operator's page is gone (closed tab, lost network)
        expect(queue_item(op2, sender).locator("button.claim")).to_be_visible(timeout=(GONE_S + 10) * 1000)
        handoff = store.get(engine, handoff_id_of(engine, sender))
        assert handoff.status == "waiting" and handoff.claimed_by is None
        wait_bot_text(cit, "重新进入排队")
        events = tracker_events(stack, sender)
        assert [e["event"] for e in events if e["event"] in ("pause", "resume")] == ["pause", "resume"]
        say(cit, "还要等多久")  # the bot answers again while the citizen waits
        queue_item(op2, sender).locator("button.claim").click()
        expect(op2.locator("#active")).to_be_visible()
        expect(op2.locator("#transcript .turn.citizen").last).to_contain_text("还要等多久")
        op2.click("#resolve")
    finally:
        for ctx in (ctx2, c_ctx):
            ctx.close()
