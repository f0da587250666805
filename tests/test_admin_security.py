"""Admin console access control: every route refuses a request without a session (401 for the API, a
redirect to the login page otherwise) and any POST without the session's CSRF token (403); roles."""
from __future__ import annotations

import re

import pytest
from aiohttp import web

from ground.store import users
from admin.app import create_app
from tests.admin_support import PASSWORD, admin_config, csrf_of, login, start_client

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def _sample_path(resource_info: dict) -> str:
    """A concrete URL for a route, its placeholders filled with plausible values."""
    path = resource_info.get("path") or resource_info.get("formatter") or resource_info.get("prefix", "")
    return re.sub(r"\{[^}]+\}", "1", path)


def _routes(app: web.Application) -> list[tuple[str, str]]:
    found = []
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        if "directory" in info:  # static files are public
            continue
        found.append((route.method, _sample_path(info)))
    return found


@pytest.fixture
async def client(tmp_path, clean_db, database_url):
    for name, role in (("boss", "admin"), ("ed", "editor"), ("op", "operator"), ("vi", "viewer")):
        users.create_user(clean_db, name, PASSWORD, role)
    app = create_app(admin_config(tmp_path, database_url), engine=clean_db, run_tests=False, warm_up=False)
    c = await start_client(app)
    yield c
    await c.close()


async def test_every_route_needs_a_session(client) -> None:
    routes = _routes(client.server.app)
    assert len(routes) > 30
    public = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz"), ("GET", "/metrics")}  # metrics: issue 14
    checked = 0
    for method, path in routes:
        if (method, path) in public:
            continue
        resp = await client.request(method, path, allow_redirects=False)
        if path.startswith("/api/"):
            assert resp.status == 401, (method, path, resp.status)
        else:
            assert resp.status == 302, (method, path, resp.status)
            assert resp.headers["Location"].startswith("/login")
        checked += 1
    assert checked == len(routes) - len(public)


async def test_every_post_needs_the_csrf_token(client) -> None:
    token = await login(client, "boss")
    unsafe = [(m, p) for m, p in _routes(client.server.app) if m in UNSAFE and p != "/login"]
    assert len(unsafe) > 15
    for method, path in unsafe:
        resp = await client.request(method, path, data={"_csrf": "forged"}, allow_redirects=False)
        assert resp.status == 403, (method, path, resp.status)
        resp = await client.request(method, path, allow_redirects=False)
        assert resp.status == 403, (method, path, resp.status)
    # the right token passes the check (what happens next depends on the route)
    resp = await client.post("/users", data={"_csrf": token, "username": "new1", "password": "short",
                                             "role": "viewer"}, allow_redirects=False)
    assert resp.status == 302


async def test_login_form_needs_csrf_and_right_password(client) -> None:
    resp = await client.post("/login", data={"username": "boss", "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 403
    token = csrf_of(await (await client.get("/login")).text())
    resp = await client.post("/login", data={"_csrf": token, "username": "boss", "password": "wrong password"})
    assert resp.status == 401
    assert "用户名或密码错误" in await resp.text()
    assert (await client.get("/", allow_redirects=False)).status == 302


async def test_logout_ends_the_session(client) -> None:
    token = await login(client, "vi")
    assert (await client.get("/dashboards", allow_redirects=False)).status == 200
    resp = await client.post("/logout", data={"_csrf": token}, allow_redirects=False)
    assert resp.status == 302
    assert (await client.get("/dashboards", allow_redirects=False)).status == 302


@pytest.mark.parametrize("username, allowed, refused", [
    ("ed", ["/flows", "/kb", "/dashboards"], ["/tickets", "/users", "/audit"]),
    ("op", ["/tickets", "/dashboards"], ["/flows", "/kb", "/users", "/models"]),
    ("vi", ["/tickets", "/dashboards"], ["/flows", "/kb", "/models", "/users", "/audit"]),
    ("boss", ["/flows", "/kb", "/tickets", "/dashboards", "/users", "/audit"], []),
])
async def test_roles(client, username, allowed, refused) -> None:
    await login(client, username)
    for path in allowed:
        assert (await client.get(path, allow_redirects=False)).status == 200, path
    for path in refused:
        assert (await client.get(path, allow_redirects=False)).status == 403, path


async def test_fetch_with_csrf_header(client) -> None:
    token = await login(client, "ed")
    resp = await client.get("/api/train/nope")
    assert resp.status == 404
    resp = await client.post("/models/train", headers={"X-CSRF-Token": "bad"}, allow_redirects=False)
    assert resp.status == 403
    # a deactivated user's session stops working at once
    users.set_role(client.server.app[__import__("admin.keys", fromlist=["ENGINE"]).ENGINE], "ed", "editor", False)
    assert (await client.get("/flows", allow_redirects=False)).status == 302
    assert token
