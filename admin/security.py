"""Sessions, login, CSRF and role checks for every route.

Every handler declares who may call it with `@requires(permission)` (or `@public`). The middleware
refuses a request without a logged-in session (401 for /api/, a redirect to the login page otherwise),
a POST/PUT/PATCH/DELETE without the session's CSRF token (403; form field `_csrf` or header
`X-CSRF-Token`), and a role without the permission (403).
"""
from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from aiohttp_session import get_session, new_session

from admin.keys import ENGINE, run_sync
from ground.roles import can
from ground.store import admin_sessions
from ground.store.users import get_user

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
USER = "admin_user"  # request key of the logged-in admin_users row (ground.store.users.User)


def requires(permission: str) -> Callable[[Handler], Handler]:
    """Mark a handler as needing a session whose role has `permission` ('login' = any role)."""

    def mark(handler: Handler) -> Handler:
        handler.permission = permission  # type: ignore[attr-defined]
        return handler

    return mark


def public(handler: Handler) -> Handler:
    """Mark a handler that needs no session (login page, health check, static files)."""
    handler.public = True  # type: ignore[attr-defined]
    return handler


def csrf_token(session) -> str:
    """The session's CSRF token, created on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


async def _sent_token(request: web.Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        return str(form.get(CSRF_FIELD, ""))
    return ""


async def csrf_ok(request: web.Request, session) -> bool:
    expected = session.get("csrf") or ""
    sent = await _sent_token(request)
    return bool(expected) and hmac.compare_digest(expected.encode(), sent.encode())


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def _refuse(request: web.Request, status: int, message: str) -> web.Response:
    if _is_api(request):
        return web.json_response({"error": message}, status=status)
    return web.Response(status=status, text=message, content_type="text/plain", charset="utf-8")


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    if match.http_exception is not None or getattr(match.handler, "public", False) or \
            request.path.startswith("/static/"):
        return await handler(request)
    session = await get_session(request)
    username = session.get("user")
    # The cookie alone is not enough: its server-side session must still be live (not logged out, not
    # revoked by a password or role change, not expired).
    live = await run_sync(request.app, admin_sessions.session_user, request.app[ENGINE], session.get("sid")) \
        if username else None
    user = await run_sync(request.app, get_user, request.app[ENGINE], username) if username and live == username \
        else None
    if user is None or not user.active:
        if _is_api(request):
            return web.json_response({"error": "未登录"}, status=401)
        target = request.path_qs if request.method == "GET" else "/"
        raise web.HTTPFound("/login?next=" + quote(target, safe=""))
    if request.method in UNSAFE and not await csrf_ok(request, session):
        return _refuse(request, 403, "CSRF 校验失败，请刷新页面后重试")
    permission = getattr(match.handler, "permission", None)
    if permission is None:  # every route must declare who may call it
        return _refuse(request, 403, "此功能未开放")
    if permission != "login" and not can(user.role, permission):
        return _refuse(request, 403, "您的角色无权执行此操作")
    request[USER] = user
    return await handler(request)


SESSION_LIFETIME = timedelta(hours=8)
SESSION_COOKIE = "seat_admin"
LOOPBACK = frozenset({"127.0.0.1", "::1"})


def reached_over_https(request: web.Request) -> bool:
    """HTTPS to the console itself, or to the reverse proxy in front of it.

    `X-Forwarded-Proto` is believed only from a proxy on this machine (the documented nginx set-up):
    anyone else could send the header.
    """
    if request.secure:
        return True
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return forwarded == "https" and request.remote in LOOPBACK


def _mark_secure(request: web.Request, response: web.StreamResponse) -> None:
    morsel = response.cookies.get(SESSION_COOKIE)
    if morsel is not None and reached_over_https(request):
        morsel["secure"] = True


@web.middleware
async def secure_cookie_over_https(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outside the session middleware: its cookie gets the Secure flag whenever the console is reached over
    HTTPS (issue 13, finding 5), whatever ADMIN_SECURE_COOKIE says (1 forces it always)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects carry the session cookie too
        _mark_secure(request, exc)
        raise
    _mark_secure(request, response)
    return response


async def start_session(request: web.Request, username: str) -> None:
    """A fresh session (new server-side id and CSRF token) for a user who just logged in."""
    session = await new_session(request)
    session["user"] = username
    session["sid"] = await run_sync(request.app, admin_sessions.open_session, request.app[ENGINE], username,
                                    SESSION_LIFETIME)
    session["csrf"] = secrets.token_urlsafe(32)


async def end_session(request: web.Request) -> None:
    """Logout: the server-side session is revoked (a copy of the cookie no longer works), the cookie cleared."""
    session = await get_session(request)
    await run_sync(request.app, admin_sessions.revoke, request.app[ENGINE], session.get("sid"))
    session.invalidate()
