"""The web page in headless Chromium (Playwright driving Debian's /usr/bin/chromium) against a live uvicorn
server on the fake voice: type Chinese text, synthesize, get a playable, non-silent <audio>; errors from the
server are shown to the person. Saves a screenshot (path printed) under ``artifacts/`` or $TTSD_ARTIFACTS.

Skips when Chromium or Playwright is missing, but fails instead when TTSD_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from ttsd.api import create_app
from ttsd.bootstrap import build_engine
from ttsd.config import Settings
from ttsd.metrics import Metrics

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("TTSD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
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


@contextlib.contextmanager
def _live_server(max_text_chars: int = 200) -> Iterator[str]:
    settings = Settings(voice="fake", warmup=False, max_text_chars=max_text_chars)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    metrics = Metrics()
    app = create_app(settings, engine=build_engine(settings, metrics), metrics=metrics)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "server did not start in time"
            assert thread.is_alive(), "server thread died"
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(30)


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
