"""Soak benchmark (issue 14): the whole seat under mixed chat, voice and callback load for a long while.

Starts every service as `make run` does (actions, Rasa, voice gateway, citizen page, console, callbacks with the
simulated callee) on free ports against one database, then for --minutes (default 30) keeps up:

* chat: whole conversations ending in a ticket, alternately through the citizen page (`/api/chat`, channel
  web) and Rasa's REST webhook (channel rest), --chat-every seconds apart;
* voice: a phone call over AudioSocket every --voice-every seconds (greeting, one spoken turn in the Korean
  test speech, a key, hang-up);
* callbacks: every --close-every seconds the oldest open REST ticket is closed; the callbacks service schedules
  its survey at once (LISTEN/NOTIFY on PostgreSQL) and calls the simulated citizen through the voice gateway.

Measured per service (its process group): resident memory (RSS) after the warm-up (--warmup-min, default a
fifth of the run, at least 1 minute) and at the end, the growth per hour from there, open file descriptors;
errors: chat messages not answered, calls that got no greeting, ERROR lines and tracebacks in each service's
log; and what each service's /metrics counted. No timed assertion: figures to compare.

    .venv/bin/python bench/soak.py --minutes 3                  # a short run
    .venv/bin/python bench/soak.py --db postgresql://...        # default: a fresh SQLite file
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.chat import CONVERSATION, Stack, free_port, percentile, rss_mb  # noqa: E402
from bench.voice import make_speech  # noqa: E402
from ground.settings import Settings  # noqa: E402
from seat import services  # noqa: E402
from voice.phone_sim import SimulatedPhone  # noqa: E402


def open_fds(pgid: int) -> int:
    """Open file descriptors of the processes in process group `pgid`."""
    total = 0
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            total += len(os.listdir(f"/proc/{entry}/fd"))
        except (OSError, IndexError, ValueError):
            continue
    return total


def snapshot(stack: Stack) -> dict[str, dict[str, float]]:
    return {name: {"rss_mb": round(rss_mb(pid)[0], 1), "fds": open_fds(pid)}
            for name, pid in stack.service_pids().items()}


def log_errors(log: Path) -> dict[str, int]:
    """ERROR lines and tracebacks per service, from the launcher's prefixed log."""
    counts: Counter = Counter()
    for line in log.read_text(errors="replace").splitlines():
        name, sep, text = line.partition(" | ")
        if sep and (" ERROR " in text or "Traceback (most recent call last)" in text or text.startswith("ERROR")):
            counts[name.strip()] += 1
    return dict(counts)


class Load:
    def __init__(self) -> None:
        self.chat_ok = self.chat_failed = self.conversations = 0
        self.chat_latency: list[float] = []
        self.calls = self.calls_failed = 0
        self.closed = 0


async def conversation(http: aiohttp.ClientSession, ports: dict, load: Load, via_page: bool) -> None:
    if via_page:
        sender = f"web-{uuid.uuid4()}"
        url = f"http://127.0.0.1:{ports['web']}/api/chat"
    else:
        sender = f"soak-{uuid.uuid4().hex[:12]}"
        url = f"http://127.0.0.1:{ports['rasa']}/webhooks/rest/webhook"
    for text in CONVERSATION:
        started = time.perf_counter()
        try:
            async with http.post(url, json={"sender": sender, "message": text}) as resp:
                await resp.read()
                ok = resp.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            ok = False
        load.chat_latency.append(time.perf_counter() - started)
        load.chat_ok += ok
        load.chat_failed += not ok
    load.conversations += 1


async def phone_call(ports: dict, speech: bytes, load: Load) -> None:
    try:
        async with SimulatedPhone("127.0.0.1", ports["audiosocket"]) as phone:
            await phone.bot_spoke(phone.connected_at, quiet_s=0.5, timeout=60)
            ended = await phone.say(speech)
            await phone.bot_spoke(ended, quiet_s=0.5, timeout=30)
            await phone.press("1")
            await asyncio.sleep(0.5)
        load.calls += 1
    except (TimeoutError, OSError, asyncio.TimeoutError):
        load.calls_failed += 1


def close_one(db_url: str) -> bool:
    """Close the oldest open REST ticket through the store (what an operator does in the console)."""
    from sqlalchemy import select

    from ground.db import create_engine
    from ground.store.tickets import TicketStore
    from ground.tables.tickets import tickets

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            no = conn.execute(select(tickets.c.ticket_no).where(tickets.c.status != "closed",
                                                                tickets.c.channel == "rest")
                              .order_by(tickets.c.id).limit(1)).scalar()
        if no is None:
            return False
        TicketStore(engine).change_status(no, "closed", actor="soak")
        return True
    finally:
        engine.dispose()


