"""Login, logout, home, health check, users and the audit log."""
from __future__ import annotations

import math
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import get_session
from prometheus_client import Counter

from ground.health import database_ok, health_answer
from ground.store import audit, login_throttle

from ground.store import users
from admin.common import actor, flash, form, redirect, render
from admin.keys import ENGINE, run_sync
from ground.roles import ROLES
from admin.security import csrf_ok, end_session, public, requires, start_session
from ground.metrics import aiohttp_metrics

LOGINS = Counter("seat_admin_logins", "Console logins by result: ok, failed (wrong name or password), locked "
                 "(refused while the name and address are locked out)", ["result"])


def _safe_next(target: str | None) -> str:
    """Only same-site paths (no open redirect): "/" for anything else.

    Browsers drop tabs and newlines and read "\\" as "/", so "/\t/evil.com" is "//evil.com" to them
    (issue 13, finding 5): control characters, spaces and backslashes are refused, and what is left must
    parse as a bare path (no scheme, no host) that does not start with "//".
    """
    if not target or not isinstance(target, str) or len(target) > 2000:
        return "/"
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in target) or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return "/"
    return target


@public
async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, else 503 "degraded" (ground.health); `ok` kept for older probes."""
    body, status = health_answer({"database": await database_ok(request.app[ENGINE])})
    return web.json_response({"ok": status == 200, **body}, status=status)


@public
async def metrics(request: web.Request) -> web.Response:
    """`GET /metrics`: the console's figures (logins, the process); no personal data. The console listens on
    loopback; deploy/nginx/seat.conf does not pass /metrics through to staff."""
    return await aiohttp_metrics(request)


@public
async def login_page(request: web.Request) -> web.Response:
    return await render(request, "login.html", next=_safe_next(request.query.get("next")))


@public
async def login(request: web.Request) -> web.Response:
    session = await get_session(request)
    if not await csrf_ok(request, session):
        return web.Response(status=403, text="CSRF 校验失败，请刷新页面后重试")
    data = await form(request)
    name, password = data.get("username", "").strip(), data.get("password", "")
    engine, address = request.app[ENGINE], request.remote
    wait = await run_sync(request.app, login_throttle.blocked_for, engine, name, address)
    if wait:
        LOGINS.labels("locked").inc()
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        return await render(request, "login.html", http_status=429, next=_safe_next(data.get("next")),
                            error=f"失败次数过多，请{minutes}分钟后再试")
    user = await run_sync(request.app, users.authenticate, request.app[ENGINE], name, password)
    if user is None:
        LOGINS.labels("failed").inc()
        await run_sync(request.app, login_throttle.failed, engine, name, address)
        await run_sync(request.app, audit.record, request.app[ENGINE], name[:64] or "-", "login.failed")
        return await render(request, "login.html", http_status=401, next=_safe_next(data.get("next")),
                            error="用户名或密码错误")
    LOGINS.labels("ok").inc()
    await run_sync(request.app, login_throttle.succeeded, engine, name, address)
    await start_session(request, user.username)
    await run_sync(request.app, audit.record, request.app[ENGINE], user.username, "login")
    raise redirect(_safe_next(data.get("next")))


@requires("login")
async def logout(request: web.Request) -> web.Response:
    await end_session(request)
    raise redirect("/login")


@requires("login")
async def home(request: web.Request) -> web.Response:
    return await render(request, "home.html")


@requires("users")
async def users_page(request: web.Request) -> web.Response:
    return await render(request, "users.html", users=await run_sync(request.app, users.list_users,
                                                                    request.app[ENGINE]), roles=ROLES)


@requires("users")
async def users_create(request: web.Request) -> web.Response:
    data = await form(request)
    try:
        user = await run_sync(request.app, users.create_user, request.app[ENGINE], data.get("username", ""),
                              data.get("password", ""), data.get("role", ""))
    except users.UserError as exc:
        await flash(request, str(exc), "error")
    else:
        await run_sync(request.app, audit.record, request.app[ENGINE], actor(request), "user.create",
                       user.username, {"role": user.role})
        await flash(request, f"已创建用户 {user.username}")
    raise redirect("/users")


@requires("users")
async def users_update(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    data = await form(request)
    try:
        await run_sync(request.app, users.set_role, request.app[ENGINE], name, data.get("role", ""),
                       data.get("active") == "1")
        if data.get("password"):
            await run_sync(request.app, users.set_password, request.app[ENGINE], name, data["password"])
    except users.UserError as exc:
        await flash(request, str(exc), "error")
    else:
        await run_sync(request.app, audit.record, request.app[ENGINE], actor(request), "user.update", name,
                       {"role": data.get("role"), "active": data.get("active") == "1",
                        "password_changed": bool(data.get("password"))})
        await flash(request, f"已更新用户 {name}")
    raise redirect("/users")


@requires("audit")
async def audit_page(request: web.Request) -> web.Response:
    entries = await run_sync(request.app, audit.recent, request.app[ENGINE], 300, request.query.get("action") or None)
    return await render(request, "audit.html", entries=entries)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", home)
    app.router.add_get("/users", users_page)
    app.router.add_post("/users", users_create)
    app.router.add_post("/users/{name}", users_update)
    app.router.add_get("/audit", audit_page)
