// ttsd web page: no framework, no external assets. Talks to /ui/config, /v1/voices, /readyz and /tts.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  maxChars: 5000, authRequired: false, objectUrl: null, busy: false, voices: new Map(),  // also window.ttsdVoices
  ssmlChosen: false, // the person ticked or unticked "SSML": stop detecting it from the text
  stamps: [], spans: [], current: -1, subtitleUrls: [], previewUrl: null,
};
const EXTENSIONS = { wav: "wav", mp3: "mp3", opus: "ogg", aac: "aac", flac: "flac", ulaw: "wav", pcm: "pcm" };
const MEDIA_TYPES = {
  wav: "audio/wav", mp3: "audio/mpeg", opus: "audio/ogg", aac: "audio/aac", flac: "audio/flac",
  ulaw: "audio/wav", pcm: "application/octet-stream",
};
const MARKUP_FACTOR = 10; // the server accepts SSML up to 10x the text limit (tags are not read)
const SSML_START = /^[\s\ufeff]*(<\?xml[^>]*\?>\s*)?<speak[\s>/]/;
const SSML_EXAMPLE = `<speak>
  欢迎使用<prosody rate="-20%" pitch="+2st">中文语音合成</prosody>服务。<break time="500ms"/>
  我住在<phoneme alphabet="py" ph="chong2 qing4">重庆</phoneme>，电话是<say-as interpret-as="telephone">023-12345678</say-as>。
  <sub alias="世界卫生组织">WHO</sub>发布了新的报告。
</speak>`;
const PREVIEW_TEXT = "你好，这是我的声音。";

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

function isSsml() {
  return $("ssml").checked;
}

// Plain text counts characters; SSML counts the text between the tags (the markup may be 10x longer).
function updateCounter() {
  const value = $("text").value;
  if (!state.ssmlChosen) {
    const detected = SSML_START.test(value);
    $("ssml").checked = detected;
    $("ssml-detected").hidden = !detected;
  }
  const ssml = isSsml();
  const length = [...(ssml ? value.replace(/<[^>]*>/g, "") : value)].length;
  const markupOver = ssml && [...value].length > state.maxChars * MARKUP_FACTOR;
  $("text").maxLength = ssml ? state.maxChars * MARKUP_FACTOR : state.maxChars;
  const counter = $("counter");
  counter.textContent = `${length} / ${state.maxChars}`;
  counter.title = ssml ? "characters of text (tags not counted)" : "characters";
  const over = length > state.maxChars || markupOver;
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
    state.voices.clear();
    for (const voice of data) {
      state.voices.set(voice.id, voice);
      const details = [voice.gender, voice.language, `${voice.sample_rate / 1000} kHz`].filter(Boolean);
      const option = new Option(`${voice.name} (${details.join(", ")})`, voice.id);
      option.selected = Boolean(voice.default);
      select.append(option);
      for (const speaker of voice.speakers || []) {
        state.voices.set(speaker, voice);
        select.append(new Option(`  ${voice.name} · ${speaker}`, speaker));
      }
    }
  } catch (err) {
    select.replaceChildren(new Option("default", ""));
    showError(`Could not load voices: ${err.message}`);
  }
  describeVoice();
}

function describeVoice() {
  const voice = state.voices.get($("voice").value);
  const parts = voice ? [voice.description, voice.licence && `Licence: ${voice.licence}`] : [];
  $("voice-info").textContent = parts.filter(Boolean).join(" · ");
}

