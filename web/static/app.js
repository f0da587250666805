// Citizen page: text chat over /api/chat, pushed messages over /ws/events, and a spoken call
// over /ws/voice (microphone -> AudioWorklet -> 16 kHz PCM; bot speech back as WAV).
"use strict";

const $ = (id) => document.getElementById(id);
const log = $("chat-log");
const body = document.body;

// ---- citizen id: stable across visits --------------------------------------------------------
function newUuid() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function citizenId() {
  let id = null;
  try { id = localStorage.getItem("seat.sender"); } catch (e) { /* storage disabled */ }
  if (!id || !/^web-[0-9a-f-]{8,64}$/i.test(id)) {
    id = "web-" + newUuid();
    try { localStorage.setItem("seat.sender", id); } catch (e) { /* kept for this visit only */ }
  }
  return id;
}
const sender = citizenId();
body.dataset.sender = sender;

// ---- chat log --------------------------------------------------------------------------------
function notice(text) { $("notice").textContent = text || ""; }

function addMessage(kind, text, extraClass) {
  const div = document.createElement("div");
  div.className = `msg ${kind}` + (extraClass ? ` ${extraClass}` : "");
  div.textContent = text;
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

function addBotMessage(m) {
  const div = addMessage("bot", m.text || "");
  if (m.buttons && m.buttons.length) {
    const row = document.createElement("div");
    row.className = "buttons";
    for (const b of m.buttons) {
      const btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = b.title;
      btn.addEventListener("click", () => {
        row.querySelectorAll("button").forEach((x) => { x.disabled = true; });
        send(b.payload, b.title);
      });
      row.appendChild(btn);
    }
    div.appendChild(row);
  }
  log.scrollTop = log.scrollHeight;
}

let pending = 0;
async function send(message, shown) {
  if (shown !== null) addMessage("user", shown === undefined ? message : shown);
  pending += 1;
  body.dataset.pending = String(pending);
  try {
    const resp = await fetch("/api/chat", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender, message }),
    });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(data.error || `HTTP ${resp.status}`);
    for (const m of data.messages || []) addBotMessage(m);
  } catch (e) {
    addMessage("bot", "抱歉，" + (e.message && /[\u4e00-\u9fff]/.test(e.message) ? e.message : "网络连接出现问题，请稍后再试。"), "error");
  } finally {
    pending -= 1;
    body.dataset.pending = String(pending);
  }
}

$("chat-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("chat-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  if (call.ws && call.ws.readyState === WebSocket.OPEN && talk.dataset.state === "live") {
    addMessage("user", text);  // during a call the bot answers in speech too
    call.ws.send(JSON.stringify({ type: "text", text }));
  } else {
    send(text);
  }
});

