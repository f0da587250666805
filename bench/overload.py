"""Overload benchmark (issue 14): chat at 3x capacity while four phone calls run.

Starts the action server and Rasa (as the seat starts them, with chat admission: CHAT_MAX_INFLIGHT,
CHAT_MAX_QUEUE, CHAT_QUEUE_TIMEOUT_S) on free ports, and an in-process voice gateway (real Vosk recognition
with the Korean test model, real espeak-ng speech) talking to that Rasa. Then, in one command:

1. capacity: CHAT_MAX_INFLIGHT chat clients back to back for --capacity-s seconds: chat messages/s Rasa
   serves (the capacity);
2. voice alone: four callers (--calls) call again and again for --seconds, two spoken turns each;
3. voice + flood: the same calls while chat messages arrive open-loop at --factor (3) x capacity.

Printed: voice turn latency p50/p95 (end of the caller's speech -> first bot audio), the dialogue's share, calls
handed to a person because the dialogue answered too late (VOICE_DIALOGUE_TIMEOUT_S) or not at all, and for the
flood: chat answered / refused with 503 (and how fast the 503s came) / failed; the ratios flood/alone.
`--without-admission` adds a fourth run on a restarted Rasa with admission effectively off, to show what the
flood does without it. No timed assertion: figures to compare within one run.

    .venv/bin/python bench/overload.py                         # ~8 minutes on a 2-core box
    .venv/bin/python bench/overload.py --seconds 30 --capacity-s 10
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.chat import CONVERSATION, Stack, free_port, percentile  # noqa: E402
from bench.voice import TimedRasaClient, make_speech  # noqa: E402
from ground.settings import Settings  # noqa: E402
from seat import services  # noqa: E402
from voice import asr  # noqa: E402
from voice.control import CallRegistry  # noqa: E402
from voice.gateway import GatewayConfig, VoiceGateway  # noqa: E402
from voice.phone_sim import SimulatedPhone  # noqa: E402


@dataclass
class VoiceRun:
    turns: list[float] = field(default_factory=list)  # seconds, end of speech -> first bot audio
    dialogue: list[float] = field(default_factory=list)  # the dialogue's answer time
    calls: int = 0
    late_handoffs: int = 0  # handed over because the dialogue was too slow or down (the gateway's own handoffs)
    no_answer: int = 0  # a turn the caller got no audio for within 30 s
    rtf_wall: list[float] = field(default_factory=list)  # recognition wall time / audio time, per call


@dataclass
class ChatRun:
    sent: int = 0
    ok: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)  # 503 with the Mandarin sentence
    failed: int = 0
    seconds: float = 0.0


class LateHandoffs:
    """The gateway's own handoff recorder: only 'dialogue unavailable' (late or no answer) reaches it."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, call_id: str, reason: str) -> None:
        self.count += 1


async def caller_loop(gw: VoiceGateway, speech: bytes, turns: int, until: float, run: VoiceRun) -> None:
    """Call, wait for the greeting, speak `turns` times (timing each answer), hang up; again until `until`."""
    while time.monotonic() < until:
        async with SimulatedPhone("127.0.0.1", gw.audiosocket_port) as phone:
            try:
                await phone.bot_spoke(phone.connected_at, quiet_s=0.5, timeout=60)
            except TimeoutError:
                run.no_answer += 1
                continue
            session = gw.sessions.get(str(phone.uuid))
            for _ in range(turns):
                if phone.hung_up.is_set():
                    break
                ended = await phone.say(speech)
                try:
                    first = await phone.bot_spoke(ended, quiet_s=0.5, timeout=30)
                    run.turns.append(first - ended)
                except TimeoutError:
                    run.no_answer += 1
            run.calls += 1
            stats = session.asr_stats() if session is not None else {"audio_s": 0}
            if stats["audio_s"]:
                run.rtf_wall.append(stats["wall_s"] / stats["audio_s"])
        await asyncio.sleep(0.2)


async def voice_run(gw: VoiceGateway, speech: bytes, calls: int, turns: int, seconds: float) -> VoiceRun:
    run = VoiceRun()
    timed: TimedRasaClient = gw.rasa  # type: ignore[assignment]
    answered, late = len(timed.times), gw.record_handoff.count
    until = time.monotonic() + seconds
    await asyncio.gather(*(caller_loop(gw, speech, turns, until, run) for _ in range(calls)))
    run.dialogue = timed.times[answered:]
    run.late_handoffs = gw.record_handoff.count - late
    return run


async def chat_message(http: aiohttp.ClientSession, url: str, run: ChatRun) -> None:
    """One citizen's first message (a complaint: the intake form starts, the action server works)."""
    run.sent += 1
    started = time.perf_counter()
    try:
        async with http.post(url, json={"sender": f"flood-{uuid.uuid4().hex}", "message": CONVERSATION[0]}) as resp:
            body = await resp.text()
            took = time.perf_counter() - started
            if resp.status == 200:
                run.ok.append(took)
            elif resp.status == 503 and "当前咨询人数较多" in body and resp.headers.get("Retry-After"):
                run.busy.append(took)
            else:
                run.failed += 1
    except (aiohttp.ClientError, asyncio.TimeoutError):
        run.failed += 1


