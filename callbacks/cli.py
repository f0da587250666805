"""`seat callbacks ...` and `seat serve callbacks`: the worker process and the monthly report."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

import aiohttp

from callbacks.callee import SimulatedCalleeDialer
from callbacks.chat import ChatConfig, ChatDelivery
from callbacks.dialers import AriConfig, AriDialer
from callbacks.health import start_health
from callbacks.metrics import watch_queue_depth
from callbacks.notify import ClosureListener
from callbacks.report import build_report
from callbacks.retention import purge_daily
from callbacks.worker import CallbackWorker
from ground.db import create_engine
from ground.metrics import start_metrics_site
from ground.masking import mask_phone
from ground.settings import REPO_ROOT, Settings, push_token, rasa_auth_token, voice_control_token
from ground.store.survey_tries import opt_out, schedule_closed
from ground.tables.tickets import utcnow
from wechat.client import CustomerService

log = logging.getLogger("callbacks")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="callbacks_command", required=True)
    report = sub.add_parser("report", help="the three rates per unit for a month: table, CSV and PNG charts")
    report.add_argument("--month", required=True, help="e.g. 2026-10")
    report.add_argument("--out", type=Path, default=REPO_ROOT / "reports", help="directory for CSV and PNG files")
    report.add_argument("--weight", type=float, default=None, help="weight of 基本满意 (default 0.8)")
    opt = sub.add_parser("opt-out", help="never call this phone number back")
    opt.add_argument("phone")
    sub.add_parser("schedule", help="one scheduling pass: closed tickets without a survey get their first try")
    sub.add_parser("serve", help="run the callback workers (what `seat serve callbacks` starts)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    policy = settings.callbacks.policy
    if args.callbacks_command == "serve":
        return asyncio.run(serve(settings, policy))
    engine = create_engine(settings.db.url)
    try:
        if args.callbacks_command == "opt-out":
            opt_out(engine, args.phone, utcnow())
            print(f"callbacks: {mask_phone(args.phone)} will not be called back")
            return 0
        if args.callbacks_command == "schedule":
            result = schedule_closed(engine, policy, utcnow())
            print(f"callbacks: {result.scheduled} scheduled, {result.skipped} not surveyed")
            return 0

        weight = policy.satisfaction_weight if args.weight is None else args.weight
        try:
            table, files = build_report(engine, args.month, args.out, weight=weight)
        except ValueError as exc:
            print(f"error: {exc}")
            return 2
        print(table)
        for path in files:
            print(f"wrote {path}")
        return 0
    finally:
        engine.dispose()


def _dialer(session, settings: Settings):
    """From CALLBACK_DIALER: 'ari' (needs ARI_URL, ARI_USER, ARI_PASSWORD), 'simulated' (demo callee that keys
    1 to every question), or none (default: voice tries wait, chat surveys still run)."""
    kind = settings.callbacks.dialer
    gateway = settings.callbacks.gateway_url
    if kind == "ari":
        ari = settings.callbacks.ari
        if ari.missing():
            raise SystemExit(f"CALLBACK_DIALER=ari needs {', '.join(ari.missing())}")
        cfg = AriConfig(url=ari.url, username=ari.user, password=ari.password, endpoint=ari.endpoint,
                        context=ari.context)
        return AriDialer(cfg, gateway, session, gateway_token=voice_control_token(settings))
    if kind == "simulated":
        return SimulatedCalleeDialer(gateway, "127.0.0.1", settings.voice.audiosocket_port, session,
                                     keys=settings.callbacks.simulated_keys,
                                     gateway_token=voice_control_token(settings))
    if kind:
        raise SystemExit(f"CALLBACK_DIALER must be 'ari' or 'simulated', not {kind!r}")
    return None


def _wechat_customer_service(settings: Settings):
    """WeChat surveys go out as customer-service messages when WECHAT_APP_ID/SECRET are set."""
    wechat = settings.wechat
    return CustomerService.from_settings(wechat) if wechat.can_push else None


async def _metrics_site(settings: Settings):
    """/metrics on CALLBACKS_METRICS_PORT (METRICS_HOST, loopback by default); None when the port is taken."""
    host, port = settings.metrics.host, settings.metrics.callbacks_port
    try:
        runner, port = await start_metrics_site(host, port)
    except OSError as exc:
        log.error("callbacks: metrics not served on %s:%s: %s (set CALLBACKS_METRICS_PORT)", host, port, exc)
        return None
    log.info("callbacks: metrics on http://%s:%d/metrics", host, port)
    return runner


async def serve(settings: Settings, policy) -> int:
    engine = create_engine(settings.db.url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    count = settings.callbacks.workers
    if engine.dialect.name == "sqlite":  # no SKIP LOCKED: one worker (its claims are atomic UPDATEs)
        count = 1
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        chat = ChatDelivery(ChatConfig(rasa_url=settings.rasa.url,  # RASA_URL
                                       rasa_token=rasa_auth_token(settings),
                                       push_url=settings.callbacks.web_push_url,
                                       push_token=push_token(settings)), session,
                            wechat=_wechat_customer_service(settings))
        dialer = _dialer(session, settings)
        workers = [CallbackWorker(engine, dialer, policy, chat=chat) for _ in range(count)]
        log.info("callbacks: %d workers, dialer %s, window %s-%s", count, type(dialer).__name__ if dialer else "none",
                 policy.window.start, policy.window.end)
        poll = settings.callbacks.poll_seconds

        wake = asyncio.Event()
        listener = ClosureListener(engine, wake, loop) if ClosureListener.supported(engine) else None
        if listener is not None:
            listener.start()
        running = asyncio.gather(*(w.run(stop, schedule_every_s=poll, schedules=i == 0, wake=wake)
                                   for i, w in enumerate(workers)),
                                 purge_daily(engine, settings.privacy.retention_days, stop),
                                 watch_queue_depth(engine, stop, min(poll, 15.0)))
        health = await start_health(engine, settings.callbacks.health_port, lambda: not running.done(), count)
        metrics_site = await _metrics_site(settings)
        try:
            await running
        finally:
            if listener is not None:
                listener.stop()
            if health is not None:
                await health.cleanup()
            if metrics_site is not None:
                await metrics_site.cleanup()
    engine.dispose()
    return 0