async def every(seconds: float, until: float, action) -> None:
    tasks = []
    while time.monotonic() < until:
        tasks.append(asyncio.create_task(action()))
        await asyncio.sleep(seconds)
    await asyncio.gather(*tasks, return_exceptions=True)


async def scrape_all(ports: dict) -> dict[str, dict[str, float]]:
    """A few totals from each service's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    wanted = ("seat_tickets_written_total", "seat_handoffs_total", "seat_voice_calls_total",
              "seat_callback_tries_total", "seat_rasa_messages_total", "seat_web_chat_total",
              "seat_tts_cache_total", "seat_admin_logins_total", "process_open_fds")
    out: dict[str, dict[str, float]] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        for name, port in (("rasa", ports["rasa"]), ("actions", ports["actions"]), ("voice", ports["control"]),
                           ("web", ports["web_metrics"]), ("admin", ports["admin"]),
                           ("callbacks", ports["callbacks_metrics"])):
            try:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    text = await resp.text()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                out[name] = {"error": str(exc) or type(exc).__name__}  # type: ignore[dict-item]
                continue
            totals: Counter = Counter()
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    if s.name in wanted:
                        totals[s.name] += s.value
            out[name] = dict(totals)
    return out


async def run(args) -> dict:
    from ground.rasa_models import ensure_model
    from ground.db import create_engine
    from ground.store import migrate
    from ground.store.knowledge import load_kb
    from ground.store.units import load_units

    def _prepare(url: str) -> None:  # what `seat prepare` does: units and the knowledge base
        engine = create_engine(url)
        try:
            load_units(engine)
            load_kb(engine)
        finally:
            engine.dispose()

    os.chdir(REPO_ROOT)
    model = ensure_model()
    speech = make_speech("ko", "안녕하세요 만나서 반갑습니다")
    ports = {k: free_port() for k in ("rasa", "actions", "audiosocket", "control", "web", "admin", "web_metrics",
                                      "callbacks_metrics")}
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmpdir:
        tmp = Path(tmpdir)
        db = args.db or f"sqlite:///{tmp / 'soak.db'}"
        migrate(db)
        _prepare(db)
        from datetime import datetime, timedelta, timezone
        today = (datetime.now(timezone.utc) + timedelta(hours=8)).date()
        env = {
            "DATABASE_URL": db, "RASA_PORT": str(ports["rasa"]), "ACTION_PORT": str(ports["actions"]),
            "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{ports['actions']}/webhook",
            "AUDIOSOCKET_PORT": str(ports["audiosocket"]), "VOICE_CONTROL_PORT": str(ports["control"]),
            "WEB_PORT": str(ports["web"]), "WEB_HOST": "127.0.0.1", "ADMIN_PORT": str(ports["admin"]),
            "WEB_METRICS_PORT": str(ports["web_metrics"]), "CALLBACKS_METRICS_PORT": str(ports["callbacks_metrics"]),
            "RASA_AUTH_TOKEN": uuid.uuid4().hex, "ACTION_TOKEN": uuid.uuid4().hex, "WEB_PUSH_TOKEN": uuid.uuid4().hex,
            "VOICE_CONTROL_TOKEN": uuid.uuid4().hex, "OPT_OUT_SECRET": uuid.uuid4().hex,
            "ADMIN_SECRET": uuid.uuid4().hex, "ADMIN_DATA_DIR": str(tmp / "admin"), "ADMIN_MODELS_DIR": str(tmp / "models"),
            "WEB_CHAT_PER_MINUTE": "100000", "VOICE_WARM_RECOGNIZERS": "2",
            "CALLBACK_DIALER": "simulated", "CALLBACK_POLL_SECONDS": "5", "CALLBACK_WINDOW_START": "00:00",
            "CALLBACK_WINDOW_END": "23:59:59", "CALLBACK_DELAY_MINUTES": "0",
            "CALLBACK_EXTRA_WORKDAYS": ",".join(str(today + timedelta(days=k)) for k in (-1, 0, 1)),
            "SEAT_LOG_PII": "0", "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONUNBUFFERED": "1",
        }
        settings = Settings.from_env(env)
        endpoints = services.write_endpoints(settings, tmp / "endpoints.yml")
        svcs = [services.action_server(settings), services.rasa_server(settings, model, endpoints),
                services.voice_gateway(settings), services.web_server(settings), services.admin_server(settings),
                services.callback_worker(settings)]
        stack = Stack("soak", svcs, env, ports["rasa"], tmp / "soak.log")
        print(f"== starting every service (log {stack.log})", flush=True)
        started_at = time.monotonic()
        stack.start(timeout=600)
        print(f"   up in {time.monotonic() - started_at:.0f} s; load for {args.minutes:g} min", flush=True)
        load = Load()
        out: dict = {"minutes": args.minutes, "model": model.name, "cpus": os.cpu_count(), "db": db.split(":")[0]}
        try:
            warmup_s = max(60.0, args.minutes * 60 * 0.2) if args.warmup_min is None else args.warmup_min * 60
            begin = time.monotonic()
            until = begin + args.minutes * 60
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
                flip = [False]

                async def chat() -> None:
                    flip[0] = not flip[0]
                    await conversation(http, ports, load, flip[0])

                async def call() -> None:
                    await phone_call(ports, speech, load)

                async def close() -> None:
                    load.closed += await asyncio.to_thread(close_one, db)

                async def sample_after_warmup() -> None:
                    await asyncio.sleep(warmup_s)
                    out["after_warmup"] = snapshot(stack)
                    out["after_warmup_at_min"] = round((time.monotonic() - begin) / 60, 2)
                    print(f"   after warm-up: {json.dumps(out['after_warmup'])}", flush=True)

                await asyncio.gather(every(args.chat_every, until, chat), every(args.voice_every, until, call),
                                     every(args.close_every, until, close), sample_after_warmup())
            await asyncio.sleep(10)  # the last callbacks finish
            out["end"] = snapshot(stack)
            out["end_at_min"] = round((time.monotonic() - begin) / 60, 2)
            out["metrics"] = await scrape_all(ports)
        finally:
            stack.stop()
            out["log_errors"] = log_errors(stack.log)
            if args.keep_log:
                args.keep_log.write_text(stack.log.read_text(errors="replace"))
    hours = (out["end_at_min"] - out["after_warmup_at_min"]) / 60
    out["load"] = {"conversations": load.conversations, "chat_ok": load.chat_ok, "chat_failed": load.chat_failed,
                   "chat_p50_s": percentile(load.chat_latency, 50), "chat_p95_s": percentile(load.chat_latency, 95),
                   "calls": load.calls, "calls_failed": load.calls_failed, "tickets_closed": load.closed}
    out["growth"] = {name: {"rss_mb": round(out["end"][name]["rss_mb"] - out["after_warmup"][name]["rss_mb"], 1),
                            "rss_mb_per_hour": round((out["end"][name]["rss_mb"] - out["after_warmup"][name]["rss_mb"])
                                                     / hours, 1) if hours > 0 else None,
                            "fds": out["end"][name]["fds"] - out["after_warmup"][name]["fds"]}
                     for name in out["end"] if name in out.get("after_warmup", {})}
    return out


def report(out: dict) -> None:
    print(f"\nsoak bench: {out['minutes']:g} min, model {out['model']}, {out['db']}; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'service':<10} {'RSS warm MB':>11} {'RSS end MB':>10} {'growth MB':>9} {'MB/hour':>8} "
          f"{'fds warm':>8} {'fds end':>7} {'log errors':>10}")
    for name, end in out["end"].items():
        warm = out["after_warmup"].get(name, {})
        g = out["growth"].get(name, {})
        print(f"{name:<10} {warm.get('rss_mb', float('nan')):>11.0f} {end['rss_mb']:>10.0f} "
              f"{g.get('rss_mb', float('nan')):>9.1f} {g.get('rss_mb_per_hour') or float('nan'):>8.1f} "
              f"{warm.get('fds', 0):>8} {end['fds']:>7} {out['log_errors'].get(name, 0):>10}")
    ld = out["load"]
    print(f"chat: {ld['conversations']} conversations, {ld['chat_ok']} messages answered, {ld['chat_failed']} not "
          f"(p50 {ld['chat_p50_s']:.2f} s, p95 {ld['chat_p95_s']:.2f} s); calls: {ld['calls']} done, "
          f"{ld['calls_failed']} failed; tickets closed for callbacks: {ld['tickets_closed']}")
    for name, totals in out["metrics"].items():
        print(f"  /metrics {name}: " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                                for k, v in totals.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup-min", type=float, default=None, help="default: a fifth of the run, at least 1")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--chat-every", type=float, default=6.0, help="seconds between new chat conversations")
    parser.add_argument("--voice-every", type=float, default=15.0, help="seconds between phone calls")
    parser.add_argument("--close-every", type=float, default=30.0, help="seconds between ticket closures")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep-log", type=Path, help="copy the services' log here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = asyncio.run(run(args))
    report(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    # SIGTERM / SIGHUP stop the run as Ctrl-C does: the stack it started is stopped on the way out
    for _sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(_sig, signal.default_int_handler)
    sys.exit(main())
