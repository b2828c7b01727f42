"""A real Prometheus scrapes a real ttsd, and every PromQL expression the deployment relies on returns data.

ttsd runs with the fake voice (deterministic tones, no model: the metric names and labels are the service's,
whichever voice is loaded) on a free loopback port; Prometheus (Debian's package) runs with a generated
configuration that scrapes it every second, loads deploy/prometheus/rules, and adds the `namespace`, `pod` and
`pool` labels that deploy/prometheus/prometheus-k8s.yml's relabelling gives a pod in Kubernetes. After some
load (successes, streamed responses, repeated texts for cache hits, invalid requests for rejects, readiness
probes as the kubelet sends them), every expression of the Grafana dashboard, the recording and alert rules,
the prometheus-adapter rules and the KEDA trigger is queried through Prometheus' HTTP API and must return at
least one sample: a misspelt metric or label in any of them fails here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.deploy.deploy_helpers import (
    REPO,
    RULE_FILES,
    Expr,
    adapter_exprs,
    dashboard_exprs,
    keda_exprs,
    require_tool,
    rule_exprs,
)

pytestmark = pytest.mark.slow

# The labels a ttsd pod's series get in Kubernetes (see deploy/prometheus/prometheus-k8s.yml).
POD_LABELS = {"namespace": "ttsd", "pod": "ttsd-cpu-live-0", "pool": "cpu"}
STARTUP_TIMEOUT_S = 90.0
QUERY_DEADLINE_S = 45.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _process(args: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, *, want: int = 200) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args!r} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == want:
                return
        time.sleep(0.25)
    pytest.fail(f"{url} not {want} after {STARTUP_TIMEOUT_S} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    require_tool("promtool")
    return require_tool("prometheus")


@pytest.fixture(scope="module")
def ttsd_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("ttsd")
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])),
        "TTSD_MODEL_DIR": str(workdir / "models"),
    }
    args = [
        sys.executable, "-m", "ttsd", "serve", "--voice", "fake", "--host", "127.0.0.1", "--port", str(port),
        "--max-queue", "16", "--max-text-chars", "400",
    ]  # fmt: skip
    log = workdir / "ttsd.log"
    with _process(args, log, env) as proc:
        _wait_for(f"http://127.0.0.1:{port}/healthz", proc, log)
        # Polled like a kubelet's readiness probe: 503 while the voice warms up, then 200.
        _wait_for(f"http://127.0.0.1:{port}/readyz", proc, log)
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def prometheus_url(prometheus_binary: str, ttsd_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("prometheus")
    port = _free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in RULE_FILES],
        "scrape_configs": [
            {
                "job_name": "ttsd",
                "scrape_timeout": "1s",
                "static_configs": [{"targets": [ttsd_url.removeprefix("http://")], "labels": POD_LABELS}],
            }
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    args = [
        prometheus_binary,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    log = workdir / "prometheus.log"
    with _process(args, log) as proc:
        _wait_for(f"http://127.0.0.1:{port}/-/ready", proc, log)
        yield f"http://127.0.0.1:{port}"


TEXTS = [
    "今天天气很好。我们去公园散步吧！",
    "欢迎使用语音合成服务。",
    "这是一个测试句子，用来检查批处理。还有第二句。第三句也在这里。",
]


async def _drive_load(base: str) -> dict[int, int]:
    """Successes on both synthesis routes (plain and streamed), repeats (cache hits), invalid requests
    (rejects), a concurrent burst against a small queue, and readiness probes throughout. Returns the count
    of each status code seen."""
    statuses: dict[int, int] = {}

    async def call(client: httpx.AsyncClient, method: str, path: str, **kw: object) -> None:
        response = await client.request(method, base + path, **kw)  # type: ignore[arg-type]
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(4):  # spread over a few scrapes, so the rates are not all zero
            await asyncio.sleep(0.5)
            for text in TEXTS:
                await call(client, "POST", "/tts", json={"text": text})
                await call(
                    client,
                    "POST",
                    "/v1/audio/speech",
                    json={"model": "tts-1", "input": text, "voice": "default"},
                )
                await call(
                    client,
                    "POST",
                    "/v1/audio/speech",
                    json={"model": "tts-1", "input": text, "stream": True, "response_format": "pcm"},
                )
                await call(client, "GET", "/readyz")
        for bad in ({"text": ""}, {"text": "字" * 1000}, {"txt": "x"}):
            await call(client, "POST", "/tts", json=bad)
        await call(client, "POST", "/v1/audio/speech", json={"model": "tts-1", "input": "你好", "speed": 100})
        burst = [
            call(client, "POST", "/tts", json={"text": f"第{i}段。" + "长句子测试，" * 20 + "结束。"})
            for i in range(40)
        ]
        await asyncio.gather(*burst)
        for _ in range(5):
            await call(client, "GET", "/readyz")
    return statuses


def _query(prometheus: str, promql: str) -> list[object]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10)
    body = response.json()
    assert body.get("status") == "success", f"{promql}: {body}"
    return list(body["data"]["result"])


def _all_exprs() -> list[Expr]:
    return dashboard_exprs() + rule_exprs() + adapter_exprs(POD_LABELS) + keda_exprs()


def _wait_for_first_scrape(prometheus: str) -> None:
    """Prometheus hands discovered targets to its scrape loop a few seconds after it reports ready."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(r["value"][1] == "1" for r in _query(prometheus, 'up{job="ttsd"}')):  # type: ignore[index]
            return
        time.sleep(0.5)
    pytest.fail("Prometheus never scraped ttsd successfully")


def test_every_query_returns_data_from_a_scraped_ttsd(ttsd_url: str, prometheus_url: str) -> None:
    _wait_for_first_scrape(prometheus_url)
    statuses = asyncio.run(_drive_load(ttsd_url))
    assert statuses.get(200, 0) >= 20, statuses
    assert any(400 <= code < 500 for code in statuses), f"no client errors were provoked: {statuses}"

    exprs = _all_exprs()
    assert len(exprs) >= 40
    deadline = time.monotonic() + QUERY_DEADLINE_S
    pending = list(exprs)
    while pending and time.monotonic() < deadline:
        time.sleep(2)  # a few more scrapes and rule evaluations
        pending = [e for e in pending if not _query(prometheus_url, e.promql)]
    assert not pending, "queries with no data:\n" + "\n".join(f"  {e.source}: {e.promql}" for e in pending)

    # The load reached the code paths the panels show.
    for promql in (
        'sum(ttsd_cache_requests_total{result="hit"}) > 0',
        'sum(ttsd_rejected_total{reason="invalid"}) > 0',
        'sum(ttsd_time_to_first_audio_seconds_count{route="/v1/audio/speech"}) > 0',
        "sum(ttsd_batch_size_count) > 0",
        'sum(ttsd_request_duration_seconds_count{route="/readyz"}) > 0',
    ):
        assert _query(prometheus_url, promql), promql

    # The series carry the labels the adapter and the per-pod alerts group by.
    [depth] = _query(prometheus_url, 'ttsd_queue_depth{namespace="ttsd"}')
    assert depth["metric"]["pod"] == POD_LABELS["pod"]  # type: ignore[index]
    [info] = _query(prometheus_url, "ttsd_build_info")
    assert info["metric"]["device"] == "cpu"  # type: ignore[index]
