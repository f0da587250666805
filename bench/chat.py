"""Chat benchmark: the full seat (REST → Rasa → action server → tickets) next to a bare `rasa run`.

Both stacks use the same model on this box, one after the other, on free ports. The full seat is started
as `make run` starts it (seat.services: the action server and the Rasa tier, which is several Rasa processes
behind HAProxy when a Redis lock store is given, seat.scaling); the baseline is one plain `rasa run` process
(`python -m rasa run`, the seat's tracker store on a SQLite file, no action server). Each virtual citizen files
the same noise complaint with its own sender id. Reported per stack and concurrency: conversations/s,
messages/s, per-message latency p50/p99, CPU seconds per message (every process of the stack), HTTP 503s (chat
admission), RSS per service before and after the run, then the ratio full/baseline and the box's load average
(other work on the box moves absolute figures; the ratios less).

Chat admission (CHAT_MAX_INFLIGHT / CHAT_MAX_QUEUE, per Rasa process) stays on in the full stack, but its
queue wait is raised (CHAT_QUEUE_TIMEOUT_S=120, CHAT_MAX_QUEUE=256: `--admission default` keeps the defaults)
so that the comparison counts answers, not refusals; 503s are counted and reported either way.

    .venv/bin/python bench/chat.py                       # default run (c=1 and c=20), SQLite, one Rasa process
    .venv/bin/python bench/chat.py --db postgresql://postgres@127.0.0.1:5432/bench \
        --redis redis://127.0.0.1:6379/3 --json out.json  # the seat as `make run` with REDIS_URL (RASA_PROCESSES)
    .venv/bin/python bench/chat.py --profile /tmp/prof    # py-spy the full stack's processes during the last level
    BENCH_PORT_BASE=20000 .venv/bin/python bench/chat.py  # ports from 20000 up (a shared box)
    .venv/bin/python bench/chat.py --conversations 4 --concurrency 1,4 --json out.json
    .venv/bin/python bench/chat.py --rounds 8               # the same levels 8 times in the same processes:
                                                          # RSS per service after each round (warm-up or leak?)
    .venv/bin/python bench/chat.py --rounds 4 --memdebug /tmp/md  # + tracemalloc snapshots (bench/memdiff.py)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from seat import services  # noqa: E402
from seat.launcher import Service  # noqa: E402
from seat.scaling import RasaScaling  # noqa: E402
from ground.memdebug import rss_kb  # noqa: E402
from ground.settings import Settings  # noqa: E402

BENCH_ADMISSION = {"CHAT_QUEUE_TIMEOUT_S": "120", "CHAT_MAX_QUEUE": "256"}

CONVERSATION = [
    "我要投诉，我家旁边的工地每天晚上十一点以后还在施工，吵得根本睡不着",
    "朝阳区望京街道望京西园三区",
    "13911112222",
    "王先生",
    "不需要保密",
    "对，没问题",
]
LAUNCH_SNIPPET = """
import asyncio, json, os, sys
from seat.launcher import Launcher, Service
spec = json.loads(os.environ.pop("STACK_SPEC"))
sys.exit(asyncio.run(Launcher([Service(**s) for s in spec], colour=False).run()))
"""


@dataclass
class LevelResult:
    """One measured run of a stack at one concurrency."""

    stack: str
    concurrency: int
    conversations: int
    messages: int
    seconds: float
    errors: int
    busy: int = 0  # HTTP 503 (chat admission refused the message)
    cpu_s: float = float("nan")
    load: str = ""
    round: int = 1  # with --rounds: which repetition of the levels, in the same processes
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    conv_per_s = property(lambda self: self.conversations / self.seconds)
    msg_per_s = property(lambda self: self.messages / self.seconds)
    p50 = property(lambda self: percentile(self.latencies_ms, 50))
    p99 = property(lambda self: percentile(self.latencies_ms, 99))
    cpu_ms_per_msg = property(lambda self: 1000 * self.cpu_s / self.messages if self.messages else float("nan"))

    def summary(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "latencies_ms"}
        return {**d, "conv_per_s": self.conv_per_s, "msg_per_s": self.msg_per_s, "p50_ms": self.p50, "p99_ms": self.p99,
                "cpu_ms_per_msg": self.cpu_ms_per_msg}


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return ordered[int(rank) - 1]


_PORTS = iter(range(int(os.environ.get("BENCH_PORT_BASE", "0")) or 0, 65536)) if os.environ.get("BENCH_PORT_BASE") else None


def free_port() -> int:
    """A TCP port nothing listens on right now (from BENCH_PORT_BASE up when set, else any)."""
    while True:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", next(_PORTS) if _PORTS else 0))
            except OSError:
                continue
            return s.getsockname()[1]


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pgids: set[int]) -> float:
    """User + system CPU seconds used so far by the live processes of these process groups."""
    total = 0.0
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) in pgids:
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            continue
    return total


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def rss_mb(pgid: int) -> tuple[float, int]:
    """Summed VmRSS (MB) and number of the live processes in process group `pgid`."""
    mem = mem_mb(pgid)
    return mem["rss"], mem["procs"]


def mem_mb(pgid: int) -> dict[str, float]:
    """Summed VmRSS, RssAnon (heap: Python objects, TensorFlow's buffers, malloc arenas) and RssFile (mapped
    files and libraries, paged in as they are first used), in MB, and the number of live processes of group `pgid`."""
    total_kb, count = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}, 0
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            found = rss_kb(entry)
        except (OSError, IndexError, ValueError):
            continue
        if "VmRSS" in found:
            for key in total_kb:
                total_kb[key] += found.get(key, 0)
            count += 1
    return {"rss": total_kb["VmRSS"] / 1024, "anon": total_kb["RssAnon"] / 1024, "file": total_kb["RssFile"] / 1024,
            "procs": count}


class Stack:
    """A launcher subprocess running some services of the seat, logging to a file."""

    def __init__(self, name: str, svcs: list[Service], env: dict[str, str], rasa_port: int, log: Path) -> None:
        self.name, self.svcs, self.env, self.log = name, svcs, env, log
        self.url = f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook"
        self.proc: subprocess.Popen | None = None
        self.rss: dict[str, float] = {}
        self.rss_before: dict[str, float] = {}
        self.rounds: list[dict[str, dict[str, float]]] = []  # memory per service at start and after each round

    def start(self, timeout: float = 1200) -> None:
        """Start the launcher and wait for 'all services are up' in its log."""
        for svc in self.svcs:
            svc.env.update(self.env)
            svc.ready_timeout = timeout
        spec = json.dumps([s.__dict__ for s in self.svcs], default=list)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH_SNIPPET], cwd=REPO_ROOT, stdout=self.log.open("w"),
            stderr=subprocess.STDOUT, env={**os.environ, **self.env, "STACK_SPEC": spec}, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and self.proc.poll() is None:
                if "all services are up" in self.log.read_text(errors="replace"):
                    return
                time.sleep(1)
        except BaseException:  # interrupted while it starts (Ctrl-C, SIGTERM): leave no stack behind
            self.stop()
            raise
        self.stop()
        raise RuntimeError(f"{self.name} stack did not start:\n" + self.log.read_text(errors="replace")[-4000:])

    def service_pids(self) -> dict[str, int]:
        """Service name → pid (= its process group), from the launcher's log."""
        return {m[0]: int(m[1]) for m in re.findall(r"started (\S+) \(pid (\d+)\)", self.log.read_text(errors="replace"))}

    def cpu(self) -> float:
        """CPU seconds used so far by every process of the stack's services (HAProxy included)."""
        return cpu_seconds(set(self.service_pids().values()))

    def memory(self) -> dict[str, tuple[float, int]]:
        """RSS in MB and process count of each service's process group."""
        return {name: rss_mb(pid) for name, pid in self.service_pids().items()}

    def memory_detail(self) -> dict[str, dict[str, float]]:
        """RSS, anonymous and file-backed RSS (MB) of each service's process group."""
        return {name: {k: round(v, 1) for k, v in mem_mb(pid).items()} for name, pid in self.service_pids().items()}

    def dump_memdebug(self) -> None:
        """SIGUSR2 to the Rasa and action server processes: with SEAT_MEMDEBUG_DIR they write a tracemalloc
        snapshot (ground.memdebug)."""
        for name, pid in self.service_pids().items():
            if name.startswith("rasa") or name == "actions":
                try:
                    os.kill(pid, signal.SIGUSR2)
                except ProcessLookupError:
                    pass

    def stop(self) -> None:
        """SIGINT the launcher's process group; the launcher stops its services."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            for pgid in [self.proc.pid, *self.service_pids().values()]:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()


async def converse(http: aiohttp.ClientSession, url: str, latencies: list[float], busy: list[int]) -> int:
    """One citizen's conversation; appends per-message latencies, returns the number of failed messages
    (503s, counted in `busy` too, are failures: the citizen got no answer)."""
    sender, errors = f"bench-{uuid.uuid4().hex}", 0
    for text in CONVERSATION:
        t0 = time.perf_counter()
        try:
            async with http.post(url, json={"sender": sender, "message": text}) as resp:
                await resp.read()
                ok = resp.status == 200
                busy[0] += resp.status == 503
        except (aiohttp.ClientError, asyncio.TimeoutError):
            ok = False
        latencies.append((time.perf_counter() - t0) * 1000)
        errors += not ok
    return errors


async def run_level(url: str, concurrency: int, conversations: int) -> tuple[float, list[float], int, int]:
    """`conversations` conversations by `concurrency` workers: wall seconds, latencies (ms), errors, 503s."""
    remaining, errors, busy = conversations, 0, [0]
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as http:

        async def worker() -> None:
            nonlocal errors, remaining
            while remaining > 0:
                remaining -= 1
                failed = await converse(http, url, latencies, busy)  # not `errors += await ...`: that reads
                errors += failed  # `errors` before the await and loses the other workers' failures meanwhile

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, latencies, errors, busy[0]


def start_profiles(stack: Stack, out_dir: Path, seconds: int) -> list[subprocess.Popen]:
    """py-spy (collapsed stacks, `--format raw`) on the stack's Rasa and action server processes."""
    spy = Path(sys.executable).with_name("py-spy")
    procs = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, pid in stack.service_pids().items():
        if name.startswith("rasa") or name == "actions":
            target = out_dir / f"{stack.name}-{name}.txt"
            procs.append(subprocess.Popen([str(spy), "record", "--pid", str(pid), "--duration", str(seconds),
                                           "--rate", "50", "--format", "raw", "--nonblocking", "-o", str(target)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def bench_stack(stack: Stack, levels: list[tuple[int, int]], warmup: int,
                profile: Path | None = None, rounds: int = 1,
                memdebug: bool = False) -> tuple[list[LevelResult], int]:
    """Start the stack, run warm-up + measured conversations per level (`rounds` times over, in the same
    processes, noting each service's memory after each round), stop it; results and conversations run."""
    print(f"== {stack.name}: starting (log {stack.log})", flush=True)
    stack.start()
    results: list[LevelResult] = []
    total = 0
    try:
        mem = stack.memory()
        stack.rss_before = {k: round(mb, 1) for k, (mb, _) in mem.items()}
        stack.rounds = [stack.memory_detail()]
        print("   rss at start: " + ", ".join(f"{k} {mb:.0f} MB ({n} proc)" for k, (mb, n) in mem.items()), flush=True)
        if memdebug:
            stack.dump_memdebug()
        for rnd in range(1, rounds + 1):
            for i, (conc, n) in enumerate(levels):
                if warmup:
                    asyncio.run(run_level(stack.url, min(conc, warmup), warmup))
                last = rnd == rounds and i == len(levels) - 1
                spies = start_profiles(stack, profile, 40) if profile and last else []
                cpu0 = stack.cpu()
                secs, lat, errs, busy = asyncio.run(run_level(stack.url, conc, n))
                cpu = stack.cpu() - cpu0
                for spy in spies:
                    spy.wait()
                total += warmup + n
                res = LevelResult(stack.name, conc, n, len(lat), secs, errs, busy, cpu, load_average(), rnd, lat)
                results.append(res)
                print(f"   {f'round {rnd} ' if rounds > 1 else ''}c={conc:<3} {n} conversations in {secs:.1f}s  "
                      f"p50 {res.p50:.0f} ms  p99 {res.p99:.0f} ms  cpu {res.cpu_ms_per_msg:.0f} ms/msg  "
                      f"errors {errs} (503: {busy})  load {res.load}", flush=True)
            if memdebug:
                stack.dump_memdebug()
            stack.rounds.append(stack.memory_detail())
            if rounds > 1:
                print(f"   rss after round {rnd}: " + ", ".join(
                    f"{k} {m['rss']:.0f} MB (anon {m['anon']:.0f})" for k, m in stack.rounds[-1].items()), flush=True)
        mem = stack.memory()
        stack.rss = {k: round(mb, 1) for k, (mb, _) in mem.items()}
        print("   rss after run: " + ", ".join(f"{k} {mb:.0f} MB ({n} proc)" for k, (mb, n) in mem.items()), flush=True)
    finally:
        stack.stop()
    return results, total


def count_tickets(url: str) -> int:
    """Rows in the tickets table."""
    from sqlalchemy import func, select

    from ground.db import create_engine
    from ground.tables.tickets import tickets

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(tickets)).scalar_one()
    finally:
        engine.dispose()


def make_stack(name: str, model: Path, db_url: str, tmp: Path, full: bool, redis_url: str | None = None,
               admission: str = "bench") -> Stack:
    """The full seat (actions + the Rasa tier as `make run` builds it) or one bare `rasa run` without actions."""
    action_port = free_port()
    env = {"DATABASE_URL": db_url, "SEAT_LOG_PII": "0", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", "REDIS_URL": redis_url if full and redis_url else ""}
    if full and admission == "bench":
        env.update(BENCH_ADMISSION)
    passed = {k: v for k, v in os.environ.items() if k in ("RASA_PROCESSES", "RASA_SCALING")}
    settings = Settings.from_env({
        **passed, **env, "RASA_PORT": str(free_port()), "ACTION_PORT": str(action_port),
        "RASA_AUTH_TOKEN": uuid.uuid4().hex, "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
    })
    endpoints = services.write_endpoints(settings, tmp / f"endpoints-{name}.yml")
    if full:
        scaling = RasaScaling.of(settings)
        ports = [free_port() for _ in range(scaling.processes)]
        svcs = [services.action_server(settings), *services.rasa_tier(settings, model, endpoints, ports=ports)]
        print(f"== {name}: {scaling.why}", flush=True)
    else:  # Rasa's own SQL tracker store on the SQLite file and in-memory locks: nothing of the seat's
        endpoints.write_text(json.dumps({
            "action_endpoint": {"url": settings.rasa.action_endpoint},
            "tracker_store": {"type": "SQL", "dialect": "sqlite", "db": db_url.removeprefix("sqlite:///")},
        }), encoding="utf-8")
        bare = services.rasa_server(settings, model, endpoints)
        bare.argv = [sys.executable, "-m", "rasa", *bare.argv[3:], "--auth-token", settings.rasa.auth_token or ""]
        svcs = [bare]
    return Stack(name, svcs, env, settings.rasa.port, tmp / f"{name}.log")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database of the full stack (default: fresh SQLite file in a temp dir)")
    parser.add_argument("--redis", help="REDIS_URL of the full stack: Redis locks, several Rasa processes")
    parser.add_argument("--admission", choices=("bench", "default"), default="bench",
                        help="bench: long chat queue wait (no 503 by design); default: the seat's defaults")
    parser.add_argument("--profile", type=Path, help="py-spy the full stack's Rasa and action server into this dir")
    parser.add_argument("--stacks", default="full,baseline", help="which stacks to run (default full,baseline)")
    parser.add_argument("--concurrency", default="1,20", help="comma-separated levels (default 1,20)")
    parser.add_argument("--conversations", type=int, help="measured conversations per level (default 20 at c=1, 60 else)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured conversations before each level")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the levels this many times in the same processes, RSS per service after each "
                             "(growth that stops after a round or two is warm-up; growth every round a leak)")
    parser.add_argument("--memdebug", type=Path,
                        help="full stack: tracemalloc snapshots of Rasa and the action server into this dir at "
                             "start and after each round (SEAT_MEMDEBUG_DIR; compare with bench/memdiff.py)")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    args = parser.parse_args(argv)
    from ground.store import migrate
    from ground.rasa_models import ensure_model

    os.chdir(REPO_ROOT)
    model = ensure_model()
    concs = [int(c) for c in args.concurrency.split(",") if c.strip()]
    levels = [(c, args.conversations or (20 if c == 1 else 60)) for c in concs]
    out: dict = {"model": model.name, "cpus": os.cpu_count(), "warmup": args.warmup, "stacks": {},
                 "admission": BENCH_ADMISSION if args.admission == "bench" else "defaults",
                 "load_before": load_average()}
    print(f"load average before: {out['load_before']} ({os.cpu_count()} CPUs)", flush=True)
    results: list[LevelResult] = []
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmpdir:
        tmp = Path(tmpdir)
        full_db, base_db = args.db or f"sqlite:///{tmp / 'full.db'}", f"sqlite:///{tmp / 'baseline.db'}"
        migrate(full_db)
        migrate(base_db)
        before = count_tickets(full_db)
        wanted = [s.strip() for s in args.stacks.split(",")]
        for name, db, actions in (("full", full_db, True), ("baseline", base_db, False)):
            if name not in wanted:
                continue
            stack = make_stack(name, model, db, tmp, actions, args.redis, args.admission)
            if args.memdebug and actions:
                stack.env["SEAT_MEMDEBUG_DIR"] = str(args.memdebug.resolve())
            res, total = bench_stack(stack, levels, args.warmup, args.profile if actions else None, args.rounds,
                                     bool(args.memdebug and actions))
            results += res
            out["stacks"][name] = {"rss_mb_start": stack.rss_before, "rss_mb": stack.rss,
                                   "conversations_run": total, "memory_per_round": stack.rounds}
            if name == "full":
                written = count_tickets(full_db) - before
                print(f"   tickets written: {written}/{total}", flush=True)
                out["stacks"][name]["tickets_written"] = written
    out["load_after"] = load_average()
    print_table(results)
    print_rss(out["stacks"])
    if args.rounds > 1:
        print_rounds(out["stacks"])
    print(f"load average before {out['load_before']}, after {out['load_after']} ({os.cpu_count()} CPUs)")
    out["results"] = [r.summary() for r in results]
    out["ratio_full_over_baseline"] = ratios(results)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
        print(f"results written to {args.json}")
    full = out["stacks"].get("full")
    tickets_ok = full is None or full["tickets_written"] == full["conversations_run"]
    return 0 if tickets_ok and not any(r.errors for r in results if r.stack == "full") else 1


def ratios(results: list[LevelResult]) -> dict[str, dict[str, float]]:
    """full/baseline per concurrency for each metric."""
    by = {(r.stack, r.concurrency): r for r in results if r.round == 1}
    out = {}
    for (stack, conc), full in by.items():
        base = by.get(("baseline", conc))
        if stack == "full" and base:
            out[f"c={conc}"] = {m: getattr(full, m) / getattr(base, m)
                                for m in ("conv_per_s", "msg_per_s", "p50", "p99", "cpu_ms_per_msg")}
    return out


def print_table(results: list[LevelResult]) -> None:
    """The results table and the full/baseline ratios."""
    print(f"\n{'stack':<9} {'round':>5} {'conc':>4} {'convs':>5} {'msgs':>5} {'conv/s':>7} {'msg/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'cpu ms/msg':>10} {'errors':>6} {'503':>5}")
    for r in sorted(results, key=lambda r: (r.concurrency, r.stack != "full", r.round)):
        print(f"{r.stack:<9} {r.round:>5} {r.concurrency:>4} {r.conversations:>5} {r.messages:>5} {r.conv_per_s:>7.2f} "
              f"{r.msg_per_s:>7.2f} {r.p50:>8.0f} {r.p99:>8.0f} {r.cpu_ms_per_msg:>10.0f} {r.errors:>6} {r.busy:>5}")
    print("\nratio full/baseline, first round (targets at c=20: msg/s >= 1.5, p99 <= 1.0, cpu/msg <= 1.2)")
    print(f"{'conc':>4} {'conv/s':>7} {'msg/s':>7} {'p50':>7} {'p99':>7} {'cpu/msg':>8}")
    for key, m in ratios(results).items():
        print(f"{key[2:]:>4} {m['conv_per_s']:>7.2f} {m['msg_per_s']:>7.2f} {m['p50']:>7.2f} {m['p99']:>7.2f} "
              f"{m['cpu_ms_per_msg']:>8.2f}")


def print_rss(stacks: dict) -> None:
    """RSS per service at start and after the run (MB)."""
    print("\nRSS per service, MB (at start -> after the run)")
    for name, info in stacks.items():
        print(f"{name:<9} " + ", ".join(f"{svc} {info['rss_mb_start'].get(svc, float('nan')):.0f} -> {mb:.0f}"
                                        for svc, mb in info["rss_mb"].items()))


def round_growth(rounds: list[dict[str, dict[str, float]]], key: str = "rss") -> dict[str, list[float]]:
    """Per service: the growth (MB) of `key` over each round (after round k minus after round k-1)."""
    return {svc: [round(rounds[k][svc][key] - rounds[k - 1][svc][key], 1) for k in range(1, len(rounds))
                  if svc in rounds[k - 1] and svc in rounds[k]]
            for svc in rounds[-1]} if len(rounds) > 1 else {}


def print_rounds(stacks: dict) -> None:
    """RSS (and its anonymous part) per service at start and after each round, MB, with the growth per round."""
    for name, info in stacks.items():
        rounds = info.get("memory_per_round") or []
        if len(rounds) < 2:
            continue
        svcs = list(rounds[-1])
        print(f"\n{name}: RSS per service after each round, MB (anon = heap; +growth over that round)")
        print(f"{'round':>5} " + " ".join(f"{svc:>24}" for svc in svcs))
        for k, mem in enumerate(rounds):
            cells = []
            for svc in svcs:
                m = mem.get(svc)
                prev = rounds[k - 1].get(svc) if k else None
                grow = f" {m['rss'] - prev['rss']:+5.0f}" if m and prev else "      "
                cells.append(f"{m['rss']:>7.0f} (anon {m['anon']:>5.0f}){grow}" if m else f"{'-':>24}")
            print(f"{('start' if k == 0 else k):>5} " + " ".join(f"{c:>24}" for c in cells))


if __name__ == "__main__":
    sys.exit(main())
