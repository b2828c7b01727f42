"""The API docs in headless Chromium (Playwright driving Debian's /usr/bin/chromium) against a live uvicorn
server on the fake voice: ``/docs`` (Swagger UI) renders every operation of openapi.json with no request leaving
the server, and "Try it out" on ``POST /tts`` sends the example body and gets WAV audio back; ``/redoc`` renders
the same operations. Saves screenshots (paths printed) under ``artifacts/`` or $TTSD_ARTIFACTS.

Skips when Chromium or Playwright is missing, but fails instead when TTSD_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.api_helpers import live_server
from ttsd.api.schemas import TTS_EXAMPLES
from ttsd.bootstrap import build_app
from ttsd.config import Settings

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("TTSD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(os.environ.get("TTSD_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))
TIMEOUT_MS = 30_000
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
# The duration of an <audio> element's media, once its metadata is loaded.
AUDIO_DURATION_JS = """
async (player) => {
  if (player.readyState < 1) {
    await new Promise((resolve, reject) => {
      player.addEventListener("loadedmetadata", resolve, { once: true });
      player.addEventListener("error", () => reject(new Error("audio element error")), { once: true });
    });
  }
  return player.duration;
}
"""
# The first four bytes (as text) and the size of the blob a link points at, read inside the page.
FIRST_BYTES_JS = """
async (link) => {
  const bytes = new Uint8Array(await (await fetch(link.href)).arrayBuffer());
  return { magic: String.fromCharCode(...bytes.slice(0, 4)), size: bytes.length };
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


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[tuple[Any, str, list[str]]]:
    """(page, server URL, problems): console errors, page errors, failed requests and any request that went
    anywhere but the server (the docs must work offline)."""
    sync_playwright = _require_browser()
    with live_server(build_app(Settings(voice="fake", warmup=False))) as url, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        problems: list[str] = []
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
        page.on("request", lambda req: None if _local(req.url, url) else problems.append(f"external: {req.url}"))
        try:
            yield page, url, problems
        finally:
            context.close()


def _local(request_url: str, server: str) -> bool:
    return request_url.startswith((server + "/", "blob:", "data:")) or request_url == server


def _operations(url: str) -> list[tuple[str, str, str]]:
    """(method, path, summary) of every operation in the server's openapi.json."""
    spec = httpx.get(f"{url}/openapi.json").json()
    return [
        (method.upper(), path, operation.get("summary", ""))
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def _screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / name
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


def test_docs_render_every_operation_and_try_it_out_returns_audio(browser_page: tuple[Any, str, list[str]]) -> None:
    page, url, problems = browser_page
    page.goto(f"{url}/docs")
    page.wait_for_selector(".opblock-summary-path")
    assert page.locator(".swagger-ui .errors-wrapper").count() == 0, page.inner_text(".swagger-ui")
    assert "Unable to render this definition" not in page.inner_text("body")
    shown = {
        (block.locator(".opblock-summary-method").inner_text(), block.locator(".opblock-summary-path").inner_text())
        for block in page.locator(".opblock").all()
    }
    expected = {(method, path) for method, path, _ in _operations(url)}
    assert shown == expected
    tts = page.locator(".opblock-post", has=page.locator(".opblock-summary-path[data-path='/tts']"))
    assert page.locator(".opblock-post .opblock-summary-path[data-path='/v1/audio/speech']").count() == 1
    tts.locator(".opblock-summary").click()
    tts.locator("button.try-out__btn").click()
    body = json.loads(tts.locator("textarea.body-param__text").input_value())
    assert body == TTS_EXAMPLES["chinese"]["value"]
    assert "欢迎" in body["text"]
    with page.expect_response(lambda r: r.url == f"{url}/tts" and r.request.method == "POST") as answer:
        tts.locator("button.execute").click()
    response = answer.value
    assert response.status == 200
    assert response.headers["content-type"] == "audio/wav"
    live = tts.locator(".live-responses-table")
    assert live.locator("tr.response .response-col_status").inner_text().strip().startswith("200")
    assert "content-type: audio/wav" in live.inner_text()
    # The page plays, and offers for download, the WAV bytes the POST returned.
    player = live.locator("audio.ttsd-audio")
    assert player.evaluate(AUDIO_DURATION_JS) == pytest.approx(float(response.headers["x-audio-duration"]), abs=0.01)
    download = live.locator("a", has_text="Download file")
    assert download.get_attribute("download") == "speech.wav"
    header = download.evaluate(FIRST_BYTES_JS)
    assert header["magic"] == "RIFF"
    assert header["size"] == int(response.headers["content-length"])
    _screenshot(page, "docs_page.png")
    assert problems == []


def test_redoc_renders_every_operation(browser_page: tuple[Any, str, list[str]]) -> None:
    page, url, problems = browser_page
    page.goto(f"{url}/redoc")
    page.wait_for_selector("h2 >> text=Synthesize speech (original ttsd endpoint)")
    text = page.inner_text("body")
    for _, _, summary in _operations(url):
        assert summary in text, f"ReDoc does not show {summary!r}"
    _screenshot(page, "redoc_page.png")
    # ReDoc always tries to show its vendor's logo from a CDN; the page's CSP refuses it before it is sent.
    logo = [p for p in problems if REDOC_LOGO in p]
    assert any("Content Security Policy" in p and "blocked" in p for p in logo), problems
    assert [p for p in problems if REDOC_LOGO not in p] == []