async def capacity(url: str, clients: int, seconds: float) -> float:
    """Chat messages/s with `clients` back-to-back clients (as many as admission lets in at once)."""
    run = ChatRun()
    until = time.monotonic() + seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        async def client() -> None:
            while time.monotonic() < until:
                await chat_message(http, url, run)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return len(run.ok) / elapsed


def flood_in_process(url: str, rate: float, seconds: float) -> ChatRun:
    """`flood` in a process of its own (run from a ProcessPoolExecutor), so that the chat clients do not share an
    event loop and the GIL with the voice gateway and the simulated phones of this process."""
    return asyncio.run(flood(url, rate, seconds))


async def flood(url: str, rate: float, seconds: float) -> ChatRun:
    """Open-loop chat arrivals at `rate` per second for `seconds` (each waits for its own answer)."""
    run = ChatRun()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        tasks: list[asyncio.Task] = []
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < seconds:
            tasks.append(asyncio.create_task(chat_message(http, url, run)))
            n += 1
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        await asyncio.gather(*tasks)
        run.seconds = time.monotonic() - started
    return run


def make_stack(model: Path, db_url: str, tmp: Path, name: str, load_env: dict[str, str]) -> tuple[Stack, str]:
    action_port, rasa_port = free_port(), free_port()
    token = uuid.uuid4().hex
    settings = Settings.from_env({
        "DATABASE_URL": db_url, "RASA_PORT": str(rasa_port), "ACTION_PORT": str(action_port),
        "RASA_AUTH_TOKEN": token, "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
    })
    endpoints = services.write_endpoints(settings, tmp / f"endpoints-{name}.yml")
    svcs = [services.action_server(settings), services.rasa_server(settings, model, endpoints)]
    env = {"DATABASE_URL": db_url, "SEAT_LOG_PII": "0", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **load_env}
    return Stack(name, svcs, env, rasa_port, tmp / f"{name}.log"), token


def summary(v: VoiceRun) -> dict:
    return {"calls": v.calls, "turns": len(v.turns), "turn_p50_s": percentile(v.turns, 50),
            "turn_p95_s": percentile(v.turns, 95), "dialogue_p50_s": percentile(v.dialogue, 50),
            "dialogue_p95_s": percentile(v.dialogue, 95), "late_handoffs": v.late_handoffs,
            "turns_without_answer": v.no_answer, "asr_rtf_wall_p50": percentile(v.rtf_wall, 50),
            "asr_rtf_wall_max": max(v.rtf_wall) if v.rtf_wall else float("nan")}


def chat_summary(c: ChatRun) -> dict:
    return {"sent": c.sent, "rate_per_s": c.sent / c.seconds if c.seconds else 0.0, "answered": len(c.ok),
            "busy_503": len(c.busy), "failed": c.failed, "answered_p50_s": percentile(c.ok, 50),
            "answered_p95_s": percentile(c.ok, 95), "busy_p50_s": percentile(c.busy, 50),
            "busy_p95_s": percentile(c.busy, 95), "busy_max_s": max(c.busy) if c.busy else float("nan")}


