"""``ttsd loadtest`` against a live fake-voice server: bounded in time, reports throughput, percentiles, time
to first audio and the server's batch sizes; writes JSON and a PNG; refuses non-loopback targets."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytest

from tests.service.api_helpers import live_service
from ttsd.commands import loadtest
from ttsd.voices.options import FakeOptions


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    loadtest.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.slow
def test_loadtest_compares_two_servers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("第一句话。\n今天天气很好，我们去散步吧！\n\n好的。\n", encoding="utf-8")
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    with (
        live_service(cache_bytes=0, max_batch_size=8, faults=FakeOptions(delay_ms_per_batch=20)) as a,
        live_service(cache_bytes=0, max_batch_size=1, faults=FakeOptions(delay_ms_per_batch=20)) as b,
    ):
        started = time.monotonic()
        args = parse(
            "--url", a.url, "--url", b.url, "--concurrency", "4", "--duration", "1.0", "--texts", str(texts),
            "--stream", "--json", str(out_json), "--png", str(out_png),
        )  # fmt: skip
        assert loadtest.run(args) == 0
        assert time.monotonic() - started < 10
    report = json.loads(out_json.read_text())
    first, second = report["reports"]
    for r in (first, second):
        assert r["ok"] > 0
        assert r["errors"] == {}
        assert r["requests_per_s"] > 0
        assert r["audio_seconds_per_s"] > 0
        assert set(r["latency_s"]) >= {"p50", "p95", "p99"}
        assert 0 < r["ttfa_s"]["p50"] <= r["latency_s"]["max"]
        assert r["latency_s"]["p50"] <= r["latency_s"]["p95"] <= r["latency_s"]["p99"]
        # Short texts (<= 15 characters) are reported on their own, from those samples only.
        short = [x["latency_s"] for x in r["samples"] if x["status"] == "200" and x["chars"] <= 15]
        assert short
        assert r["short_latency_s"]["max"] == max(short)
        assert sum(r["batch_size_histogram"].values()) > 0
    assert second["mean_batch_size"] == 1.0  # max_batch_size=1 on the second server
    assert first["mean_batch_size"] >= 1.0
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "req/s" in printed
    assert "batch sizes" in printed
    assert "short texts" in printed


def test_loadtest_bounded_by_request_count() -> None:
    with live_service() as svc:
        args = parse("--url", svc.url, "--concurrency", "2", "--duration", "30", "--max-requests", "5")
        started = time.monotonic()
        assert loadtest.run(args) == 0
        assert time.monotonic() - started < 10
        assert svc.metric("ttsd_request_duration_seconds_count", route="/tts", status="200") == 5


@pytest.mark.parametrize("url", ["http://example.com:8080", "http://10.1.2.3:8080", "ftp://127.0.0.1"])
def test_loadtest_refuses_non_loopback(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert loadtest.run(parse("--url", url, "--duration", "1")) == 2
    assert "loadtest" in capsys.readouterr().err
