"""The admin console in a real headless Chromium against the running stack (Rasa + action server).

An editor changes a response, trains a candidate (one training run, with the project's training cache),
sees the test report, publishes it, and the running bot answers with the new text while conversations
keep being answered; rolling back restores the old text. A viewer sees masked phone numbers. Every
route refuses a browser without a session, and a POST without the CSRF token.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from admin.app import create_app
from admin.config import AdminConfig
from ground.settings import REPO_ROOT
from tests.admin_support import PASSWORD, copy_flows
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, free_port

pytestmark = pytest.mark.stack
playwright_api = pytest.importorskip("playwright.sync_api")

OLD_GREETING = "您好，这里是12345市民服务热线智能客服。"
NEW_GREETING = "您好，欢迎致电12345，我是智能客服小京，请说您要反映的事情。"
TRAINING_TIMEOUT_MS = 40 * 60 * 1000
LOAD_TIMEOUT_MS = 10 * 60 * 1000  # publishing waits until every Rasa server has loaded the model


def _submit_and_wait(page, locator) -> None:
    """Click a form button whose POST takes long (Rasa loading a model) and wait for the next page."""
    with page.expect_navigation(timeout=LOAD_TIMEOUT_MS):
        locator.click(no_wait_after=True)


class AdminServer:
    def __init__(self, url: str, tmp: Path, env: dict[str, str]) -> None:
        self.url, self.tmp, self.env = url, tmp, env

    @property
    def models_dir(self) -> Path:
        return self.tmp / "models"


def _create_user(env: dict[str, str], name: str, role: str) -> None:
    done = subprocess.run([sys.executable, "-m", "seat", "admin", "create-user", name, "--role", role,
                           "--password-stdin"], input=PASSWORD + "\n", env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"user {name} ({role}) created" in done.stdout


@pytest.fixture(scope="module")
def admin_server(stack, tmp_path_factory) -> Iterator[AdminServer]:
    tmp = tmp_path_factory.mktemp("admin")
    (tmp / "flows").mkdir()
    copy_flows(tmp / "flows")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": stack.database_url, "FLOWS_DIR": str(tmp / "flows"),
           "ADMIN_MODELS_DIR": str(tmp / "models"), "ADMIN_DATA_DIR": str(tmp / "run"), "RASA_URLS": stack.api_url,
           "RASA_AUTH_TOKEN": stack.token, "ADMIN_SECRET": uuid.uuid4().hex, "ADMIN_PORT": str(port),
           "ADMIN_HOST": "127.0.0.1"}
    for name, role in (("editor1", "editor"), ("viewer1", "viewer")):
        _create_user(env, name, role)
    log = (tmp / "admin.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "admin"], cwd=REPO_ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.terminate()
        pytest.fail("admin console did not start:\n" + (tmp / "admin.log").read_text()[-3000:])
    try:
        yield AdminServer(url, tmp, env)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _login(browser, server: AdminServer, username: str):
    context = browser.new_context(base_url=server.url, locale="zh-CN")
    page = context.new_page()
    page.goto("/flows")
    assert "/login" in page.url  # no session: to the login page
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return context, page


def _greeting(stack) -> str:
    return " ".join(r.get("text", "") for r in stack.say(f"admin-{uuid.uuid4().hex[:8]}", "你好"))


def test_routes_refuse_a_browser_without_session_or_csrf(browser, admin_server) -> None:
    app = create_app(AdminConfig(flows_dir=admin_server.tmp / "flows"), warm_up=False)
    routes = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        if route.method == "HEAD" or "directory" in info:
            continue
        routes.append((route.method, re.sub(r"\{[^}]+\}", "1", info.get("path") or info.get("formatter"))))
    # /metrics: Prometheus scrapes it without a login (loopback; deploy/nginx/seat.conf answers 404 for it)
    public = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz"), ("GET", "/metrics")}
    context = browser.new_context(base_url=admin_server.url)
    for method, path in routes:
        if (method, path) in public:
            continue
        resp = context.request.fetch(path, method=method, max_redirects=0)
        expected = 401 if path.startswith("/api/") else 302
        assert resp.status == expected, (method, path, resp.status)
    context.close()
    context, page = _login(browser, admin_server, "editor1")
    for method, path in routes:
        if method == "POST" and path != "/login":
            resp = context.request.fetch(path, method="POST", form={"_csrf": "forged"}, max_redirects=0)
            assert resp.status == 403, (path, resp.status)
    context.close()


def test_viewer_sees_masked_phone_numbers(browser, admin_server, stack) -> None:
    from ground.db import create_engine
    from ground.store import TicketDraft, TicketStore

    engine = create_engine(stack.database_url)
    try:
        ticket = TicketStore(engine).create_ticket(TicketDraft(
            request_type="complaint", description="小区门口占道经营", conversation_id=f"admin-{uuid.uuid4().hex}",
            request_key="k", phone="13987654321", contact_name="李四", channel="rest", district="西城区"))
    finally:
        engine.dispose()
    context, page = _login(browser, admin_server, "viewer1")
    page.goto(f"/tickets?q={ticket.ticket_no}")
    row = page.locator("table.tickets tr", has_text=ticket.ticket_no)
    assert row.locator("td.phone").inner_text() == "139****4321"
    assert row.locator("td.name").inner_text() == "李*"
    assert "13987654321" not in page.content()
    page.goto(f"/tickets/{ticket.ticket_no}")
    assert page.locator("dd.phone").inner_text() == "139****4321"
    assert "13987654321" not in page.content()
    context.close()


def test_change_train_publish_rollback(browser, admin_server, stack) -> None:
    assert OLD_GREETING in _greeting(stack)
    context, page = _login(browser, admin_server, "editor1")
    # change the greeting through the response form
    page.goto("/flows/responses/utter_greet")
    page.locator("#response-form textarea").first.fill(NEW_GREETING)
    page.click("#response-form button[type=submit]")
    page.wait_for_load_state()
    assert "已保存并通过校验" in page.locator(".flash").inner_text()
    assert NEW_GREETING in (admin_server.tmp / "flows" / "domain.yml").read_text()
    # train a candidate and follow the live log
    page.goto("/models")
    page.click("#train")
    page.wait_for_url(re.compile(r"/models/jobs/"))
    page.wait_for_function("document.getElementById('job-log').textContent.includes('rasa train')")
    page.wait_for_function("['done', 'failed'].includes(document.getElementById('job-state').dataset.state)",
                           timeout=TRAINING_TIMEOUT_MS, polling=2000)
    log_text = page.locator("#job-log").inner_text()
    assert page.locator("#job-state").inner_text() == "done", page.locator("#job-error").inner_text() + log_text[-3000:]
    report = page.locator("#job-report").inner_text()
    assert "NLU：准确率" in report and "故事：" in report
    print("\ntraining log tail:\n" + log_text[-1500:] + "\nreport: " + report)
    # publish while a citizen keeps talking to the bot: every message is answered
    replies: list[tuple[float, bool]] = []
    stop = threading.Event()

    def chat() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                ok = bool(stack.say(f"during-{uuid.uuid4().hex[:8]}", "你好"))
            except OSError:
                ok = False
            replies.append((time.monotonic() - started, ok))

    talker = threading.Thread(target=chat)
    talker.start()
    try:
        page.goto("/models")
        _submit_and_wait(page, page.locator("tr[data-version] button.publish").first)
    finally:
        stop.set()
        talker.join(120)
    assert "已发布" in page.locator(".flash").inner_text(), page.content()[-2000:]
    assert replies and all(ok for _, ok in replies), replies
    print(f"\nduring publish: {len(replies)} messages, all answered, slowest {max(d for d, _ in replies):.2f} s")
    assert NEW_GREETING in _greeting(stack)
    pointer = admin_server.models_dir / "published" / "current"
    published = admin_server.models_dir / "published" / pointer.read_text().strip()
    assert published.is_file() and published.name.startswith("candidate-")
    # roll back to the model the servers ran before (kept as a version at the first publish)
    row = page.locator("tr[data-version]", has_text="initial-")
    _submit_and_wait(page, row.locator("button.rollback"))
    assert "已回滚" in page.locator(".flash").inner_text()
    assert OLD_GREETING in _greeting(stack)
    assert pointer.read_text().strip().startswith("seat-")
    # all of it in the audit log (an editor cannot read it; check the table)
    from sqlalchemy import select

    from ground.tables.console import audit_log
    from ground.db import create_engine

    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            actions = [r.action for r in conn.execute(select(audit_log.c.action).order_by(audit_log.c.id))]
    finally:
        engine.dispose()
    for action in ("flows.save", "model.train", "model.adopt", "model.publish", "model.rollback"):
        assert action in actions
    context.close()
