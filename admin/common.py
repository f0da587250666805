"""Helpers shared by the views: rendering with the session's user and CSRF token, flash messages."""
from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session

from ground.roles import ROLE_LABELS, can, sees_pii
from admin.security import CSRF_FIELD, USER, csrf_token


async def render(request: web.Request, template: str, *, http_status: int = 200, **context: Any) -> web.Response:
    session = await get_session(request)
    user = request.get(USER)
    flash = session.pop("flash", None)
    context.update(
        user=user, csrf=csrf_token(session), csrf_field=CSRF_FIELD, flash=flash, role_labels=ROLE_LABELS,
        can=(lambda perm: user is not None and can(user.role, perm)),
        sees_pii=user is not None and sees_pii(user.role),
    )
    return aiohttp_jinja2.render_template(template, request, context, status=http_status)


async def flash(request: web.Request, message: str, kind: str = "ok") -> None:
    """A message shown once on the next page."""
    session = await get_session(request)
    session["flash"] = {"kind": kind, "text": message}


def redirect(location: str) -> web.HTTPFound:
    return web.HTTPFound(location)


def actor(request: web.Request) -> str:
    return request[USER].username


def role(request: web.Request) -> str:
    return request[USER].role


NUL_IN_FORM = "表单内容含有无效字符（NUL），请删除后再提交。"


async def form(request: web.Request) -> dict[str, Any]:
    """The posted form: single values as str, repeated fields as lists under `name[]`."""
    data = await request.post()
    result: dict[str, Any] = {}
    for key in set(data.keys()):
        values = [str(v) for v in data.getall(key)]
        if any("\x00" in v for v in values):  # no browser sends it; PostgreSQL refuses it in text (HTTP 500)
            raise web.HTTPBadRequest(text=NUL_IN_FORM)
        result[key] = values if key.endswith("[]") else values[-1]
    return result
