"""The web page in headless Chromium (Playwright driving Debian's /usr/bin/chromium) against a live uvicorn
server on the fake voice: type Chinese text, synthesize, get a playable, non-silent <audio>; errors from the
server are shown to the person. Saves a screenshot (path printed) under ``artifacts/`` or $TTSD_ARTIFACTS.

Skips when Chromium or Playwright is missing, but fails instead when TTSD_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.api_helpers import live_server
from ttsd.bootstrap import build_app
from ttsd.config import Settings

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("TTSD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip
ARTIFACTS = Path(os.environ.get("TTSD_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))
TEXT = "欢迎使用中文语音合成服务。今天天气很好，我们一起去公园散步吧！"

# Decode the <audio> element's blob with Web Audio and measure it, inside the page.
MEASURE_AUDIO_JS = """
async () => {
  const player = document.getElementById("player");
  const bytes = await (await fetch(player.src)).arrayBuffer();
  const ctx = new OfflineAudioContext(1, 1, 24000);
  const buffer = await ctx.decodeAudioData(bytes);
  const data = buffer.getChannelData(0);
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i] * data[i];
  if (player.readyState < 1) {
    await new Promise((resolve, reject) => {
      player.addEventListener("loadedmetadata", resolve, { once: true });
      player.addEventListener("error", () => reject(new Error("audio element error")), { once: true });
    });
  }
  return { decodedDuration: buffer.duration, rms: Math.sqrt(sum / data.length),
           elementDuration: player.duration, mediaError: player.error && player.error.code };
}
"""


def _require_browser() -> Any:
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright Python package is not installed (pip install playwright)"
    if reason is None and not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if reason is not None:
        if os.environ.get("TTSD_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required (TTSD_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)
    return sync_playwright


def _live_server(max_text_chars: int = 200) -> contextlib.AbstractContextManager[str]:
    return live_server(build_app(Settings(voice="fake", warmup=False, max_text_chars=max_text_chars)))


@pytest.fixture
def page_at(tmp_path: Path) -> Iterator[tuple[Any, str, list[str]]]:
    sync_playwright = _require_browser()
    with _live_server() as url, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 820},
        )
        problems: list[str] = []
        page = context.new_page()
        page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
        try:
            page.goto(url)
            yield page, url, problems
        finally:
            context.close()


def test_synthesize_and_play(page_at: tuple[Any, str, list[str]]) -> None:
    page, _, problems = page_at
    page.wait_for_selector("#voice option[value='fake']", state="attached")
    page.wait_for_selector("#status.status-ok")
    page.fill("#text", "")
    page.type("#text", TEXT)
    assert page.text_content("#counter") == f"{len(TEXT)} / 200"  # the server's limit
    assert page.get_attribute("#text", "maxlength") == "200"
    page.select_option("#format", "wav")
    page.click("#synthesize")
    page.wait_for_function("document.getElementById('stat-rtf').textContent !== '–'")
    assert page.is_hidden("#error")
    measured = page.evaluate(MEASURE_AUDIO_JS)
    assert measured["mediaError"] is None
    assert measured["decodedDuration"] > 1.0
    assert measured["elementDuration"] > 1.0
    assert measured["rms"] > 0.05  # fake voice tones, not silence
    duration = float(page.text_content("#stat-duration").split()[0])
    assert duration == pytest.approx(measured["decodedDuration"], abs=0.01)
    assert float(page.text_content("#stat-latency").split()[0]) > 0
    assert page.get_attribute("#download", "download") == "speech.wav"
    assert page.is_visible("#download")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "web_page.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert problems == []


def test_mp3_plays_too(page_at: tuple[Any, str, list[str]]) -> None:
    page, _, problems = page_at
    page.wait_for_selector("#voice option[value='fake']", state="attached")
    page.select_option("#format", "mp3")
    page.click("#synthesize")
    page.wait_for_function("document.getElementById('stat-rtf').textContent !== '–'")
    measured = page.evaluate(MEASURE_AUDIO_JS)
    assert measured["decodedDuration"] > 1.0
    assert measured["rms"] > 0.05
    assert problems == []


def test_server_errors_are_shown(page_at: tuple[Any, str, list[str]]) -> None:
    page, _, problems = page_at
    page.wait_for_selector("#voice option[value='fake']", state="attached")
    page.fill("#text", "   ")  # nothing to synthesize: the server answers 422 invalid_text
    page.click("#synthesize")
    page.wait_for_selector("#error", state="visible")
    message = page.text_content("#error")
    assert "nothing to synthesize" in message
    assert "422" in message
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_page_error.png"))
    # the failed fetch is logged by Chromium as a console error; nothing else went wrong
    assert all("422" in p for p in problems), problems


# --- SSML, voice picker, timestamps (issue 11) ---------------------------------------------------------------

# Play the result from the start and sample, every 25 ms, the audio's time and the highlighted span.
SAMPLE_HIGHLIGHT_JS = """
async () => {
  const player = document.getElementById("player");
  player.currentTime = 0;
  await player.play();
  const samples = [];
  const started = performance.now();
  while (!player.ended && performance.now() - started < 10000) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const span = document.querySelector("#transcript span.current");
    samples.push({ t: player.currentTime, index: span ? Number(span.dataset.index) : -1 });
  }
  const spans = [...document.querySelectorAll("#transcript span")].map(
    (s) => ({ text: s.textContent, start: Number(s.dataset.start), end: Number(s.dataset.end) }));
  return { samples, spans, ended: player.ended, current: document.querySelectorAll("#transcript .current").length };
}
"""

FETCH_LINK_JS = "async (id) => (await fetch(document.getElementById(id).href)).text()"
DONE_JS = "document.getElementById('stat-rtf').textContent !== '–' || !document.getElementById('error').hidden"


def _wait_for_result(page: Any) -> None:
    page.wait_for_function(DONE_JS)
    assert page.is_hidden("#error"), page.text_content("#error")


def _check_highlight_follows_audio(page: Any) -> None:
    result = page.evaluate(SAMPLE_HIGHLIGHT_JS)
    spans, samples = result["spans"], result["samples"]
    assert result["ended"], "playback did not finish"
    assert result["current"] == 0  # cleared at the end
    highlighted = [s for s in samples if s["index"] >= 0]
    indices = [s["index"] for s in highlighted]
    assert len(set(indices)) >= 5, indices  # the highlight moved through the text
    assert indices == sorted(indices)  # forwards only
    for sample in highlighted:
        span = spans[sample["index"]]
        assert span["end"] > span["start"]  # only spoken units are highlighted, never punctuation
        assert span["start"] <= sample["t"] + 0.05  # never ahead of the audio
        later = [s for s in spans[sample["index"] + 1 :] if s["end"] > s["start"]]
        assert not later or later[0]["start"] >= sample["t"] - 0.4  # and not far behind it (a loaded machine)


def _check_subtitle_links(page: Any) -> None:
    assert page.is_visible("#download-vtt")
    assert page.is_visible("#download-srt")
    assert page.get_attribute("#download-srt", "download") == "speech.srt"
    vtt = page.evaluate(FETCH_LINK_JS, "download-vtt")
    srt = page.evaluate(FETCH_LINK_JS, "download-srt")
    assert vtt.startswith("WEBVTT\n\n")
    assert srt.startswith("1\n00:00:00,")
    assert srt.count(" --> ") == vtt.count(" --> ") >= 2
    assert "." not in srt.split("\n")[1]


def test_voice_picker_lists_voices_and_previews(page_at: tuple[Any, str, list[str]]) -> None:
    page, url, problems = page_at
    page.wait_for_selector("#voice option[value='fake']", state="attached")
    voices = httpx.get(f"{url}/v1/voices").json()["data"]
    options = page.eval_on_selector_all("#voice option", "els => els.map(e => [e.value, e.textContent])")
    for voice in voices:
        label = dict(options)[voice["id"]]
        assert voice["name"] in label
        assert voice["language"] in label
    assert page.get_attribute("#preview", "aria-label") == "Preview the selected voice"
    with page.expect_response(lambda r: r.url.endswith("/tts")) as caught:
        page.focus("#preview")
        page.keyboard.press("Enter")  # keyboard works as well as a click
    response = caught.value
    assert response.status == 200
    assert response.request.post_data_json["voice"] == "fake"
    page.wait_for_function("document.getElementById('preview-player').readyState >= 1")
    assert page.get_attribute("#player", "src") is None  # the result player is left alone
    assert page.is_hidden("#error")
    assert problems == []


def test_ssml_is_detected_and_sent(page_at: tuple[Any, str, list[str]]) -> None:
    """Needs the server side of issue 11 (input_type on /tts): fails on a server without it."""
    page, _, problems = page_at
    page.wait_for_selector("#voice option[value='fake']", state="attached")
    assert not page.is_checked("#ssml")
    page.click("#ssml-example")
    assert page.is_checked("#ssml")
    assert page.is_visible("#ssml-detected")
    markup = page.input_value("#text")
    text_length = int(page.text_content("#counter").split(" / ")[0])
    assert 0 < text_length < len(markup)  # tags are not counted
    assert page.get_attribute("#text", "maxlength") == "2000"
    with page.expect_request(lambda r: r.url.endswith("/tts")) as caught:
        page.click("#synthesize")
    assert caught.value.post_data_json["input_type"] == "ssml"
    _wait_for_result(page)
    page.fill("#text", TEXT)  # plain text again: detection follows the text
    assert not page.is_checked("#ssml")
    assert page.get_attribute("#text", "maxlength") == "200"
    assert problems == []


def test_highlight_moves_during_playback(page_at: tuple[Any, str, list[str]]) -> None:
    """Against the real app and the fake voice, with the /tts timestamps contract of issue 11:
    {"audio", "format", "sample_rate", "duration", "timestamps": [{"text", "start", "end"}], "subtitles"}.
    Needs the server side of issue 11: fails on a server without it."""
    page, _, problems = page_at
    page.wait_for_selector("#voice option[value='fake']", state="attached")
    page.fill("#text", TEXT)
    page.check("#timestamps")
    with page.expect_request(lambda r: r.url.endswith("/tts")) as caught:
        page.click("#synthesize")
    assert caught.value.post_data_json["timestamps"] is True
    assert caught.value.post_data_json["subtitles"] == "vtt"
    _wait_for_result(page)
    assert page.text_content("#transcript") == TEXT  # every character, with its original text
    _check_subtitle_links(page)
    _check_highlight_follows_audio(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_page_timestamps.png"), full_page=True)
    assert problems == []


def _contract_stub(url: str) -> dict[str, Any]:
    """A /tts timestamps response as the contract defines it, made from the fake voice's real audio and times
    spread evenly over it (punctuation zero-length), with subtitles from ttsd.subtitles."""
    import base64

    from ttsd.subtitles import Timestamp, build_cues, to_vtt

    response = httpx.post(f"{url}/tts", json={"text": TEXT, "format": "wav"}, timeout=60)
    duration = float(response.headers["X-Audio-Duration"])
    spoken = [c for c in TEXT if c not in "。，！"]
    step = duration / len(spoken)
    stamps, t = [], 0.0
    for char in TEXT:
        end = t if char in "。，！" else t + step
        stamps.append(Timestamp(char, t, end))
        t = end
    return {
        "audio": base64.b64encode(response.content).decode("ascii"),
        "format": "wav",
        "sample_rate": 24000,
        "duration": duration,
        "timestamps": [{"text": s.text, "start": s.start, "end": s.end} for s in stamps],
        "subtitles": to_vtt(build_cues(stamps, max_chars=12)),
    }


def test_highlight_follows_a_stub_of_the_timestamps_contract(page_at: tuple[Any, str, list[str]]) -> None:
    """The page's side of the contract on its own (runs before the server side exists); the real check is
    test_highlight_moves_during_playback."""
    page, url, problems = page_at
    stub = _contract_stub(url)

    def answer(route: Any) -> None:
        if (route.request.post_data_json or {}).get("timestamps"):
            route.fulfill(json=stub)
        else:
            route.continue_()

    page.route("**/tts", answer)
    page.wait_for_selector("#voice option[value='fake']", state="attached")
    page.check("#timestamps")
    page.click("#synthesize")
    _wait_for_result(page)
    assert page.text_content("#transcript") == TEXT
    assert float(page.text_content("#stat-duration").split()[0]) == pytest.approx(stub["duration"], abs=0.01)
    _check_subtitle_links(page)
    _check_highlight_follows_audio(page)
    page.click("#transcript span:nth-child(5)")  # a click on a character seeks there and highlights it
    page.wait_for_selector("#transcript span:nth-child(5).current")
    assert page.eval_on_selector_all("#transcript .current", "els => els.length") == 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_page_timestamps_stub.png"), full_page=True)
    page.uncheck("#timestamps")  # plain audio again: the transcript and subtitle links go away
    page.click("#synthesize")
    page.wait_for_selector("#transcript", state="hidden")
    assert page.is_hidden("#download-srt")
    assert problems == []
