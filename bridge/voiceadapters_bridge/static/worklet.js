// AudioWorklet processors of the bridge page (docs/bridge.md#the-page).
// The page's AudioContext runs at 16 kHz, the bridge's audio rate, so
// neither side resamples here: the browser converts the microphone.

const FRAME = 320; // 20 ms at 16 kHz

// Microphone → 16-bit PCM frames of 20 ms, posted to the page.
class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.frame = new Int16Array(FRAME);
    this.fill = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      const s = Math.max(-1, Math.min(1, channel[i]));
      this.frame[this.fill++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      if (this.fill === FRAME) {
        this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
        this.frame = new Int16Array(FRAME);
        this.fill = 0;
      }
    }
    return true;
  }
}

// Agent audio (16-bit PCM chunks from the page) → the speakers. A "flush"
// message drops what is queued (barge-in); a {turn} message marks where a
// turn's audio starts. What was really rendered is posted back in chunks,
// so the page can show (and a test can check) what the user heard, with the
// playback position in the current turn ({turn, seconds}) for the bridge.
class PlayerProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = [];
    this.offset = 0;
    this.played = [];
    this.playedCount = 0;
    this.turn = null;
    this.turnPlayed = 0;
    this.port.onmessage = (event) => {
      if (event.data === "flush") {
        this.queue = [];
        this.offset = 0;
      } else if (event.data instanceof ArrayBuffer) {
        this.queue.push(new Int16Array(event.data));
      } else if (event.data && "turn" in event.data) {
        this.queue.push({ turn: event.data.turn });
      }
    };
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    let written = 0;
    while (written < out.length && this.queue.length) {
      const chunk = this.queue[0];
      if (!(chunk instanceof Int16Array)) {
        this.turn = chunk.turn; // a turn's audio starts here
        this.turnPlayed = 0;
        this.queue.shift();
        continue;
      }
      const n = Math.min(out.length - written, chunk.length - this.offset);
      for (let i = 0; i < n; i++) {
        const s = chunk[this.offset + i];
        out[written + i] = s / 0x8000;
      }
      this.played.push(chunk.slice(this.offset, this.offset + n));
      written += n;
      this.turnPlayed += n;
      this.offset += n;
      if (this.offset === chunk.length) {
        this.queue.shift();
        this.offset = 0;
      }
    }
    for (let i = written; i < out.length; i++) out[i] = 0;
    if (written) {
      this.playedCount += written;
      if (this.playedCount % 1600 < written || !this.queue.length) this.report();
    }
    return true;
  }

  report() {
    if (!this.played.length) return;
    let total = 0;
    for (const p of this.played) total += p.length;
    const joined = new Int16Array(total);
    let at = 0;
    for (const p of this.played) {
      joined.set(p, at);
      at += p.length;
    }
    this.played = [];
    this.port.postMessage(joined.buffer, [joined.buffer]);
    this.port.postMessage({ turn: this.turn, seconds: this.turnPlayed / sampleRate });
  }
}

registerProcessor("bridge-capture", CaptureProcessor);
registerProcessor("bridge-player", PlayerProcessor);
