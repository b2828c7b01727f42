"""``ttsd serve``: graceful shutdown drains queued work while /readyz says 503; the real command starts,
serves the original curl request, logs JSON lines and exits cleanly on SIGTERM."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import soundfile as sf

from tests.service.api_helpers import free_port
from tests.service.fakes import fake_engine, make_settings
from ttsd.api import create_app
from ttsd.api.server import build_server
from ttsd.metrics import Metrics
from ttsd.voices.options import FakeOptions

pytestmark = pytest.mark.slow  # subprocesses or real servers: run by `make test`, not `make test-fast`

SRC = Path(__file__).resolve().parents[2] / "src"


def test_signal_drains_queued_work_before_exit() -> None:
    settings = make_settings(max_batch_size=1, drain_timeout_s=10)
    metrics = Metrics()
    fake = fake_engine(settings, metrics, faults=FakeOptions(delay_ms_per_batch=300))
    voice = fake.voice
    app = create_app(settings, engine=fake.engine, metrics=metrics)
    port = free_port()
    server = build_server(app, settings, host="127.0.0.1", port=port, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url)

    results: list[int] = []

    def long_request() -> None:
        text = "第一句。第二句。第三句。"  # three 300 ms batches
        results.append(httpx.post(f"{url}/tts", json={"text": text}, timeout=30).status_code)

    worker = threading.Thread(target=long_request)
    worker.start()
    _until(lambda: len(voice.batches) == 1)
    server.handle_exit(signal.SIGTERM, None)  # what uvicorn's signal handler calls
    _until(lambda: httpx.get(f"{url}/readyz").status_code == 503)
    assert httpx.get(f"{url}/readyz").json()["status"] == "draining"
    refused = httpx.post(f"{url}/tts", json={"text": "新的请求。"})
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "unavailable"
    worker.join(30)
    thread.join(30)
    assert results == [200]  # the queued sentences were finished, not dropped
    assert len(voice.batches) == 3
    assert not thread.is_alive()
    assert not server.failed


def test_ttsd_serve_command_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC), "TTSD_LOG_FORMAT": "json", "TTSD_WARMUP": "false"}
    log_file = tmp_path / "serve.log"
    with log_file.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ttsd",
                "serve",
                "--voice",
                "fake",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_ready(url, timeout_s=60, proc=proc)
            except AssertionError as err:
                raise AssertionError(f"{err}; log:\n{log_file.read_text()[-3000:]}") from None
            # the original service's curl command, unchanged
            response = httpx.post(
                f"{url}/tts",
                content='{"text": "欢迎使用中文语音合成服务"}'.encode(),
                headers={"Content-Type": "application/json"},
            )
            assert response.status_code == 200
            assert response.headers["content-type"] == "audio/wav"
            assert sf.info(io.BytesIO(response.content)).duration > 0.5
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    messages = [entry["message"] for entry in lines]
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in lines)
    assert any("draining" in m for m in messages)
    assert any("ready: voices fake" in m for m in messages)


def _wait_ready(url: str, timeout_s: float = 15, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("server did not become ready")


def _until(predicate, timeout_s: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)
