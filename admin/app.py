"""The admin console's aiohttp application (app factory)."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import AsyncIterator

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from admin import keys
from admin.config import AdminConfig
from admin.security import SESSION_COOKIE, secure_cookie_over_https, security_middleware
from admin.services.flows import FlowService
from admin.services.publishing import Publisher
from admin.services.training_jobs import TrainingJobs
from admin.views import auth as views_auth
from admin.views import dashboards as views_dashboards
from admin.views import flows as views_flows
from admin.views import handoffs as views_handoffs
from admin.views import kb as views_kb
from admin.views import models as views_models
from admin.views import tickets as views_tickets
from ground.db import create_engine
from ground.settings import HOTLINE_TZ, current

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SESSION_MAX_AGE = 8 * 3600


def _local_time(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(HOTLINE_TZ).strftime(fmt) if value is not None else ""


def _warm_up_rasa() -> None:
    """Import rasa's validator once so the first save is not slow."""
    try:
        import rasa.validator  # noqa: F401
        from rasa.shared.importers.importer import TrainingDataImporter  # noqa: F401
    except Exception:  # pragma: no cover - only makes the first validation faster
        log.exception("rasa import failed")


def create_app(config: AdminConfig | None = None, engine=None, run_tests: bool = True,
               warm_up: bool = True) -> web.Application:
    """The console for `config` (default: from the environment); `engine` shared if given.

    `run_tests`: run the NLU and story tests after training; `warm_up`: import rasa's validator at start.
    """
    config = config or AdminConfig.from_settings(current())
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[keys.CONFIG] = config
    setup_session(app, EncryptedCookieStorage(
        config.cookie_key(), cookie_name=SESSION_COOKIE, max_age=SESSION_MAX_AGE, httponly=True,
        samesite="Strict", secure=config.secure_cookie))
    app.middlewares.insert(0, secure_cookie_over_https)  # outside the session middleware, sees its cookie
    app.middlewares.append(security_middleware)  # after the session middleware setup() added
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                               autoescape=jinja2.select_autoescape(["html"]))
    env.filters["local"] = _local_time
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True}

    async def resources(app: web.Application) -> AsyncIterator[None]:
        own_engine = engine is None
        app[keys.ENGINE] = create_engine(config.settings.db.url) if own_engine else engine
        app[keys.EXECUTOR] = ThreadPoolExecutor(max_workers=4, thread_name_prefix="admin")
        run = lambda func, *args: keys.run_sync(app, func, *args)  # noqa: E731
        app[keys.FLOWS] = FlowService(config.flows_dir, app[keys.ENGINE], run)
        app[keys.JOBS] = TrainingJobs(config, app[keys.ENGINE], run_tests=run_tests)
        app[keys.PUBLISHER] = Publisher(config, app[keys.ENGINE])
        warm = asyncio.get_running_loop().run_in_executor(app[keys.EXECUTOR], _warm_up_rasa) if warm_up else None
        yield
        await app[keys.JOBS].close()
        if warm is not None:
            await warm
        app[keys.EXECUTOR].shutdown(wait=False, cancel_futures=True)
        if own_engine:
            app[keys.ENGINE].dispose()

    app.cleanup_ctx.append(resources)
    app.router.add_static("/static/", HERE / "static", name="static")
    for module in (views_auth, views_flows, views_models, views_kb, views_tickets, views_dashboards,
                   views_handoffs):
        module.add_routes(app)
    return app
