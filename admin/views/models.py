"""Models: train a candidate with live progress, its test report, publish, roll back."""
from __future__ import annotations

from aiohttp import web

from ground.store import model_registry
from admin.common import actor, flash, redirect, render
from admin.keys import CONFIG, ENGINE, JOBS, PUBLISHER, run_sync
from admin.services.publishing import PublishError, Publisher
from admin.security import requires
from admin.services.training_jobs import TrainingJobs


def _jobs(request: web.Request) -> TrainingJobs:
    return request.app[JOBS]  # type: ignore[return-value]


def _publisher(request: web.Request) -> Publisher:
    return request.app[PUBLISHER]  # type: ignore[return-value]


@requires("flows")
async def models_page(request: web.Request) -> web.Response:
    versions = await run_sync(request.app, model_registry.list_versions, request.app[ENGINE],
                              request.app[CONFIG].models_dir)
    servers = await _publisher(request).status()
    jobs = sorted(_jobs(request).jobs.values(), key=lambda j: j.started_at, reverse=True)
    return await render(request, "models.html", versions=versions, servers=servers, jobs=jobs,
                        running=_jobs(request).running)


@requires("flows")
async def train(request: web.Request) -> web.Response:
    try:
        job = _jobs(request).start(actor(request))
    except RuntimeError as exc:
        await flash(request, str(exc), "error")
        raise redirect("/models")
    raise redirect(f"/models/jobs/{job.id}")


@requires("flows")
async def job_page(request: web.Request) -> web.Response:
    job = _jobs(request).jobs.get(request.match_info["id"])
    if job is None:
        raise web.HTTPNotFound()
    return await render(request, "train_job.html", job=job)


@requires("flows")
async def job_api(request: web.Request) -> web.Response:
    job = _jobs(request).jobs.get(request.match_info["id"])
    if job is None:
        return web.json_response({"error": "没有这个训练任务"}, status=404)
    try:
        since = max(int(request.query.get("since", "0")), 0)
    except ValueError:
        since = 0
    return web.json_response(job.to_dict(since))


@requires("flows")
async def servers_api(request: web.Request) -> web.Response:
    return web.json_response([s.__dict__ for s in await _publisher(request).status()])


async def _publish(request: web.Request, rollback: bool) -> web.Response:
    version_id = int(request.match_info["id"])
    publisher = _publisher(request)
    try:
        if rollback:
            results = await publisher.rollback(version_id, actor(request))
        else:
            results = await publisher.publish(version_id, actor(request))
    except PublishError as exc:
        await flash(request, str(exc), "error")
    else:
        verb = "已回滚到" if rollback else "已发布"
        await flash(request, f"{verb}版本 #{version_id}，{len(results)} 台 Rasa 服务器已加载（不中断通话）")
    raise redirect("/models")


@requires("flows")
async def publish(request: web.Request) -> web.Response:
    return await _publish(request, rollback=False)


@requires("flows")
async def rollback(request: web.Request) -> web.Response:
    return await _publish(request, rollback=True)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/models", models_page)
    r.add_post("/models/train", train)
    r.add_get("/models/jobs/{id}", job_page)
    r.add_post("/models/{id:\\d+}/publish", publish)
    r.add_post("/models/{id:\\d+}/rollback", rollback)
    r.add_get("/api/train/{id}", job_api)
    r.add_get("/api/servers", servers_api)
