"""``ttsd bench`` end to end on the fake voice: worker processes, JSON report, table, SNR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ttsd.cli import main
from ttsd.commands.bench import SENTENCES, paragraph_text


def test_packaged_paragraph_is_the_fixture() -> None:
    fixture = Path(__file__).parents[1] / "fixtures" / "bench_paragraph.txt"
    assert paragraph_text() == fixture.read_text(encoding="utf-8").strip()


@pytest.mark.slow
def test_bench_reports_every_precision_and_batch_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "--voice", "fake", "--batch-sizes", "1", "4", "--repeats", "1", "--json", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [r["precision"] for r in report["results"]] == ["fp32", "mixed", "bf16"]
    for result in report["results"]:
        paragraph = result["paragraph"]
        assert paragraph["chars"] == len(paragraph_text())
        assert paragraph["audio_s"] > 0
        assert paragraph["rtf"] == pytest.approx(paragraph["wall_s"] / paragraph["audio_s"])
        assert [b["batch_size"] for b in result["batches"]] == [1, 4]
        assert all(b["items"] == len(SENTENCES) for b in result["batches"])
        assert result["peak_rss_mb"] > 0
        assert 0 < result["paragraph_peak_rss_mb"] <= result["peak_rss_mb"]
    # The fake voice ignores precision, so its bf16 audio is fp32's exactly.
    assert report["snr_db_vs_fp32"]["bf16"] > 100
    table = capsys.readouterr().out
    assert "paragraph" in table
    assert "batch 4 x16" in table
    assert "SNR of bf16 paragraph audio vs fp32" in table
