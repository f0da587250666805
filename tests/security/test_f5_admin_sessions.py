"""Finding 5 (issue 13): the admin console's redirect after login and its sessions.

- `/login?next=/%09/evil.com` gave `Location: //evil.com` (browsers drop the tab): an open redirect.
- Sessions were stateless cookies for 8 h: a copied cookie kept working after logout, a password change
  or a role change. They are now rows in the database, revoked by all three.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote

import pytest

from admin.app import create_app
from ground.store import TicketDraft, TicketStore, audit, login_throttle, users
from ground.tables.tickets import utcnow
from tests.admin_support import PASSWORD, admin_config, csrf_of, login, start_client


@pytest.fixture
async def app_and_client(tmp_path, clean_db, database_url):
    users.create_user(clean_db, "boss", PASSWORD, "admin")
    users.create_user(clean_db, "ed", PASSWORD, "editor")
    app = create_app(admin_config(tmp_path, database_url), engine=clean_db, run_tests=False, warm_up=False)
    client = await start_client(app)
    yield app, client
    await client.close()


@pytest.mark.parametrize("target", ["/%09/evil.com", "/%0a/evil.com", "/%5C/evil.com", "//evil.com",
                                    "https://evil.com/", "/%20/evil.com", "%2F%2Fevil.com", "/\t/evil.com"])
async def test_login_never_redirects_off_site(app_and_client, target) -> None:
    _, client = app_and_client
    page = await client.get(f"/login?next={target}")
    token = csrf_of(await page.text())
    resp = await client.post("/login", data={"_csrf": token, "username": "boss", "password": PASSWORD,
                                             "next": unquote(target)}, allow_redirects=False)
    assert resp.status == 302
    location = resp.headers["Location"]
    assert location == "/", location


async def test_a_same_site_path_is_kept(app_and_client) -> None:
    _, client = app_and_client
    page = await client.get("/login?next=/tickets%3Fstatus%3Dnew")
    token = csrf_of(await page.text())
    resp = await client.post("/login", data={"_csrf": token, "username": "boss", "password": PASSWORD,
                                             "next": "/tickets?status=new"}, allow_redirects=False)
    assert resp.headers["Location"] == "/tickets?status=new"


def _cookie_of(client) -> dict:
    return {c.key: c.value for c in client.session.cookie_jar}


async def _home_status(client, cookies: dict) -> int:
    resp = await client.get("/", cookies=cookies, allow_redirects=False)
    return resp.status


async def test_logout_revokes_a_copied_cookie(app_and_client) -> None:
    app, client = app_and_client
    csrf = await login(client, "ed")
    stolen = _cookie_of(client)
    thief = await start_client(app)
    try:
        assert await _home_status(thief, stolen) == 200
        await client.post("/logout", data={"_csrf": csrf}, allow_redirects=False)
        assert await _home_status(thief, stolen) == 302  # back to the login page
    finally:
        await thief.close()


async def test_password_and_role_changes_revoke_the_users_sessions(app_and_client, clean_db) -> None:
    app, client = app_and_client
    await login(client, "ed")
    stolen = _cookie_of(client)
    other = await start_client(app)
    try:
        assert await _home_status(other, stolen) == 200
        users.set_password(clean_db, "ed", "a new long password")
        assert await _home_status(other, stolen) == 302
        await login(client, "ed", "a new long password")
        again = _cookie_of(client)
        assert await _home_status(other, again) == 200
        users.set_role(clean_db, "ed", "editor")  # unchanged: the session stays
        assert await _home_status(other, again) == 200
        users.set_role(clean_db, "ed", "viewer")
        assert await _home_status(other, again) == 302
    finally:
        await other.close()


async def _try_login(client, name: str, password: str) -> int:
    page = await client.get("/login")
    token = csrf_of(await page.text())
    resp = await client.post("/login", data={"_csrf": token, "username": name, "password": password},
                             allow_redirects=False)
    return resp.status


async def test_guessing_does_not_lock_the_user_out_elsewhere_and_the_block_is_bounded(app_and_client, clean_db):
    _, client = app_and_client
    for _ in range(login_throttle.FREE_FAILURES):
        assert await _try_login(client, "boss", "wrong password") == 401
    assert await _try_login(client, "boss", PASSWORD) == 429  # this name from this address waits
    # The same name from another address is not blocked (the guesser cannot lock the admin out).
    assert login_throttle.blocked_for(clean_db, "boss", "10.0.0.9") == timedelta(0)
    # However many failures, the wait never exceeds the cap, and it ends.
    for _ in range(40):
        login_throttle.failed(clean_db, "boss", "127.0.0.1")
    wait = login_throttle.blocked_for(clean_db, "boss", "127.0.0.1")
    assert timedelta(0) < wait <= login_throttle.MAX_DELAY
    later = utcnow() + login_throttle.MAX_DELAY + timedelta(seconds=1)
    assert login_throttle.blocked_for(clean_db, "boss", "127.0.0.1", now=later) == timedelta(0)
    # In the database: any replica on it sees the same block.
    assert login_throttle.blocked_for(clean_db, "boss", "127.0.0.1") > timedelta(0)


async def test_the_cookie_is_secure_when_reached_over_https_through_the_local_proxy(app_and_client) -> None:
    _, client = app_and_client
    plain = await client.get("/login")
    assert "seat_admin" in plain.cookies and not plain.cookies["seat_admin"]["secure"]
    client.session.cookie_jar.clear()  # a new visitor: a new session cookie is set
    proxied = await client.get("/login", headers={"X-Forwarded-Proto": "https"})  # the test client is local
    assert "Secure" in proxied.headers.get("Set-Cookie", ""), proxied.headers.get("Set-Cookie")


async def test_reading_a_tickets_personal_data_is_audited(app_and_client, clean_db) -> None:
    _, client = app_and_client
    ticket = TicketStore(clean_db).create_ticket(TicketDraft(
        request_type="complaint", description="楼下饭馆油烟太大", conversation_id="conv-read", request_key="k-read",
        category="环境保护", district="朝阳区", phone="13911112222", contact_name="王先生"))
    await login(client, "boss")
    page = await client.get(f"/tickets/{ticket.ticket_no}")
    assert page.status == 200
    [entry] = audit.recent(clean_db, action="ticket.read")
    assert (entry.actor, entry.target) == ("boss", ticket.ticket_no)
    assert entry.detail["personal_data"] is True
    assert "13911112222" not in repr(entry) and "王先生" not in repr(entry)
