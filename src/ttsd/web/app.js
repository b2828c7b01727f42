// ttsd web page: no framework, no external assets. Talks to /ui/config, /v1/voices, /readyz and /tts.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { maxChars: 5000, authRequired: false, objectUrl: null, busy: false };
const EXTENSIONS = { wav: "wav", mp3: "mp3", opus: "ogg", aac: "aac", flac: "flac", ulaw: "wav", pcm: "pcm" };

function authHeaders() {
  const key = $("apikey").value.trim();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// The server's errors are {"error": {"code", "message"}}; show the message, never swallow it.
async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) {
      return `${body.error.message} (${response.status} ${body.error.code})`;
    }
  } catch (_) { /* not JSON: fall through */ }
  return `HTTP ${response.status} ${response.statusText}`.trim();
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function updateCounter() {
  const length = [...$("text").value].length;
  const counter = $("counter");
  counter.textContent = `${length} / ${state.maxChars}`;
  const over = length > state.maxChars;
  counter.classList.toggle("over", over);
  $("synthesize").disabled = state.busy || over || length === 0;
}

function bindSlider(id, format) {
  const input = $(id);
  const out = $(`${id}-out`);
  const render = () => { out.textContent = format(Number(input.value)); };
  input.addEventListener("input", render);
  render();
}

function applyRange(id, range) {
  if (!range) return;
  const input = $(id);
  // The page keeps its friendlier default span but never exceeds the server's limits.
  input.min = String(Math.max(Number(input.min), range.min));
  input.max = String(Math.min(Number(input.max), range.max));
}

async function loadConfig() {
  try {
    const response = await fetch("/ui/config");
    if (!response.ok) throw new Error(await errorMessage(response));
    const config = await response.json();
    state.maxChars = config.max_text_chars;
    state.authRequired = config.auth_required;
    $("text").maxLength = config.max_text_chars;
    $("apikey-field").hidden = !config.auth_required;
    $("apikey").value = localStorage.getItem("ttsd-api-key") || "";
    for (const name of ["speed", "pitch", "volume"]) applyRange(name, config.controls[name]);
  } catch (err) {
    showError(`Could not load the server configuration: ${err.message}`);
  }
  updateCounter();
}

async function loadVoices() {
  const select = $("voice");
  try {
    const response = await fetch("/v1/voices", { headers: authHeaders() });
    if (!response.ok) throw new Error(await errorMessage(response));
    const { data } = await response.json();
    select.replaceChildren();
    for (const voice of data) {
      select.append(new Option(`${voice.name} (${voice.language}, ${voice.sample_rate / 1000} kHz)`, voice.id));
      for (const speaker of voice.speakers) select.append(new Option(`  ${voice.name} · ${speaker}`, speaker));
    }
  } catch (err) {
    select.replaceChildren(new Option("default", ""));
    showError(`Could not load voices: ${err.message}`);
  }
}

async function pollReady() {
  const badge = $("status");
  try {
    const response = await fetch("/readyz");
    const body = await response.json();
    badge.textContent = response.ok ? "ready" : body.status || "not ready";
    badge.className = `status ${response.ok ? "status-ok" : "status-wait"}`;
  } catch (_) {
    badge.textContent = "offline";
    badge.className = "status status-down";
  }
}

function setBusy(busy) {
  state.busy = busy;
  $("tts-form").classList.toggle("busy", busy);
  updateCounter();
}

function formatSeconds(s) {
  return Number.isFinite(s) ? `${s.toFixed(2)} s` : "–";
}

async function synthesize(event) {
  event.preventDefault();
  if (state.busy) return;
  showError("");
  const format = $("format").value;
  const body = {
    text: $("text").value,
    format,
    speed: Number($("speed").value),
    pitch: Number($("pitch").value),
    volume: Number($("volume").value),
  };
  const voice = $("voice").value;
  if (voice) body.voice = voice;
  if (state.authRequired) localStorage.setItem("ttsd-api-key", $("apikey").value.trim());

  setBusy(true);
  const started = performance.now();
  try {
    const response = await fetch("/tts", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    const blob = await response.blob();
    const latency = (performance.now() - started) / 1000;
    const duration = Number(response.headers.get("X-Audio-Duration"));
    showResult(blob, format, latency, duration);
  } catch (err) {
    showError(err.message || String(err));
  } finally {
    setBusy(false);
  }
}

function showResult(blob, format, latency, duration) {
  if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
  state.objectUrl = URL.createObjectURL(blob);
  const player = $("player");
  const download = $("download");
  download.href = state.objectUrl;
  download.download = `speech.${EXTENSIONS[format] || format}`;
  download.hidden = false;
  $("stat-duration").textContent = formatSeconds(duration);
  $("stat-latency").textContent = formatSeconds(latency);
  $("stat-rtf").textContent = duration > 0 ? (latency / duration).toFixed(3) : "–";
  $("stat-size").textContent = `${(blob.size / 1024).toFixed(1)} KiB`;
  if (format === "pcm") {
    player.removeAttribute("src");
    $("note").textContent = "Raw PCM (s16le) cannot be played by a browser: use Download.";
    return;
  }
  $("note").textContent = "Press play, or Download to keep the file.";
  player.src = state.objectUrl;
  player.play().catch(() => { /* autoplay may be blocked: the controls remain */ });
}

function init() {
  bindSlider("speed", (v) => `${v.toFixed(2)}×`);
  bindSlider("pitch", (v) => (v > 0 ? `+${v.toFixed(1)}` : v.toFixed(1)));
  bindSlider("volume", (v) => `${Math.round(v * 100)}%`);
  $("text").addEventListener("input", updateCounter);
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("tts-form").requestSubmit();
  });
  $("tts-form").addEventListener("submit", synthesize);
  $("apikey").addEventListener("change", () => {
    localStorage.setItem("ttsd-api-key", $("apikey").value.trim());
    showError("");
    loadVoices();
  });
  $("player").addEventListener("error", () => {
    if ($("player").getAttribute("src")) {
      showError("This browser cannot play this format; use Download, or choose WAV or MP3.");
    }
  });
  loadConfig().then(loadVoices);
  pollReady();
  setInterval(pollReady, 5000);
}

document.addEventListener("DOMContentLoaded", init);
