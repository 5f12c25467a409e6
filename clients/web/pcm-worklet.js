// AudioWorklet: mono capture -> anti-aliased resampling to 16 kHz -> PCM16 frames of 100 ms.
const TARGET_RATE = 16000;
const FRAME = 1600; // samples per posted frame (100 ms)
const TAPS = 63;

function lowpass(cutoff, taps) {
  // Windowed-sinc low-pass (Blackman), cutoff as a fraction of the input rate.
  const h = new Float32Array(taps);
  const m = (taps - 1) / 2;
  let sum = 0;
  for (let i = 0; i < taps; i++) {
    const x = i - m;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (taps - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (taps - 1));
    h[i] = sinc * w;
    sum += h[i];
  }
  for (let i = 0; i < taps; i++) h[i] /= sum;
  return h;
}

class PcmDownsampler extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / TARGET_RATE; // input samples per output sample
    this.filter = lowpass(0.45 * TARGET_RATE / sampleRate, TAPS);
    this.history = new Float32Array(TAPS); // last TAPS input samples (ring)
    this.pos = 0; // write index into history
    this.filtered = []; // recent filtered samples, for interpolation
    this.phase = 0; // position of the next output sample, in input samples from filtered[0]
    this.out = new Int16Array(FRAME);
    this.n = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const len = channels[0].length;
    for (let i = 0; i < len; i++) {
      let x = 0;
      for (const ch of channels) x += ch[i];
      this.history[this.pos] = x / channels.length;
      this.pos = (this.pos + 1) % TAPS;
      let y = 0;
      for (let k = 0; k < TAPS; k++) y += this.filter[k] * this.history[(this.pos + k) % TAPS];
      this.filtered.push(y);
      while (this.phase + 1 < this.filtered.length) {
        const j = Math.floor(this.phase);
        const f = this.phase - j;
        const v = this.filtered[j] * (1 - f) + this.filtered[j + 1] * f;
        this.out[this.n++] = Math.max(-32768, Math.min(32767, Math.round(v * 32767)));
        if (this.n === FRAME) {
          this.port.postMessage(this.out.buffer, [this.out.buffer]);
          this.out = new Int16Array(FRAME);
          this.n = 0;
        }
        this.phase += this.step;
      }
      // Forget filtered samples before the next output position (never more than we hold:
      // the position stays counted from the next sample to arrive).
      const drop = Math.min(Math.floor(this.phase), this.filtered.length);
      if (drop > 0) { this.filtered.splice(0, drop); this.phase -= drop; }
    }
    return true;
  }
}

registerProcessor("pcm-downsampler", PcmDownsampler);
