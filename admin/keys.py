"""Typed keys of what the admin app holds (aiohttp web.AppKey)."""
from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from sqlalchemy.engine import Engine

from admin.config import AdminConfig

CONFIG = web.AppKey("config", AdminConfig)
ENGINE = web.AppKey("engine", Engine)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
FLOWS = web.AppKey("flows", object)       # admin.services.flows.FlowService
JOBS = web.AppKey("jobs", object)         # admin.services.training_jobs.TrainingJobs
PUBLISHER = web.AppKey("publisher", object)  # admin.services.publishing.Publisher


async def run_sync(app: web.Application, func, *args):
    """Run a blocking call (database, files) in the app's thread pool."""
    return await asyncio.get_running_loop().run_in_executor(app[EXECUTOR], functools.partial(func, *args))