// Speak a short sentence with the chosen voice, in its own player (the result stays as it is).
async function previewVoice() {
  const button = $("preview");
  if (button.disabled) return;
  showError("");
  button.disabled = true;
  const body = { text: PREVIEW_TEXT, format: "wav" };
  if ($("voice").value) body.voice = $("voice").value;
  try {
    const response = await fetch("/tts", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
    state.previewUrl = URL.createObjectURL(await response.blob());
    const player = $("preview-player");
    player.src = state.previewUrl;
    player.play().catch(() => { /* autoplay blocked: nothing to do */ });
  } catch (err) {
    showError(`Preview failed: ${err.message || String(err)}`);
  } finally {
    button.disabled = false;
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
  if (isSsml()) body.input_type = "ssml";
  const timed = $("timestamps").checked;
  if (timed) Object.assign(body, { timestamps: true, subtitles: "vtt" });
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
    if (timed) {
      const result = await response.json();
      const latency = (performance.now() - started) / 1000;
      const blob = base64Blob(result.audio, MEDIA_TYPES[result.format] || "application/octet-stream");
      showTimed(result);
      showResult(blob, format, latency, Number(result.duration));
    } else {
      const blob = await response.blob();
      const latency = (performance.now() - started) / 1000;
      const duration = Number(response.headers.get("X-Audio-Duration"));
      showTimed(null);
      showResult(blob, format, latency, duration);
    }
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

function base64Blob(data, type) {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Blob([bytes], { type });
}

const LATIN = /[0-9A-Za-z\u00C0-\u024F]/;

// One span per timestamp (a character, a Latin word, a <say-as>/<sub> unit); spaces between Latin words.
function showTimed(result) {
  for (const url of state.subtitleUrls) URL.revokeObjectURL(url);
  state.subtitleUrls = [];
  const box = $("transcript");
  box.replaceChildren();
  state.stamps = result ? result.timestamps || [] : [];
  state.spans = [];
  state.current = -1;
  let previous = "";
  state.stamps.forEach((stamp, index) => {
    if (LATIN.test(previous.slice(-1)) && LATIN.test(stamp.text.charAt(0))) box.append(" ");
    const span = document.createElement("span");
    span.textContent = stamp.text;
    span.dataset.index = String(index);
    span.dataset.start = String(stamp.start);
    span.dataset.end = String(stamp.end);
    span.addEventListener("click", () => {
      // 1 ms into the character: the media clock may land a hair before the exact start after a seek
      const target = stamp.end > stamp.start ? Math.min(stamp.start + 0.001, stamp.end) : stamp.start;
      $("player").currentTime = target;
      setCurrent(stampAt(target));
    });
    box.append(span);
    state.spans.push(span);
    previous = stamp.text;
  });
  box.hidden = state.spans.length === 0;
  const vtt = result && result.subtitles;
  for (const [id, text] of [["download-vtt", vtt], ["download-srt", vtt && vttToSrt(vtt)]]) {
    const link = $(id);
    link.hidden = !text;
    if (!text) continue;
    const url = URL.createObjectURL(new Blob([text], { type: id.endsWith("vtt") ? "text/vtt" : "application/x-subrip" }));
    state.subtitleUrls.push(url);
    link.href = url;
  }
}

// The spoken timestamp at time t: the last one started at or before t (zero-length punctuation never is).
function stampAt(t) {
  let low = 0;
  let high = state.stamps.length - 1;
  let found = -1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (state.stamps[mid].start <= t) { found = mid; low = mid + 1; } else { high = mid - 1; }
  }
  while (found >= 0 && !(state.stamps[found].end > state.stamps[found].start)) found--;
  return found;
}

function highlight() {
  const player = $("player");
  setCurrent(player.ended ? -1 : stampAt(player.currentTime));
}

function setCurrent(index) {
  if (index === state.current) return;
  const old = state.spans[state.current];
  if (old) { old.classList.remove("current"); old.removeAttribute("aria-current"); }
  const span = state.spans[index];
  if (span) { span.classList.add("current"); span.setAttribute("aria-current", "true"); }
  state.current = index;
}

function followPlayback() {
  highlight();
  if (!$("player").paused) requestAnimationFrame(followPlayback);
}

// The server sends WebVTT; SRT is the same cues, numbered, with a comma before the milliseconds.
function vttToSrt(vtt) {
  const unescape = (line) => line.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  const clock = (value) => {
    const parts = value.trim().split(":");
    while (parts.length < 3) parts.unshift("00");
    return parts.join(":").replace(".", ",");
  };
  const cues = [];
  for (const block of vtt.replace(/\r\n/g, "\n").split(/\n\s*\n/)) {
    const lines = block.split("\n").filter((line) => line.trim() !== "");
    const timing = lines.findIndex((line) => line.includes("-->"));
    if (timing < 0) continue; // the WEBVTT header, NOTE and STYLE blocks
    const [start, rest] = lines[timing].split("-->");
    const end = rest.trim().split(/\s+/)[0];
    const text = lines.slice(timing + 1).map(unescape).join("\n");
    cues.push(`${cues.length + 1}\n${clock(start)} --> ${clock(end)}\n${text}\n`);
  }
  return cues.join("\n");
}

function init() {
  bindSlider("speed", (v) => `${v.toFixed(2)}×`);
  bindSlider("pitch", (v) => (v > 0 ? `+${v.toFixed(1)}` : v.toFixed(1)));
  bindSlider("volume", (v) => `${Math.round(v * 100)}%`);
  $("text").addEventListener("input", updateCounter);
  $("ssml").addEventListener("change", () => {
    state.ssmlChosen = true;
    $("ssml-detected").hidden = true;
    updateCounter();
  });
  $("ssml-example").addEventListener("click", () => {
    $("text").value = SSML_EXAMPLE;
    state.ssmlChosen = false;
    updateCounter();
    $("text").focus();
  });
  $("voice").addEventListener("change", describeVoice);
  $("preview").addEventListener("click", previewVoice);
  const player = $("player");
  player.addEventListener("play", () => requestAnimationFrame(followPlayback));
  for (const name of ["timeupdate", "seeked", "ended"]) player.addEventListener(name, highlight);
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

window.ttsdVoices = state.voices; // live.js (type and hear) reads the voices' sample rates
document.addEventListener("DOMContentLoaded", init);
