// ttsd web page, the "long text" panel: a long text or a .txt file becomes a job (POST /v1/jobs); its progress is
// polled (GET /v1/jobs/{id}) and, once it succeeded, its audio and subtitles are offered for download.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 1000;
  const job = { id: null, timer: null, maxChars: 0, urls: [] };

  function headers() {
    const key = ($("apikey") ? $("apikey").value : "").trim();
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  async function problem(response) {
    try {
      const body = await response.json();
      return (body.error && body.error.message) || `${response.status} ${response.statusText}`;
    } catch {
      return `${response.status} ${response.statusText}`;
    }
  }

  function showError(message) {
    $("job-error").textContent = message;
    $("job-error").hidden = !message;
  }

  async function source() {
    const file = $("job-file").files[0];
    return file ? await file.text() : $("job-text").value;
  }

  async function updateCounter() {
    const length = (await source()).length;
    $("job-counter").textContent = `${length.toLocaleString()} / ${job.maxChars.toLocaleString()}`;
    $("job-counter").classList.toggle("over", length > job.maxChars);
  }

  async function submitJob(event) {
    event.preventDefault();
    showError("");
    const text = await source();
    if (!text.trim()) {
      showError("Paste a text or choose a .txt file first.");
      return;
    }
    const body = {
      input: text, response_format: $("format").value, speed: Number($("speed").value),
      pitch: Number($("pitch").value), volume: Number($("volume").value), subtitles: "srt",
    };
    if ($("voice").value) body.voice = $("voice").value;
    const response = await fetch("/v1/jobs", {
      method: "POST", headers: { "Content-Type": "application/json", ...headers() }, body: JSON.stringify(body),
    });
    if (response.status !== 202) {
      showError(await problem(response));
      return;
    }
    follow((await response.json()).id);
  }

  function follow(id) {
    job.id = id;
    clearTimeout(job.timer);
    for (const name of ["job-download", "job-subtitles"]) $(name).hidden = true;
    $("job-cancel").hidden = false;
    $("job-progress").hidden = false;
    poll();
  }

  async function poll() {
    const response = await fetch(`/v1/jobs/${job.id}`, { headers: headers() });
    if (!response.ok) {
      showError(await problem(response));
      return;
    }
    const state = await response.json();
    render(state);
    if (state.status === "queued" || state.status === "running") job.timer = setTimeout(poll, POLL_MS);
  }

  function render(state) {
    $("job-progress").value = state.progress;
    const eta = state.eta_seconds != null ? ` · about ${Math.ceil(state.eta_seconds)} s left` : "";
    const chapters = state.chapters.length ? ` · ${state.chapters.length} chapters` : "";
    $("job-status").textContent = `${state.status} · ${(100 * state.progress).toFixed(1)}% of ` +
      `${state.characters.toLocaleString()} characters · ${state.audio_seconds.toFixed(1)} s of audio${eta}${chapters}`;
    if (state.status === "failed") showError(state.error || "the job failed");
    if (state.status !== "queued" && state.status !== "running") $("job-cancel").hidden = true;
    if (state.status === "succeeded") offer(state);
  }

  function offer(state) {
    const extension = { opus: "ogg", ulaw: "wav" }[state.response_format] || state.response_format;
    link("job-download", state.audio_url, `${state.id}.${extension}`);
    link("job-subtitles", `${state.subtitles_url}?format=srt`, `${state.id}.srt`);
  }

  function link(id, url, filename) {
    const anchor = $(id);
    anchor.href = url;
    anchor.download = filename;
    anchor.hidden = false;
    anchor.onclick = async (event) => {
      if (!headers().Authorization) return; // a plain link: the browser streams the file to disk
      event.preventDefault(); // with an API key the file is fetched with the header, then saved
      const response = await fetch(url, { headers: headers() });
      if (!response.ok) return showError(await problem(response));
      const objectUrl = URL.createObjectURL(await response.blob());
      job.urls.push(objectUrl);
      const temporary = Object.assign(document.createElement("a"), { href: objectUrl, download: filename });
      temporary.click();
    };
  }

  async function cancelJob() {
    if (!job.id) return;
    clearTimeout(job.timer);
    const response = await fetch(`/v1/jobs/${job.id}/cancel`, { method: "POST", headers: headers() });
    if (!response.ok) showError(await problem(response));
    else render(await response.json());
  }

  async function init() {
    const response = await fetch("/ui/config");
    if (!response.ok) return;
    job.maxChars = (await response.json()).jobs_max_chars || 0;
    if (!job.maxChars) return; // jobs are off on this server: no panel
    $("job-form").hidden = false;
    $("job-form").addEventListener("submit", submitJob);
    $("job-cancel").addEventListener("click", cancelJob);
    $("job-text").addEventListener("input", updateCounter);
    $("job-file").addEventListener("change", updateCounter);
    updateCounter();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
