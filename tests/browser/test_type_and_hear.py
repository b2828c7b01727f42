"""The web page's "type and hear" mode in headless Chromium, against ttsd's own server (WebSocket protocol on)
and the fake voice: the LLM demo and typed text are spoken sentence by sentence over /v1/audio/speech/ws."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_web_page import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _require_browser
from tests.service.api_helpers import live_server
from ttsd.bootstrap import build_app
from ttsd.config import Settings

pytestmark = pytest.mark.browser

DEMO_SENTENCES = 4  # src/ttsd/web/live.js: LIVE_DEMO


def _ttsd_server(**overrides: Any) -> contextlib.AbstractContextManager[str]:
    """ttsd as ``ttsd serve`` runs it (its own WebSocket protocol), on the fake voice."""
    settings = Settings(voice="fake", warmup=False, max_text_chars=500, **overrides)
    return live_server(build_app(settings), settings=settings)


@pytest.fixture
def live_page(tmp_path: Path) -> Iterator[tuple[Any, list[str]]]:
    sync_playwright = _require_browser()
    with _ttsd_server() as url, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 1100},
        )
        problems: list[str] = []
        page = context.new_page()
        page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        try:
            page.goto(url)
            page.wait_for_selector("#voice option[value='fake']", state="attached")
            yield page, problems
        finally:
            context.close()


def test_the_llm_demo_is_heard_sentence_by_sentence(live_page: tuple[Any, list[str]]) -> None:
    page, problems = live_page
    page.click("#live-demo")
    page.wait_for_selector("#live-status[data-kind='done']", timeout=20_000)
    stats = page.text_content("#live-stats")
    assert f"{DEMO_SENTENCES} sentence(s)" in stats
    heard_s = float(page.get_attribute("#live-stats", "data-audio-seconds"))
    done_s = float(page.text_content("#live-status").split()[1])
    assert heard_s > 1.0
    assert heard_s == pytest.approx(done_s, abs=0.01)  # every frame the server sent was scheduled for playback
    assert page.text_content("#live-heard").startswith("您好，我是智能客服小安。")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_page_live.png"), full_page=True)
    assert problems == []


def test_typed_text_is_spoken_as_each_sentence_completes(live_page: tuple[Any, list[str]]) -> None:
    page, problems = live_page
    page.type("#live-text", "你好。", delay=30)
    page.wait_for_function("document.getElementById('live-heard').textContent === '你好。'", timeout=10_000)
    page.type("#live-text", "今天天气很好", delay=30)
    page.click("#live-end")
    page.wait_for_selector("#live-status[data-kind='done']", timeout=10_000)
    assert page.text_content("#live-heard") == "你好。今天天气很好"
    assert problems == []
