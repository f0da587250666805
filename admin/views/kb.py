"""Knowledge base editor: list and search, add, edit, retire. The running seat reloads the entries
(bot.knowledge checks their change stamp), so no retraining is needed."""
from __future__ import annotations

import re
from datetime import date, datetime
from urllib.parse import quote, urlencode

from aiohttp import web

from ground.store import audit
from admin.common import actor, flash, form, redirect, render
from admin.keys import ENGINE, run_sync
from admin.security import requires
from admin.services import kb_gaps
from ground.settings import HOTLINE_TZ
from ground.store import knowledge as repository
from ground.tables.knowledge import KB_STATUSES
from ground.store.knowledge import Entry

_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def _find(entries: list[Entry], key: str) -> Entry | None:
    return next((e for e in entries if e.key == key), None)


@requires("kb")
async def kb_list(request: web.Request) -> web.Response:
    entries = await run_sync(request.app, repository.fetch_entries, request.app[ENGINE])
    q, topic, status, review = (request.query.get(k, "").strip() for k in ("q", "topic", "status", "review"))
    today = datetime.now(HOTLINE_TZ).date()
    topics = sorted({e.topic for e in entries})
    shown = [e for e in entries
             if (not q or q in e.key or q in e.question or q in e.answer or any(q in p for p in e.paraphrases)
                 or q in (e.source or "") or q == e.department)
             and (not topic or e.topic == topic) and (not status or e.status == status)
             and (review != "due" or (e.status != "retired" and e.review_due(today)))
             and (review != "none" or (e.status != "retired" and (e.review_by is None or not e.source)))]
    due = sum(1 for e in entries if e.status != "retired" and e.review_due(today))
    return await render(request, "kb_list.html", entries=shown[:500], total=len(shown), q=q, topic=topic,
                        status=status, review=review, due=due, today=today, topics=topics, statuses=KB_STATUSES)


@requires("kb")
async def kb_edit(request: web.Request) -> web.Response:
    key = request.match_info.get("key")
    entries = await run_sync(request.app, repository.fetch_entries, request.app[ENGINE])
    entry = _find(entries, key) if key else None
    if key and entry is None:
        raise web.HTTPNotFound()
    # a new entry may start prefilled (the knowledge-gap page links here with the citizens' questions)
    prefill = {k: request.query.get(k, "").strip() for k in ("question", "paraphrases", "topic", "department")}
    today = datetime.now(HOTLINE_TZ).date()
    return await render(request, "kb_edit.html", entry=entry, topics=sorted({e.topic for e in entries}),
                        statuses=KB_STATUSES, prefill=prefill, review_due=bool(entry and entry.review_due(today)))


def _entry_from(data: dict, key: str) -> Entry:
    def day(name: str) -> date | None:
        value = data.get(name, "").strip()
        try:
            return date.fromisoformat(value) if value else None
        except ValueError:
            raise ValueError(f"日期格式不对：{value}（应为 年-月-日）") from None

    question, answer, topic = (data.get(k, "").strip() for k in ("question", "answer", "topic"))
    if not _KEY.match(key):
        raise ValueError("编号只能包含字母、数字、下划线、点和连字符，最长64位")
    if not (question and answer and topic):
        raise ValueError("主题、问题和答案都不能为空")
    status = data.get("status", "active")
    if status not in KB_STATUSES:
        raise ValueError("状态无效")
    entry = Entry(key=key, topic=topic, question=question,
                  paraphrases=tuple(p.strip() for p in data.get("paraphrases", "").splitlines() if p.strip()),
                  answer=" ".join(answer.split()), department=data.get("department", "").strip() or None,
                  valid_from=day("valid_from"), valid_to=day("valid_to"), status=status,
                  source=" ".join(data.get("source", "").split()) or None, review_by=day("review_by"))
    if entry.valid_from and entry.valid_to and entry.valid_to < entry.valid_from:
        raise ValueError("有效期结束日期早于开始日期")
    return entry


@requires("kb")
async def kb_save(request: web.Request) -> web.Response:
    data = await form(request)
    key = request.match_info.get("key") or data.get("key", "").strip()
    entries = await run_sync(request.app, repository.fetch_entries, request.app[ENGINE])
    is_new = request.match_info.get("key") is None
    back = "/kb/new" if is_new else f"/kb/{quote(key)}"
    if is_new and _find(entries, key):
        await flash(request, f"编号 {key} 已存在", "error")
        raise redirect(back)
    try:
        entry = _entry_from(data, key)
    except ValueError as exc:
        await flash(request, str(exc), "error")
        raise redirect(back)
    await run_sync(request.app, repository.upsert_entries, request.app[ENGINE], [entry], True)
    await run_sync(request.app, audit.record, request.app[ENGINE], actor(request),
                   "kb.add" if is_new else "kb.edit", key, {"status": entry.status})
    await flash(request, f"已保存知识库条目 {key}，热线几秒内生效（无需重新训练）")
    raise redirect(f"/kb/{quote(key)}")


@requires("kb")
async def kb_retire(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    entries = await run_sync(request.app, repository.fetch_entries, request.app[ENGINE])
    entry = _find(entries, key)
    if entry is None:
        raise web.HTTPNotFound()
    retired = Entry(**{**entry.__dict__, "status": "retired"})
    await run_sync(request.app, repository.upsert_entries, request.app[ENGINE], [retired], True)
    await run_sync(request.app, audit.record, request.app[ENGINE], actor(request), "kb.retire", key)
    await flash(request, f"已停用条目 {key}")
    raise redirect("/kb")


@requires("kb")
async def kb_gaps_page(request: web.Request) -> web.Response:
    """Knowledge gaps: consultations that ended in a ticket or "没解决", grouped by similar question."""
    try:
        days = max(1, min(366, int(request.query.get("days", "30"))))
    except ValueError:
        days = 30
    groups, by_key = await run_sync(request.app, kb_gaps.gap_groups, request.app[ENGINE], days)
    rows = []
    for g in groups:
        near = by_key.get(g.candidate or "")
        others = [q.query for q in g.questions[1:]]
        prefill = {"question": g.label, "paraphrases": "\n".join(dict.fromkeys(others))}
        if near:
            prefill.update(topic=near.topic, department=near.department or "")
        rows.append({"gap": g, "near": near, "new_url": "/kb/new?" + urlencode(prefill)})
    return await render(request, "kb_gaps.html", rows=rows, days=days,
                        total=sum(len(g.questions) for g in groups))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/kb", kb_list)
    r.add_get("/kb/gaps", kb_gaps_page)
    r.add_get("/kb/new", kb_edit)
    r.add_post("/kb", kb_save)
    r.add_get("/kb/{key}", kb_edit)
    r.add_post("/kb/{key}", kb_save)
    r.add_post("/kb/{key}/retire", kb_retire)
