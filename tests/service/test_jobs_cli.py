"""``ttsd jobs submit|status|list|fetch|cancel`` against a live server with jobs (fake voice)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf

from tests.service.api_helpers import live_server
from tests.service.fakes import fake_engine, make_settings
from ttsd.api import create_app
from ttsd.bootstrap import build_jobs
from ttsd.cli import main
from ttsd.metrics import Metrics

BOOK = "第一章 出发\n今天天气很好。我们去公园散步吧！\n第二章 回家\n晚上我们回家了。"


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    settings = make_settings(jobs_dir=tmp_path / "jobs", max_text_chars=5000)
    fake = fake_engine(settings, Metrics())
    jobs = build_jobs(settings, fake.engine, fake.metrics)
    with live_server(create_app(settings, engine=fake.engine, metrics=fake.metrics, jobs=jobs)) as base:
        yield base


def test_submit_wait_fetch_status_list_and_cancel(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ttsd.commands.jobs.POLL_S", 0.05)
    book = tmp_path / "book.txt"
    book.write_text(BOOK, encoding="utf-8")
    out = tmp_path / "book.wav"
    assert main(["jobs", "--url", url, "submit", str(book), "--format", "wav", "--wait", "-o", str(out)]) == 0
    job_id = capsys.readouterr().out.strip()
    assert job_id.startswith("job_")
    audio, rate = sf.read(out)
    assert rate == 24_000
    assert len(audio) > 0
    assert main(["jobs", "--url", url, "status", job_id]) == 0
    assert "succeeded: 100.0% of" in capsys.readouterr().out
    assert main(["jobs", "--url", url, "list"]) == 0
    assert job_id in capsys.readouterr().out
    srt = tmp_path / "book.srt"
    assert (
        main(["jobs", "--url", url, "fetch", job_id, "-o", str(tmp_path / "again.wav"), "--subtitles", str(srt)]) == 0
    )
    assert (tmp_path / "again.wav").read_bytes() == out.read_bytes()
    assert "晚上我们回家了" in srt.read_text(encoding="utf-8")
    assert main(["jobs", "--url", url, "cancel", job_id]) == 1  # it had already ended: 409
    assert "409" in capsys.readouterr().err
    assert main(["jobs", "--url", url, "cancel", job_id, "--remove"]) == 0
    assert main(["jobs", "--url", url, "status", job_id]) == 1
    assert "404: no job" in capsys.readouterr().err


def test_a_refused_submission_says_why(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book = tmp_path / "book.txt"
    book.write_text(BOOK, encoding="utf-8")
    assert main(["jobs", "--url", url, "submit", str(book), "--voice", "nobody"]) == 1
    assert "422: unknown voice 'nobody'" in capsys.readouterr().err
