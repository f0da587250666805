"""The self-service form and the status page in headless Chromium: filed valid and invalid, by mouse and by
keyboard alone, desktop and phone sized (screenshots kept, no horizontal overflow), then looked up."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select

from ground.db import create_engine
from ground.settings import REPO_ROOT
from ground.tables.tickets import tickets as tickets_table
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, free_port

TIMEOUT_MS = 30_000
SHOTS = Path(os.environ.get("FORM_SCREENSHOTS", "/tmp/seat-form-screenshots"))
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is needed")


@pytest.fixture(scope="module")
def web_url(database_url, tmp_path_factory) -> Iterator[str]:
    """`python -m web.app` (no speech model) on a free port, on the test database."""
    port = free_port()
    log = tmp_path_factory.mktemp("web") / "web.log"
    env = {**os.environ, "DATABASE_URL": database_url, "VOSK_MODEL": "", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "web.app", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=REPO_ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=2):
                break
        except urllib.error.HTTPError as exc:  # 503 "degraded": serving, but no Rasa here (the form needs none)
            if exc.code == 503:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the web page server did not start:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)  # waiting for the process to come up, not a timing assertion
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


@contextmanager
def browser_page(url: str, mobile: bool = False) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            if mobile:
                context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2,
                                              is_mobile=True, has_touch=True, locale="zh-CN")
            else:
                context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            yield page
        finally:
            browser.close()


def assert_fits(page, name: str) -> None:
    """Screenshot kept for people to look at; the page never scrolls sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    widths = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[2] and widths[1] <= widths[2], f"{name}: horizontal overflow {widths}"


def tab_to(page, name: str, max_tabs: int = 15) -> None:
    """Press Tab until the element named (or with the id) `name` has the focus."""
    for _ in range(max_tabs):
        page.keyboard.press("Tab")
        if page.evaluate("[document.activeElement.name, document.activeElement.id]").count(name):
            return
    raise AssertionError(f"{name} not reachable with Tab")


def tickets_by_phone(database_url: str, phone: str) -> list[dict]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(tickets_table).where(tickets_table.c.phone == phone))]
    finally:
        engine.dispose()


def test_desktop_form_shows_errors_by_field_then_files_a_ticket_and_status_finds_it(web_url, database_url):
    from playwright.sync_api import expect

    with browser_page(web_url + "/form") as page:
        expect(page.locator("#district option")).to_have_count(17)  # 16 districts and the prompt
        page.fill("#description", "吵")
        page.fill("#phone", "12345")
        page.click("#submit")
        expect(page.locator("#request_type-error")).to_contain_text("请选择诉求类型")
        expect(page.locator("#description-error")).to_contain_text("至少5个字")
        expect(page.locator("#district-error")).to_contain_text("请选择")
        expect(page.locator("#phone-error")).to_contain_text("服务热线")
        expect(page.locator("#phone")).to_have_attribute("aria-invalid", "true")
        assert page.evaluate("document.activeElement.name") == "request_type"  # focus on the first error
        assert_fits(page, "form-desktop-errors")

        page.check("input[name=request_type][value=complaint]")
        page.select_option("#category", "噪音扰民")
        page.fill("#description", "楼下饭馆每天夜里十二点以后还在大声喧哗，严重影响休息")
        page.select_option("#district", "朝阳区")
        expect(page.locator("#street")).to_be_enabled()
        page.select_option("#street", "望京街道")
        page.fill("#address", "望京西园三区 5号楼")
        page.fill("#phone", "139 2222 3333")
        page.fill("#contact_name", "张先生")
        page.click("#submit")
        expect(page.locator("#ticket-no")).to_have_text(__import__("re").compile(r"^\d{8}-\d{6}$"))
        ticket_no = page.locator("#ticket-no").inner_text()
        expect(page.locator("#phone-error")).to_be_empty()
        assert_fits(page, "form-desktop-filed")

    [t] = tickets_by_phone(database_url, "13922223333")
    assert (t["ticket_no"], t["channel"], t["category"], t["district"], t["street"]) == (
        ticket_no, "web_form", "噪音扰民", "朝阳区", "望京街道")

    with browser_page(web_url + "/status") as page:
        page.fill("#ticket_no", ticket_no)
        page.fill("#phone", "13800000000")
        page.click("#submit")
        expect(page.locator("#result")).to_contain_text("没有查到")
        page.fill("#phone", "139-2222-3333")
        page.click("#submit")
        expect(page.locator("#status-text")).to_contain_text(f"您的工单{ticket_no}目前已登记")
        assert_fits(page, "status-desktop")


def test_phone_sized_form_filed_with_the_keyboard_alone(web_url, database_url):
    from playwright.sync_api import expect

    with browser_page(web_url + "/form", mobile=True) as page:
        expect(page.locator("#district option")).to_have_count(17)
        assert_fits(page, "form-mobile-empty")
        kb = page.keyboard
        page.locator("body").focus()
        tab_to(page, "request_type")  # a radio group is one tab stop; arrows move inside it
        kb.press("ArrowRight")  # 求助
        kb.press("ArrowRight")  # 投诉
        tab_to(page, "description")  # category left to the classifier
        kb.type("小区里的路灯坏了一个多星期，晚上出门很不安全")
        tab_to(page, "district")
        for _ in range(2):
            kb.press("ArrowDown")  # 东城区, 西城区
        tab_to(page, "street")
        expect(page.locator("#street")).to_be_enabled()
        kb.press("ArrowDown")
        tab_to(page, "address")
        kb.type("南锣鼓巷 8号")
        tab_to(page, "phone")  # through the time's parts, left empty
        kb.type("010-6543 2100")
        tab_to(page, "contact_name")
        kb.type("赵女士")
        tab_to(page, "submit")  # confidentiality stays 不需要
        kb.press("Enter")
        expect(page.locator("#ticket-no")).to_be_visible()
        ticket_no = page.locator("#ticket-no").inner_text()
        assert_fits(page, "form-mobile-filed")
    [t] = tickets_by_phone(database_url, "01065432100")
    assert (t["ticket_no"], t["request_type"], t["district"], t["channel"]) == (ticket_no, "complaint", "西城区",
                                                                                "web_form")
    assert t["street"] and t["contact_name"] == "赵女士"

    with browser_page(web_url + "/status", mobile=True) as page:
        page.fill("#ticket_no", ticket_no)
        page.fill("#phone", "01065432100")
        page.click("#submit")
        expect(page.locator("#status-text")).to_contain_text("已登记")
        assert_fits(page, "status-mobile")
