"""Dialogue flows: structured forms over the dialogue files, raw YAML, revisions."""
from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from admin.services import flowforms as ff
from ground.store import revisions
from admin.common import actor, flash, form, redirect, render
from admin.services.flows import FlowService, UnknownFile
from admin.keys import ENGINE, FLOWS, run_sync
from admin.security import requires

DOMAIN = "domain.yml"
SECTION_FILES = {"rules": "data/rules.yml", "stories": "data/stories.yml"}


def _flows(request: web.Request) -> FlowService:
    return request.app[FLOWS]  # type: ignore[return-value]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


async def _save(request: web.Request, changes: dict[str, str], summary: str, back: str) -> web.Response:
    """Validate and save; back to `back` with a message, or a page with the errors (nothing saved)."""
    flows = _flows(request)
    old = {rel: flows.files.read(rel) for rel in changes}
    result = await flows.save(actor(request), changes, summary)
    if result.saved:
        await flash(request, f"已保存并通过校验（修订 {', '.join('#' + str(i) for i in result.revisions)}）。"
                             "训练并发布新模型后生效。")
        raise redirect(back)
    diffs = {rel: revisions.unified_diff(old[rel], text, rel) for rel, text in changes.items()}
    return await render(request, "flows_result.html", http_status=422 if result.validation.errors else 200,
                        result=result, diffs=diffs, back=back)


async def _form_error(request: web.Request, exc: Exception, back: str) -> web.Response:
    await flash(request, str(exc), "error")
    raise redirect(back)


@requires("flows")
async def index(request: web.Request) -> web.Response:
    flows = _flows(request)
    return await render(request, "flows_index.html", files=flows.files.files(),
                        recent=await run_sync(request.app, revisions.list_revisions, request.app[ENGINE], None, 10))


# -- responses ---------------------------------------------------------------------------------

@requires("flows")
async def responses_list(request: web.Request) -> web.Response:
    items = ff.responses(_flows(request).files.read(DOMAIN))
    q = request.query.get("q", "").strip()
    if q:
        items = {k: v for k, v in items.items() if q in k or any(q in str(x.get("text", "")) for x in v)}
    return await render(request, "flows_responses.html", responses=items, q=q)


