// Live microphone through the real-time WebSocket API (docs/dashscope-protocol.md §4): getUserMedia -> AudioWorklet
// (16 kHz s16le, 100 ms frames) -> binary frames; run-task / finish-task as text frames.
// Browsers cannot set headers on a WebSocket, so the key travels as the subprotocol `bearer.<key>`.

import { getKey } from "./api.js";

const randomHex = () => [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");

export class MicSession {
  /**
   * handlers: onSentence(sentence, isFinal), onLevel(peak 0..1), onError(message), onFinished().
   * Every PCM frame sent is also kept, so the same audio can be transcribed again afterwards.
   */
  constructor({ model, vocabularyId, language }, handlers) {
    this.options = { model, vocabularyId, language };
    this.handlers = handlers;
    this.taskId = randomHex();
    this.frames = [];
    this.started = false;
    this.finished = false;
  }

  async start() {
    if (!navigator.mediaDevices || !window.AudioWorkletNode) {
      // Browsers only offer the microphone to secure pages: https://, or http://localhost / 127.0.0.1.
      throw new Error("this page is not a secure context: open the console over HTTPS or on localhost");
    }
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
    this.context = new AudioContext();
    await this.context.audioWorklet.addModule("/static/pcm-worklet.js");
    this.source = this.context.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.context, "pcm-encoder");
    this.node.port.onmessage = ({ data }) => this.onFrame(data);
    this.source.connect(this.node);

    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.socket = new WebSocket(`${scheme}//${location.host}/api-ws/v1/inference`, ["bearer." + getKey()]);
    this.socket.binaryType = "arraybuffer";
    this.socket.onmessage = (event) => this.onMessage(JSON.parse(event.data));
    this.socket.onerror = () => this.fail("The WebSocket connection failed (is the API key valid?).");
    this.socket.onclose = (event) => {
      if (!this.finished) this.fail(`The connection closed before the task finished (code ${event.code}).`);
      this.release();
    };
    await new Promise((resolve, reject) => {
      this.socket.addEventListener("open", resolve, { once: true });
      this.socket.addEventListener("close", () => reject(new Error("could not connect")), { once: true });
    });
    const parameters = { format: "pcm", sample_rate: 16000 };
    if (this.options.vocabularyId) parameters.vocabulary_id = this.options.vocabularyId;
    if (this.options.language) parameters.language_hints = [this.options.language];
    this.send({
      header: { action: "run-task", task_id: this.taskId, streaming: "duplex" },
      payload: { task_group: "audio", task: "asr", function: "recognition", model: this.options.model, parameters, input: {} },
    });
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  onFrame({ pcm, peak }) {
    this.handlers.onLevel?.(peak);
    if (!this.started || this.stopping) return; // no audio before task-started (docs/dashscope-protocol.md §4.1)
    this.frames.push(new Int16Array(pcm));
    this.socket.send(pcm);
  }

  onMessage(message) {
    const event = message.header && message.header.event;
    if (event === "task-started") this.started = true;
    else if (event === "result-generated") {
      const sentence = message.payload.output.sentence;
      if (!sentence.heartbeat) this.handlers.onSentence(sentence, sentence.end_time !== null && sentence.end_time !== undefined);
    } else if (event === "task-finished") {
      this.finished = true;
      this.socket.close(1000);
      this.handlers.onFinished?.();
    } else if (event === "task-failed") {
      this.finished = true;
      this.fail(`${message.header.error_code}: ${message.header.error_message}`);
    }
  }

  /** Stop recording; the server then sends its last sentences and task-finished. */
  stop() {
    this.stopping = true;
    this.releaseAudio();
    this.send({ header: { action: "finish-task", task_id: this.taskId, streaming: "duplex" }, payload: { input: {} } });
  }

  fail(text) {
    if (this.failed) return;
    this.failed = true;
    this.handlers.onError(text);
    this.release();
  }

  releaseAudio() {
    this.source?.disconnect();
    this.node?.disconnect();
    this.stream?.getTracks().forEach((t) => t.stop());
    if (this.context && this.context.state !== "closed") this.context.close();
  }

  release() {
    this.releaseAudio();
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) this.socket.close(1000);
  }

  /** Everything sent so far as a 16 kHz mono WAV file (for "compare without biasing"). */
  toWav() {
    const samples = this.frames.reduce((n, f) => n + f.length, 0);
    const buffer = new ArrayBuffer(44 + samples * 2);
    const view = new DataView(buffer);
    const ascii = (at, s) => [...s].forEach((c, i) => view.setUint8(at + i, c.charCodeAt(0)));
    ascii(0, "RIFF"); view.setUint32(4, 36 + samples * 2, true); ascii(8, "WAVE");
    ascii(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, 16000, true); view.setUint32(28, 32000, true); view.setUint16(32, 2, true); view.setUint16(34, 16, true);
    ascii(36, "data"); view.setUint32(40, samples * 2, true);
    let at = 44;
    for (const frame of this.frames) {
      new Int16Array(buffer, at, frame.length).set(frame);
      at += frame.length * 2;
    }
    return new File([buffer], "microphone.wav", { type: "audio/wav" });
  }
}
