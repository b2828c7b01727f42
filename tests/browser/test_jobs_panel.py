"""The web page's "long text" panel in headless Chromium against a live server (fake voice, jobs on): a long text
becomes a job, its progress bar fills, and the finished audio and subtitles download and decode in the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_web_page import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _require_browser
from tests.service.api_helpers import live_server
from ttsd.bootstrap import build_app
from ttsd.config import Settings

pytestmark = pytest.mark.browser

BOOK = "第一章 出发\n" + "今天天气很好，我们一起去公园散步吧！" * 6 + "\n第二章 回家\n" + "晚上我们回家了。" * 6

DECODE_JS = """
async (id) => {
  const bytes = await (await fetch(document.getElementById(id).href)).arrayBuffer();
  const buffer = await new OfflineAudioContext(1, 1, 24000).decodeAudioData(bytes);
  const data = buffer.getChannelData(0);
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i] * data[i];
  return { duration: buffer.duration, rms: Math.sqrt(sum / data.length) };
}
"""


@pytest.fixture
def page(tmp_path: Path) -> Iterator[tuple[Any, list[str]]]:
    sync_playwright = _require_browser()
    with (
        live_server(
            build_app(Settings(voice="fake", warmup=False, max_text_chars=200, jobs_dir=tmp_path / "jobs"))
        ) as url,
        sync_playwright() as p,
    ):
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 1100},
        )  # fmt: skip
        problems: list[str] = []
        tab = context.new_page()
        tab.on("pageerror", lambda err: problems.append(f"page error: {err}"))
        tab.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        try:
            tab.goto(url)
            yield tab, problems
        finally:
            context.close()


def test_a_long_text_runs_as_a_job_with_progress_and_downloads(page: tuple[Any, list[str]]) -> None:
    tab, problems = page
    tab.wait_for_selector("#job-form", state="visible")
    tab.wait_for_selector("#voice option[value='fake']", state="attached")
    tab.select_option("#format", "wav")
    tab.fill("#job-text", BOOK)
    assert tab.text_content("#job-counter") == f"{len(BOOK)} / 1,000,000"  # longer than the 200-character form
    tab.click("#job-submit")
    tab.wait_for_selector("#job-download", state="visible", timeout=30_000)
    assert tab.eval_on_selector("#job-progress", "p => p.value") == 1
    status = tab.text_content("#job-status")
    assert status.startswith("succeeded · 100.0%")
    assert "2 chapters" in status
    decoded = tab.evaluate(DECODE_JS, "job-download")
    assert decoded["duration"] > 5.0
    assert decoded["rms"] > 0.05
    subtitles = tab.evaluate("async () => (await fetch(document.getElementById('job-subtitles').href)).text()")
    assert "晚上我们回家了" in subtitles
    assert tab.get_attribute("#job-download", "download").endswith(".wav")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "web_page_jobs.png"
    tab.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert problems == []


def test_an_empty_job_is_explained(page: tuple[Any, list[str]]) -> None:
    tab, problems = page
    tab.wait_for_selector("#job-form", state="visible")
    tab.click("#job-submit")
    tab.wait_for_selector("#job-error", state="visible")
    assert "Paste a text" in tab.text_content("#job-error")
    assert problems == []
