// "Type and hear": a text-in session over GET /v1/audio/speech/ws. What is typed in #live-text is sent as it is
// written (only what is appended: edits before the end are not sent again); "LLM demo" replays an answer the way
// an LLM writes it (2-4 characters every 50 ms). Audio comes back as raw PCM (s16le) at the voice's own rate and
// is played with Web Audio, each sentence right after the one before it.
"use strict";

const LIVE_DEMO = "您好，我是智能客服小安。您的订单已经在今天上午十点发出，预计明天下午送达。" +
  "如果还有其他问题，请随时联系我们；祝您生活愉快！";
const live = {
  ws: null, audio: null, playAt: 0, sent: 0, chunks: 0, samples: 0, sentences: 0, rate: 24000,
  done: false, demo: null,
};
const $live = (id) => document.getElementById(id);

function liveStatus(text, kind = "") {
  const box = $live("live-status");
  box.textContent = text;
  box.dataset.kind = kind;
}

function liveStats() {
  const seconds = live.samples / live.rate;
  $live("live-stats").textContent =
    `${live.sentences} sentence(s), ${live.chunks} audio frame(s), ${seconds.toFixed(2)} s of audio`;
  $live("live-stats").dataset.audioSeconds = seconds.toFixed(3);
}

function liveVoiceRate() {
  const voice = document.getElementById("voice").value;
  const info = window.ttsdVoices ? window.ttsdVoices.get(voice) : null;
  return info && info.sample_rate ? info.sample_rate : 24000;
}

function liveOpen() {
  if (live.ws && live.ws.readyState <= WebSocket.OPEN) return live.ws;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/audio/speech/ws`;
  const key = document.getElementById("apikey").value.trim();
  const ws = new WebSocket(url, key ? ["ttsd", `ttsd-key.${key}`] : ["ttsd"]);
  ws.binaryType = "arraybuffer";
  Object.assign(live, { ws, sent: 0, chunks: 0, samples: 0, sentences: 0, done: false, rate: liveVoiceRate() });
  live.audio = live.audio || new AudioContext();
  live.playAt = 0;
  const config = {
    type: "config", response_format: "pcm", sample_rate: live.rate, timestamps: true,
    speed: Number(document.getElementById("speed").value),
  };
  const voice = document.getElementById("voice").value;
  if (voice) config.voice = voice;
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify(config));
    liveStatus("connected: speaking as you type", "open");
    liveSendTyped();
  });
  ws.addEventListener("message", (event) => liveMessage(event.data));
  ws.addEventListener("close", (event) => {
    if (!live.done && $live("live-status").dataset.kind !== "error") {
      liveStatus(`closed (${event.code})`, event.code === 1000 ? "" : "error");
    }
    liveStopDemo();
  });
  liveStats();
  return ws;
}

function liveMessage(data) {
  if (data instanceof ArrayBuffer) {
    livePlay(new Int16Array(data));
    return;
  }
  const message = JSON.parse(data);
  if (message.type === "sentence") {
    live.sentences += 1;
    $live("live-heard").textContent += message.text;
  } else if (message.type === "done") {
    live.done = true;
    liveStatus(`done: ${message.audio_seconds.toFixed(2)} s of audio`, "done");
  } else if (message.type === "error") {
    liveStatus(`${message.message} (${message.code})`, "error");
  }
  liveStats();
}

function livePlay(pcm) {
  if (!pcm.length) return;
  const ctx = live.audio;
  const buffer = ctx.createBuffer(1, pcm.length, live.rate);
  const channel = buffer.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) channel[i] = pcm[i] / 32768;
  const source = ctx.createBufferSource();
  source.buffer = buffer;
  source.connect(ctx.destination);
  live.playAt = Math.max(live.playAt, ctx.currentTime + 0.02);
  source.start(live.playAt);
  live.playAt += buffer.duration;
  live.chunks += 1;
  live.samples += pcm.length;
}

function liveSend(text) {
  const ws = live.ws;
  if (!text || !ws || ws.readyState !== WebSocket.OPEN) return;
  ws.send(JSON.stringify({ type: "text", text }));
}

function liveSendTyped() {
  const value = $live("live-text").value;
  if (value.length < live.sent) live.sent = value.length; // deleted text was already sent: carry on from here
  liveSend(value.slice(live.sent));
  live.sent = value.length;
}

function liveEnd() {
  liveStopDemo();
  const ws = live.ws;
  if (ws && ws.readyState === WebSocket.OPEN) {
    liveSendTyped();
    ws.send(JSON.stringify({ type: "end" }));
  }
}

function liveStopDemo() {
  if (live.demo) clearTimeout(live.demo);
  live.demo = null;
}

function liveDemo() {
  liveStopDemo();
  if (live.ws && live.ws.readyState <= WebSocket.OPEN) live.ws.close(1000);
  live.ws = null;
  $live("live-text").value = "";
  $live("live-heard").textContent = "";
  liveOpen();
  let i = 0;
  const step = () => {
    if (!live.ws || live.ws.readyState > WebSocket.OPEN) return;
    if (live.ws.readyState === WebSocket.OPEN) {
      const n = 2 + Math.floor(Math.random() * 3);
      $live("live-text").value += LIVE_DEMO.slice(i, i + n);
      liveSendTyped();
      i += n;
      if (i >= LIVE_DEMO.length) {
        liveEnd();
        return;
      }
    }
    live.demo = setTimeout(step, 50);
  };
  step();
}

function liveInit() {
  $live("live-text").addEventListener("input", () => {
    if (!live.ws || live.ws.readyState > WebSocket.OPEN) {
      $live("live-heard").textContent = "";
      live.sent = 0;
      liveOpen();
    } else {
      liveSendTyped();
    }
  });
  $live("live-flush").addEventListener("click", () => {
    liveSendTyped();
    if (live.ws && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify({ type: "flush" }));
  });
  $live("live-end").addEventListener("click", liveEnd);
  $live("live-demo").addEventListener("click", liveDemo);
}

document.addEventListener("DOMContentLoaded", liveInit);
