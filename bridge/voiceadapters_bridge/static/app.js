// The bridge page: microphone → the bridge's /browser WebSocket → the agent,
// and the agent's audio, transcript and events back (docs/bridge.md#the-page).
// Protocol: binary frames are 16-bit PCM mono 16 kHz both ways; text frames
// are JSON (normalized events from the bridge; commands from the page).

const RATE = 16000;
const $ = (id) => document.getElementById(id);

// What the page did, for people and for tests (read-only for them).
const state = {
  status: "idle",
  ready: null,
  events: [],
  transcript: [],
  playedSamples: 0,
  played: [], // Int16Array chunks the player rendered, most recent 60 s
  sentFrames: 0,
  playReports: 0,
  closed: null,
};
window.bridgePage = state;

let ws = null;
let ctx = null;
let mic = null;
let player = null;

function setStatus(text) {
  state.status = text;
  $("status").textContent = text;
}

function logEvent(event) {
  state.events.push(event);
  if (state.events.length > 500) state.events.shift();
  const line = document.createElement("div");
  line.textContent = JSON.stringify(event);
  $("events").prepend(line);
}

function say(who, text) {
  state.transcript.push({ who, text });
  const p = document.createElement("p");
  p.className = who;
  p.textContent = `${who === "user" ? "You" : "Agent"}: ${text}`;
  $("transcript").append(p);
}

// Page settings ride in the fragment (never sent to a server):
// #token=… and, for tests or a headset, aec=0 (no echo cancellation).
const hash = new URLSearchParams(location.hash.slice(1));

function token() {
  return $("token").value || hash.get("token") || "";
}

function bridgeUrl() {
  // Agent options the bridge allows may ride in the page's own query.
  const params = new URLSearchParams(location.search);
  params.set("token", token());
  // Beside the page's folder, so that a bridge mounted under a prefix works.
  const url = new URL("../browser", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = params.toString();
  url.hash = "";
  return url.toString();
}

// The playback position in the current turn, sent to the bridge at most
// twice a second ({"type":"played"}): providers that keep the agent's reply
// in memory truncate it to what was heard when the user barges in.
let lastReport = 0;
function onPosition(position) {
  const now = performance.now();
  if (now - lastReport < 500 || !ws || ws.readyState !== WebSocket.OPEN) return;
  lastReport = now;
  ws.send(JSON.stringify({ type: "played", turn_id: position.turn, seconds: position.seconds }));
  state.playReports++;
}

function onPlayed(buffer) {
  const chunk = new Int16Array(buffer);
  state.playedSamples += chunk.length;
  state.played.push(chunk);
  let held = state.played.reduce((n, c) => n + c.length, 0);
  while (held > 60 * RATE && state.played.length > 1) held -= state.played.shift().length;
}

function onMessage(message) {
  if (typeof message.data !== "string") {
    player.port.postMessage(message.data, [message.data]);
    return;
  }
  const event = JSON.parse(message.data);
  logEvent(event);
  switch (event.type) {
    case "bridge.ready":
      state.ready = event;
      setStatus(`connected to ${event.provider} — speak`);
      break;
    case "user_transcript":
      if (event.final) say("user", event.text);
      break;
    case "agent_text":
      if (event.final) say("agent", event.text);
      break;
    case "agent_audio":
      player.port.postMessage({ turn: event.turn_id });
      break;
    case "interruption":
      player.port.postMessage("flush");
      break;
    case "bridge.closing":
      state.closed = { code: event.code, reason: event.reason };
      break;
  }
}

async function start() {
  $("start").disabled = true;
  setStatus("starting…");
  ctx = new AudioContext({ sampleRate: RATE });
  await ctx.audioWorklet.addModule("worklet.js");
  mic = await navigator.mediaDevices.getUserMedia({
    audio: {
      channelCount: 1,
      echoCancellation: hash.get("aec") !== "0",
      noiseSuppression: false,
      autoGainControl: false,
    },
  });
  const source = ctx.createMediaStreamSource(mic);
  const capture = new AudioWorkletNode(ctx, "bridge-capture");
  player = new AudioWorkletNode(ctx, "bridge-player", { outputChannelCount: [1] });
  player.port.onmessage = (event) =>
    event.data instanceof ArrayBuffer ? onPlayed(event.data) : onPosition(event.data);
  player.connect(ctx.destination);

  ws = new WebSocket(bridgeUrl());
  ws.binaryType = "arraybuffer";
  ws.onmessage = onMessage;
  ws.onclose = (event) => {
    if (!state.closed) state.closed = { code: event.code, reason: event.reason };
    setStatus(`closed: ${state.closed.code} ${state.closed.reason}`);
    stopAudio();
  };
  capture.port.onmessage = (event) => {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(event.data);
      state.sentFrames++;
    }
  };
  source.connect(capture);
  await ctx.resume();
  $("stop").disabled = false;
  $("interrupt").disabled = false;
}

function stopAudio() {
  if (mic) mic.getTracks().forEach((t) => t.stop());
  mic = null;
  $("start").disabled = false;
  $("stop").disabled = true;
  $("interrupt").disabled = true;
}

function stop() {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "close" }));
  stopAudio();
}

$("start").onclick = () => start().catch((err) => setStatus(`error: ${err}`));
$("stop").onclick = stop;
$("interrupt").onclick = () => ws && ws.send(JSON.stringify({ type: "interrupt" }));