@requires("flows")
async def response_edit(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    variations = ff.responses(_flows(request).files.read(DOMAIN)).get(name, [])
    return await render(request, "flows_response_edit.html", name=name, variations=variations)


@requires("flows")
async def response_save(request: web.Request) -> web.Response:
    data = await form(request)
    name = request.match_info.get("name") or data.get("name", "").strip()
    back = f"/flows/responses/{quote(name)}"
    try:
        new = ff.set_response(_flows(request).files.read(DOMAIN), name, data.get("text[]", []))
    except ff.FormError as exc:
        return await _form_error(request, exc, back if request.match_info.get("name") else "/flows/responses")
    return await _save(request, {DOMAIN: new}, f"回复 {name}", back)


@requires("flows")
async def response_delete(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        new = ff.delete_response(_flows(request).files.read(DOMAIN), name)
    except ff.FormError as exc:
        return await _form_error(request, exc, "/flows/responses")
    return await _save(request, {DOMAIN: new}, f"删除回复 {name}", "/flows/responses")


# -- intents, synonyms, lookup tables, regexes ---------------------------------------------------

def _kind(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in ff.NLU_KINDS:
        raise web.HTTPNotFound()
    return kind


@requires("flows")
async def nlu_list(request: web.Request) -> web.Response:
    kind = _kind(request)
    files = _flows(request).files
    items = ff.nlu_items(files.read_many(files.nlu_files()), kind)
    return await render(request, "flows_nlu.html", kind=kind, label=ff.NLU_KINDS[kind], items=items,
                        nlu_files=files.nlu_files(), kinds=ff.NLU_KINDS)


@requires("flows")
async def nlu_edit(request: web.Request) -> web.Response:
    kind, name = _kind(request), request.match_info["name"]
    files = _flows(request).files
    file = request.query.get("file", "")
    items = [i for i in ff.nlu_items(files.read_many(files.nlu_files()), kind) if i.name == name]
    item = next((i for i in items if i.file == file), items[0] if items else None)
    return await render(request, "flows_nlu_edit.html", kind=kind, label=ff.NLU_KINDS[kind], name=name,
                        item=item, others=[i for i in items if i is not item], nlu_files=files.nlu_files())


@requires("flows")
async def nlu_save(request: web.Request) -> web.Response:
    kind = _kind(request)
    data = await form(request)
    name, file = data.get("name", "").strip(), data.get("file", "")
    files = _flows(request).files
    back = f"/flows/nlu/{kind}/{quote(name)}?file={quote(file)}"
    try:
        changes = {file: ff.set_nlu_examples(files.read(file), kind, name, _lines(data.get("examples", "")))}
        if kind == "intent":
            domain = files.read(DOMAIN)
            new_domain = ff.ensure_intent_in_domain(domain, name)
            if new_domain != domain:
                changes[DOMAIN] = new_domain
    except (ff.FormError, UnknownFile) as exc:
        return await _form_error(request, exc, f"/flows/nlu/{kind}")
    return await _save(request, changes, f"{ff.NLU_KINDS[kind]} {name}", back)


@requires("flows")
async def nlu_delete(request: web.Request) -> web.Response:
    kind, name = _kind(request), request.match_info["name"]
    data = await form(request)
    files = _flows(request).files
    try:
        changes = {data.get("file", ""): ff.delete_nlu_item(files.read(data.get("file", "")), kind, name)}
    except (ff.FormError, UnknownFile) as exc:
        return await _form_error(request, exc, f"/flows/nlu/{kind}")
    return await _save(request, changes, f"删除{ff.NLU_KINDS[kind]} {name}", f"/flows/nlu/{kind}")


# -- rules and stories ---------------------------------------------------------------------------

def _section(request: web.Request) -> tuple[str, str]:
    section = request.match_info["section"]
    if section not in SECTION_FILES:
        raise web.HTTPNotFound()
    return section, SECTION_FILES[section]


@requires("flows")
async def stories_list(request: web.Request) -> web.Response:
    section, file = _section(request)
    blocks = ff.story_blocks(_flows(request).files.read(file), section)
    return await render(request, "flows_stories.html", section=section, file=file, blocks=blocks)


@requires("flows")
async def story_edit(request: web.Request) -> web.Response:
    section, file = _section(request)
    name = request.query.get("name", "")
    block = next((b for b in ff.story_blocks(_flows(request).files.read(file), section) if b.name == name), None)
    return await render(request, "flows_story_edit.html", section=section, file=file, name=name, block=block)


@requires("flows")
async def story_save(request: web.Request) -> web.Response:
    section, file = _section(request)
    data = await form(request)
    name, original = data.get("name", "").strip(), data.get("original", "").strip() or None
    try:
        new = ff.set_story_block(_flows(request).files.read(file), section, name, data.get("body", ""), original)
    except ff.FormError as exc:
        return await _form_error(request, exc, f"/flows/stories/{section}/edit?name={quote(original or '')}")
    return await _save(request, {file: new}, f"{section} {name}", f"/flows/stories/{section}")


@requires("flows")
async def story_delete(request: web.Request) -> web.Response:
    section, file = _section(request)
    name = (await form(request)).get("name", "")
    try:
        new = ff.delete_story_block(_flows(request).files.read(file), section, name)
    except ff.FormError as exc:
        return await _form_error(request, exc, f"/flows/stories/{section}")
    return await _save(request, {file: new}, f"删除 {name}", f"/flows/stories/{section}")


# -- forms ----------------------------------------------------------------------------------------

@requires("flows")
async def forms_list(request: web.Request) -> web.Response:
    return await render(request, "flows_forms.html", forms=ff.forms(_flows(request).files.read(DOMAIN)))


@requires("flows")
async def form_edit(request: web.Request) -> web.Response:
    name = request.match_info["form"]
    forms = ff.forms(_flows(request).files.read(DOMAIN))
    if name not in forms:
        raise web.HTTPNotFound()
    return await render(request, "flows_form_edit.html", form_name=name, slots=forms[name])


@requires("flows")
async def form_save(request: web.Request) -> web.Response:
    name = request.match_info["form"]
    data = await form(request)
    slots = _lines(data.get("slots", ""))
    prompts = {key[len("prompt_"):]: _lines(value) for key, value in data.items() if key.startswith("prompt_")}
    try:
        new = ff.set_form(_flows(request).files.read(DOMAIN), name, slots, prompts)
    except ff.FormError as exc:
        return await _form_error(request, exc, f"/flows/forms/{name}")
    return await _save(request, {DOMAIN: new}, f"表单 {name}", f"/flows/forms/{name}")


# -- raw YAML and revisions ----------------------------------------------------------------------

@requires("flows")
async def raw_edit(request: web.Request) -> web.Response:
    files = _flows(request).files
    file = request.query.get("file", DOMAIN)
    try:
        content = files.read(file)
    except UnknownFile:
        raise web.HTTPNotFound()
    return await render(request, "flows_raw.html", file=file, content=content, files=files.files())


@requires("flows")
async def raw_save(request: web.Request) -> web.Response:
    data = await form(request)
    file = data.get("file", "")
    if file not in _flows(request).files.files():
        raise web.HTTPNotFound()
    content = data.get("content", "").replace("\r\n", "\n")
    return await _save(request, {file: content}, data.get("summary") or f"直接编辑 {file}",
                       f"/flows/raw?file={quote(file)}")


@requires("flows")
async def revisions_list(request: web.Request) -> web.Response:
    file = request.query.get("file") or None
    items = await run_sync(request.app, revisions.list_revisions, request.app[ENGINE], file, 200)
    return await render(request, "flows_revisions.html", revisions=items, file=file)


@requires("flows")
async def revision_show(request: web.Request) -> web.Response:
    rev = await run_sync(request.app, revisions.get_revision, request.app[ENGINE], int(request.match_info["id"]))
    if rev is None:
        raise web.HTTPNotFound()
    return await render(request, "flows_revision.html", rev=rev)


@requires("flows")
async def revision_restore(request: web.Request) -> web.Response:
    rev = await run_sync(request.app, revisions.get_revision, request.app[ENGINE], int(request.match_info["id"]))
    if rev is None:
        raise web.HTTPNotFound()
    return await _save(request, {rev.file: rev.content}, f"恢复到修订 #{rev.id}", "/flows/revisions")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/flows", index)
    r.add_get("/flows/responses", responses_list)
    r.add_post("/flows/responses", response_save)
    r.add_get("/flows/responses/{name}", response_edit)
    r.add_post("/flows/responses/{name}", response_save)
    r.add_post("/flows/responses/{name}/delete", response_delete)
    r.add_get("/flows/nlu/{kind}", nlu_list)
    r.add_post("/flows/nlu/{kind}", nlu_save)
    r.add_get("/flows/nlu/{kind}/{name}", nlu_edit)
    r.add_post("/flows/nlu/{kind}/{name}/delete", nlu_delete)
    r.add_get("/flows/stories/{section}", stories_list)
    r.add_get("/flows/stories/{section}/edit", story_edit)
    r.add_post("/flows/stories/{section}", story_save)
    r.add_post("/flows/stories/{section}/delete", story_delete)
    r.add_get("/flows/forms", forms_list)
    r.add_get("/flows/forms/{form}", form_edit)
    r.add_post("/flows/forms/{form}", form_save)
    r.add_get("/flows/raw", raw_edit)
    r.add_post("/flows/raw", raw_save)
    r.add_get("/flows/revisions", revisions_list)
    r.add_get("/flows/revisions/{id:\\d+}", revision_show)
    r.add_post("/flows/revisions/{id:\\d+}/restore", revision_restore)
