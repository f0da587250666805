"""The page's capture AudioWorklet resamples the microphone to 16 kHz PCM: run it under node."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from web.app import STATIC_DIR

def run_worklet(rate: int, freq: float, amp: float = 0.5, seconds: float = 1.0) -> dict:
    script = f"""
const fs = require("fs");
global.sampleRate = {rate};
const frames = [];
global.AudioWorkletProcessor = class {{ constructor() {{ this.port = {{ postMessage: (b) => frames.push(new Int16Array(b)) }}; }} }};
let Processor = null;
global.registerProcessor = (name, cls) => {{ if (name === "pcm-capture") Processor = cls; }};
eval(fs.readFileSync({json.dumps(str(STATIC_DIR / "capture-worklet.js"))}, "utf8"));
const p = new Processor();
let n = 0;
const total = Math.round({rate} * {seconds});
while (n < total) {{
  const block = new Float32Array(128);
  for (let i = 0; i < 128; i++, n++) block[i] = {amp} * Math.sin(2 * Math.PI * {freq} * n / {rate});
  p.process([[block]]);
}}
const s = [];
for (const f of frames) s.push(...f);
const mid = s.slice(800, s.length - 800);
let zc = 0;
for (let i = 1; i < mid.length; i++) if ((mid[i - 1] < 0) !== (mid[i] < 0)) zc++;
const rms = Math.sqrt(mid.reduce((a, x) => a + x * x, 0) / mid.length) / 32768;
console.log(JSON.stringify({{ frames: frames.length, sizes: [...new Set(frames.map((f) => f.length))],
  samples: s.length, inputs: n, freq: zc / 2 / (mid.length / 16000), rms }}));
"""
    out = subprocess.run(["node", "-e", script], check=True, capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the worklet")


@pytest.mark.parametrize("rate", [48000, 44100, 16000])
def test_speech_band_passes_at_16k_in_20ms_frames(rate):
    r = run_worklet(rate, 1000.0)
    assert r["sizes"] == [320]  # 20 ms frames of 16-bit samples
    assert abs(r["samples"] - r["inputs"] * 16000 / rate) <= 320 + 32  # only the last partial frame is held back
    assert abs(r["freq"] - 1000.0) < 5
    assert abs(r["rms"] - 0.5 / 2 ** 0.5) < 0.01
    assert abs(run_worklet(rate, 3400.0)["rms"] - 0.354) < 0.01  # telephone band intact


@pytest.mark.parametrize("rate", [48000, 44100])
def test_frequencies_above_8k_are_filtered_not_aliased(rate):
    assert run_worklet(rate, 10000.0)["rms"] < 0.354 / 10  # at least 20 dB down