// ---- events socket: messages other services push into this chat ------------------------------
function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}?sender=${encodeURIComponent(sender)}`;
}

let eventsRetry = 1000;
function openEvents() {
  const ws = new WebSocket(wsUrl("/ws/events"));
  ws.onopen = () => { eventsRetry = 1000; };
  ws.onmessage = (ev) => {
    let msg = null;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    if (msg.type === "hello") body.dataset.events = "open";
    if (msg.type === "bot") for (const m of msg.messages || []) addBotMessage(m);
  };
  ws.onclose = () => {
    body.dataset.events = "closed";
    setTimeout(openEvents, eventsRetry);
    eventsRetry = Math.min(eventsRetry * 2, 30000);
  };
}

// ---- spoken call -----------------------------------------------------------------------------
window.callEvents = [];  // what happened in calls, in order (for the page's tests and debugging)
const call = { ws: null, ctx: null, stream: null, node: null, sources: [], playEnd: 0, audioText: "",
               decoding: Promise.resolve(), epoch: 0 };
const talk = $("talk");

function setCallState(state) {
  talk.dataset.state = state;
  body.dataset.call = state;
  talk.textContent = state === "idle" ? "开始通话" : state === "connecting" ? "正在接通…" : "挂断";
  talk.setAttribute("aria-pressed", state === "idle" ? "false" : "true");
}

function showPartial(text) {
  const p = $("partial");
  p.hidden = !text;
  p.textContent = text ? "正在识别：" + text : "";
}

function reportPlayed() {
  // one "played" per bot clip: the call's silence timer starts once the bot has finished talking
  if (call.ws && call.ws.readyState === WebSocket.OPEN) call.ws.send(JSON.stringify({ type: "played" }));
}

function stopPlayback() {
  for (const s of call.sources) {
    s.onended = null;  // the server already knows: it asked us to stop
    try { s.stop(); } catch (e) { /* not started yet */ }
  }
  call.sources = [];
  call.playEnd = 0;
  call.epoch += 1;
  body.dataset.playing = "0";
}

function playWav(arrayBuffer) {
  // decode in arrival order, then queue each clip right after the previous one
  const epoch = call.epoch, text = call.audioText;
  call.decoding = call.decoding.then(async () => {
    const ctx = call.ctx;
    if (!ctx || epoch !== call.epoch) return;
    let buffer;
    try { buffer = await ctx.decodeAudioData(arrayBuffer); } catch (e) {
      notice("无法播放语音回复。");
      reportPlayed();
      return;
    }
    if (epoch !== call.epoch) return;  // stopped (barge-in) while decoding
    const src = ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(ctx.destination);
    const at = Math.max(ctx.currentTime, call.playEnd);
    call.playEnd = at + buffer.duration;
    call.sources.push(src);
    src.onended = () => {
      call.sources = call.sources.filter((x) => x !== src);
      if (!call.sources.length) body.dataset.playing = "0";
      reportPlayed();
    };
    src.start(at);
    window.callEvents.push({ type: "playing", text, t: performance.now() });
    body.dataset.playing = "1";
    body.dataset.audioStarted = String(Number(body.dataset.audioStarted || 0) + 1);
  });
}

function onVoiceMessage(ev) {
  if (typeof ev.data !== "string") { playWav(ev.data); return; }
  let msg = null;
  try { msg = JSON.parse(ev.data); } catch (e) { return; }
  window.callEvents.push({ type: msg.type, text: msg.text || msg.reason || "", t: performance.now() });
  switch (msg.type) {
    case "started": setCallState("live"); notice("已接通，请讲话。"); break;
    case "partial": showPartial(msg.text); break;
    case "final":
      showPartial("");
      if (msg.text) addMessage("user", msg.text, "voice");
      break;
    case "bot": addBotMessage({ text: msg.text }); break;
    case "audio": call.audioText = msg.text || ""; break;
    case "stop": stopPlayback(); break;
    case "handoff": notice("正在为您转接人工客服，请稍候。"); break;
    case "ended": notice("通话已结束。"); break;
    case "error": call.error = msg.text || "语音服务暂不可用。"; notice(call.error); break;
  }
}

async function startMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.AudioWorkletNode) {
    throw new Error("此浏览器不支持麦克风通话：请使用 https 或本机地址访问，并使用新版浏览器。");
  }
  call.stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  if (!call.workletLoaded) {  // once per AudioContext: the processor name can be registered once
    await call.ctx.audioWorklet.addModule("/static/capture-worklet.js");
    call.workletLoaded = true;
  }
  const source = call.ctx.createMediaStreamSource(call.stream);
  call.node = new AudioWorkletNode(call.ctx, "pcm-capture", { numberOfInputs: 1, numberOfOutputs: 0 });
  call.node.port.onmessage = (e) => {
    if (call.ws && call.ws.readyState === WebSocket.OPEN) call.ws.send(e.data);
  };
  source.connect(call.node);
  body.dataset.micRate = String(call.ctx.sampleRate);
  window.callEvents.push({ type: "mic", text: "", t: performance.now() });
}

function endCall(text) {
  if (call.node) { call.node.port.postMessage("stop"); call.node.disconnect(); call.node = null; }
  if (call.stream) { call.stream.getTracks().forEach((t) => t.stop()); call.stream = null; }
  const ws = call.ws;
  call.ws = null;
  if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "hangup");
  stopPlayback();
  showPartial("");
  setCallState("idle");
  if (text) notice(text);
}

async function startCall() {
  setCallState("connecting");
  notice("正在接通…");
  try {
    if (!call.ctx) call.ctx = new AudioContext();
    await call.ctx.resume();
    await startMicrophone();
  } catch (e) {
    const reasons = {
      NotAllowedError: "无法使用麦克风：请允许本页面使用麦克风（需要 https 或本机地址）。",
      NotFoundError: "未检测到麦克风，请连接麦克风后再试，或使用文字留言。",
      NotReadableError: "麦克风正被其他程序占用，请关闭后再试。",
    };
    endCall(reasons[e.name] || (e.message && /[\u4e00-\u9fff]/.test(e.message) ? e.message : "无法使用麦克风，请使用文字留言。"));
    return;
  }
  const ws = new WebSocket(wsUrl("/ws/voice"));
  ws.binaryType = "arraybuffer";
  call.ws = ws;
  ws.onmessage = onVoiceMessage;
  ws.onopen = () => window.callEvents.push({ type: "open", text: "", t: performance.now() });
  call.error = "";
  ws.onclose = (ev) => {
    if (call.ws === ws) endCall(call.error || (ev.code === 1000 || ev.code === 1005 ? "通话已结束。" : "通话已断开。"));
  };
}

talk.addEventListener("click", () => {
  if (talk.dataset.state === "idle") {
    window.callEvents.push({ type: "click", text: "", t: performance.now() });
    startCall();
  }
  else endCall("通话已结束。");
});

// ---- start: greet (a returning citizen may get a pending survey here) and listen for pushes ----
openEvents();
send("/greet", null).then(() => { body.dataset.greeted = "1"; });
