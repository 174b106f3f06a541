// AudioWorklet: microphone audio at the context's rate -> 16 kHz mono s16le frames of 100 ms.
// Linear interpolation is enough for speech recognition and keeps this file dependency-free.

const TARGET_RATE = 16000;
const FRAME_SAMPLES = 1600; // 100 ms, the frame size DashScope's docs recommend

class PcmEncoder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / TARGET_RATE; // input samples per output sample
    this.position = 0; // fractional read position into `carry` + the current block
    this.carry = new Float32Array(0);
    this.frame = new Int16Array(FRAME_SAMPLES);
    this.filled = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const block = channels[0];
    const input = new Float32Array(this.carry.length + block.length);
    input.set(this.carry);
    input.set(block, this.carry.length);
    let peak = 0;
    while (this.position + 1 < input.length) {
      const i = Math.floor(this.position);
      const frac = this.position - i;
      const value = input[i] * (1 - frac) + input[i + 1] * frac;
      peak = Math.max(peak, Math.abs(value));
      this.frame[this.filled++] = Math.max(-1, Math.min(1, value)) * 0x7fff;
      if (this.filled === FRAME_SAMPLES) {
        this.port.postMessage({ pcm: this.frame.buffer.slice(0), peak });
        this.filled = 0;
        peak = 0;
      }
      this.position += this.step;
    }
    const keep = Math.floor(this.position);
    this.carry = input.slice(keep);
    this.position -= keep;
    return true;
  }
}

registerProcessor("pcm-encoder", PcmEncoder);