async def bench_one(stack: Stack, token: str, args, speech: bytes, model, out: dict, label: str,
                    chat_rate: float | None) -> float:
    rasa_base = stack.url.rsplit("/webhooks/", 1)[0]
    timed = TimedRasaClient(rasa_base)
    timed._token = token
    gw = VoiceGateway(GatewayConfig(rasa_url=rasa_base, audiosocket_port=0, control_port=0,
                                    warm_recognizers=args.calls, rasa_token=token), model=model,
                      registry=CallRegistry(), rasa=timed, record_handoff=LateHandoffs())
    await gw.start()
    try:
        await gw.warm_up()
        await gw.warm_recognizer()
        await gw.warm_dialogue()
        rate = chat_rate
        if rate is None:
            cap = await capacity(stack.url, args.inflight, args.capacity_s)
            print(f"   chat capacity: {cap:.1f} messages/s with {args.inflight} clients back to back", flush=True)
            out["chat_capacity_per_s"] = cap
            rate = args.factor * cap
            alone = await voice_run(gw, speech, args.calls, args.turns, args.seconds)
            out["voice_alone"] = summary(alone)
            print(f"   voice alone: {json.dumps(out['voice_alone'])}", flush=True)
        voice_task = asyncio.create_task(voice_run(gw, speech, args.calls, args.turns, args.seconds))
        with ProcessPoolExecutor(max_workers=1) as pool:
            chat = await asyncio.get_running_loop().run_in_executor(pool, flood_in_process, stack.url, rate,
                                                                    args.seconds)
        under = await voice_task
        out[f"voice_{label}"] = summary(under)
        out[f"chat_{label}"] = chat_summary(chat)
        print(f"   voice {label}: {json.dumps(out[f'voice_{label}'])}", flush=True)
        print(f"   chat {label}: {json.dumps(out[f'chat_{label}'])}", flush=True)
        return rate
    finally:
        await gw.stop()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--turns", type=int, default=2, help="spoken turns per call (Korean speech: the bot asks "
                                                              "again, then hands over: keep 2)")
    parser.add_argument("--seconds", type=float, default=90.0, help="length of the voice runs and the flood")
    parser.add_argument("--capacity-s", type=float, default=20.0)
    parser.add_argument("--factor", type=float, default=3.0, help="chat arrival rate / capacity")
    parser.add_argument("--inflight", type=int, default=Settings.from_env({}).load.chat_max_inflight)
    parser.add_argument("--queue", type=int, default=Settings.from_env({}).load.chat_max_queue)
    parser.add_argument("--queue-timeout", type=float, default=Settings.from_env({}).load.chat_queue_timeout_s)
    parser.add_argument("--without-admission", action="store_true", help="also flood a Rasa without admission")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from ground.rasa_models import ensure_model
    from ground.store import migrate

    os.chdir(REPO_ROOT)
    model_file = ensure_model()
    model = await asyncio.get_running_loop().run_in_executor(None, asr.load_model, asr.packaged_test_model_path())
    speech = make_speech("ko", "안녕하세요 만나서 반갑습니다")
    out: dict = {"model": model_file.name, "cpus": os.cpu_count(), "calls": args.calls, "turns": args.turns,
                 "seconds": args.seconds, "factor": args.factor,
                 "admission": {"CHAT_MAX_INFLIGHT": args.inflight, "CHAT_MAX_QUEUE": args.queue,
                               "CHAT_QUEUE_TIMEOUT_S": args.queue_timeout}}
    load_env = {"CHAT_MAX_INFLIGHT": str(args.inflight), "CHAT_MAX_QUEUE": str(args.queue),
                "CHAT_QUEUE_TIMEOUT_S": str(args.queue_timeout)}
    with tempfile.TemporaryDirectory(prefix="bench-overload-") as tmpdir:
        tmp = Path(tmpdir)
        db = args.db or f"sqlite:///{tmp / 'overload.db'}"
        migrate(db)
        stack, token = make_stack(model_file, db, tmp, "admitted", load_env)
        print(f"== starting actions + Rasa with chat admission {load_env} (log {stack.log})", flush=True)
        stack.start()
        try:
            rate = await bench_one(stack, token, args, speech, model, out, "flood", None)
        finally:
            stack.stop()
        if args.without_admission:
            off = {"CHAT_MAX_INFLIGHT": "100000", "CHAT_MAX_QUEUE": "0", "CHAT_QUEUE_TIMEOUT_S": "60"}
            stack, token = make_stack(model_file, db, tmp, "unlimited", off)
            print(f"== restarting Rasa without admission (log {stack.log})", flush=True)
            stack.start()
            try:
                await bench_one(stack, token, args, speech, model, out, "flood_without_admission", rate)
            finally:
                stack.stop()
    alone, under = out["voice_alone"], out["voice_flood"]
    out["ratio_flood_over_alone"] = {"turn_p95": under["turn_p95_s"] / alone["turn_p95_s"],
                                     "dialogue_p95": under["dialogue_p95_s"] / alone["dialogue_p95_s"]}
    print(f"\noverload bench: chat at {args.factor:g}x capacity ({out['chat_flood']['rate_per_s']:.1f}/s) for "
          f"{args.seconds:g} s while {args.calls} callers call; load average {os.getloadavg()[0]:.1f}")
    print(f"{'run':<28} {'turns':>5} {'turn p50':>8} {'turn p95':>8} {'dlg p95':>8} {'late handoffs':>13} "
          f"{'no answer':>9} {'ASR RTF wall p50/max':>20}")
    for name in [k for k in out if k.startswith("voice_")]:
        v = out[name]
        print(f"{name:<28} {v['turns']:>5} {v['turn_p50_s']:>7.2f}s {v['turn_p95_s']:>7.2f}s "
              f"{v['dialogue_p95_s']:>7.2f}s {v['late_handoffs']:>13} {v['turns_without_answer']:>9} "
              f"{v['asr_rtf_wall_p50']:>10.2f}/{v['asr_rtf_wall_max']:.2f}")
    for name in [k for k in out if k.startswith("chat_") and k != "chat_capacity_per_s"]:
        c = out[name]
        print(f"{name}: sent {c['sent']}, answered {c['answered']} (p50 {c['answered_p50_s']:.2f}s, p95 "
              f"{c['answered_p95_s']:.2f}s), 503 {c['busy_503']} (p50 {c['busy_p50_s']:.2f}s, max "
              f"{c['busy_max_s']:.2f}s), failed {c['failed']}")
    r = out["ratio_flood_over_alone"]
    print(f"ratio flood/alone: voice turn p95 x{r['turn_p95']:.2f}, dialogue p95 x{r['dialogue_p95']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    # SIGTERM / SIGHUP stop the run as Ctrl-C does: the stacks it started are stopped on the way out
    for _sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(_sig, signal.default_int_handler)
    sys.exit(asyncio.run(main()))
