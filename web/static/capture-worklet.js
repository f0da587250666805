// AudioWorklet: microphone samples at the context rate -> 16 kHz signed 16-bit mono PCM frames.
// Resampling: a windowed-sinc low-pass (cut below the 8 kHz Nyquist of the target rate) evaluated
// at the fractional input positions of each output sample. Posts 20 ms frames (320 samples).
const TARGET_RATE = 16000;
const FRAME = 320;
const HALF_TAPS = 16;

class PcmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / TARGET_RATE;            // input samples per output sample
    this.cutoff = Math.min(1, TARGET_RATE / sampleRate) * 0.9;  // relative to input Nyquist
    this.history = new Float32Array(0);               // input not yet consumed (with filter margin)
    this.pos = HALF_TAPS;                              // next output position within history
    this.frame = new Int16Array(FRAME);
    this.filled = 0;
    this.running = true;
    this.port.onmessage = (e) => { if (e.data === "stop") this.running = false; };
  }

  sinc(x) {
    if (x === 0) return 1;
    const px = Math.PI * x;
    return Math.sin(px) / px;
  }

  sampleAt(buf, t) {
    // Low-passed value of buf at fractional index t (Blackman-windowed sinc).
    const base = Math.floor(t);
    let acc = 0, norm = 0;
    for (let k = base - HALF_TAPS + 1; k <= base + HALF_TAPS; k++) {
      const d = t - k;
      const w = 0.42 + 0.5 * Math.cos(Math.PI * d / HALF_TAPS) + 0.08 * Math.cos(2 * Math.PI * d / HALF_TAPS);
      const h = this.cutoff * this.sinc(this.cutoff * d) * (Math.abs(d) < HALF_TAPS ? w : 0);
      acc += buf[k] * h;
      norm += h;
    }
    return norm ? acc / norm : 0;
  }

  process(inputs) {
    if (!this.running) return false;
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    const buf = new Float32Array(this.history.length + channel.length);
    buf.set(this.history);
    buf.set(channel, this.history.length);
    let t = this.pos;
    while (t + HALF_TAPS < buf.length) {
      const v = Math.max(-1, Math.min(1, this.step === 1 ? buf[Math.round(t)] : this.sampleAt(buf, t)));
      this.frame[this.filled++] = v < 0 ? v * 0x8000 : v * 0x7fff;
      if (this.filled === FRAME) {
        this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
        this.frame = new Int16Array(FRAME);
        this.filled = 0;
      }
      t += this.step;
    }
    const keepFrom = Math.max(0, Math.floor(t) - HALF_TAPS);
    this.history = buf.slice(keepFrom);
    this.pos = t - keepFrom;
    return true;
  }
}

registerProcessor("pcm-capture", PcmCapture);
