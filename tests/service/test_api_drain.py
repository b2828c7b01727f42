"""SIGTERM under streaming load: ``ttsd serve`` (fake voice) as a subprocess. Streams either complete inside the
drain budget or end visibly cut (no terminating chunk); the process exits 0 within the budget plus a margin,
even with a model call still running; the log has one line per cut, no tracebacks. And the Kubernetes
manifests agree with the Settings defaults about that budget."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.service.api_helpers import free_port
from tests.service.guarded_helpers import post_head, raw_connection, wait_until
from ttsd.api.server import uvicorn_options
from ttsd.config import Settings

pytestmark = pytest.mark.slow  # subprocesses or real servers: run by `make test`, not `make test-fast`

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DRAIN_S = 4.0
EXIT_MARGIN_S = 4.0  # lifespan shutdown + interpreter exit, on a loaded 2-core CI machine
SENTENCE = "服务关闭时正在播放的语音流必须完整结束或者明确中断。"


def _distinct(n: int) -> str:
    """``n`` different sentences (the engine synthesizes a sentence repeated within a request once)."""
    return "".join(chr(0x4E00 + i) + SENTENCE for i in range(n))


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _serve(tmp_path: Path, argv: list[str], **env: str) -> Iterator[Served]:
    port = free_port()
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "TTSD_VOICE": "fake",
        "TTSD_WARMUP": "false",
        "TTSD_HOST": "127.0.0.1",
        "TTSD_PORT": str(port),
        "TTSD_DRAIN_TIMEOUT_S": str(DRAIN_S),
        "TTSD_MAX_TEXT_CHARS": "6000",
        **env,
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, *argv], env=environ, stdout=out, stderr=subprocess.STDOUT)
    served = Served(proc, port, log)
    try:
        wait_until(lambda: _ready(served), timeout_s=60, every_s=0.1)
        yield served
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _ready(served: Served) -> bool:
    if served.proc.poll() is not None:
        raise AssertionError(f"server exited with {served.proc.returncode}:\n{served.log_text()[-3000:]}")
    try:
        return httpx.get(f"{served.url}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def ttsd_serve(tmp_path: Path) -> Iterator[Served]:
    # No admission limit: the stalled client's long stream stays admitted (it is real pending work) and would
    # otherwise price the readers out with 503s; this test is about the drain.
    yield from _serve(tmp_path, ["-m", "ttsd", "serve"], TTSD_MAX_BACKLOG_S="0")


@pytest.fixture
def slow_serve(tmp_path: Path) -> Iterator[Served]:
    """The command's server over a fake voice whose every batch takes 20 s."""
    yield from _serve(tmp_path, [str(HERE / "serve_slow_fake.py"), "delay_ms_per_batch=20000"])


@pytest.fixture
def paced_serve(tmp_path: Path) -> Iterator[Served]:
    """The command's server over a fake voice that makes one sentence per 300 ms."""
    argv = [str(HERE / "serve_slow_fake.py"), "delay_ms_per_batch=300"]
    yield from _serve(tmp_path, argv, TTSD_MAX_BATCH_SIZE="1", TTSD_CACHE_BYTES="0")  # no cache: same sentences


@dataclass
class StreamResult:
    body: bytes = b""
    complete: bool = False
    error: str = ""
    stop: threading.Event = field(default_factory=threading.Event)  # a non-reader starts reading then


def _stream_reader(port: int, text: str, result: StreamResult, *, reads: bool, started: threading.Event) -> None:
    """POST a streaming /tts on a raw socket; a reader reads it to the end, a non-reader waits for the status
    line and then reads nothing until the server process has gone. Records whether the chunked body ended
    with its terminating chunk."""
    body = f'{{"text": "{text}", "stream": true}}'.encode()
    sock = raw_connection(port, rcvbuf=None if reads else 4096)
    sock.settimeout(30)
    try:
        sock.sendall(post_head("/tts", content_length=len(body)) + body)
        if not reads:
            sock.recv(12, socket.MSG_PEEK)
            started.set()
            result.stop.wait(60)
        while chunk := sock.recv(65536):
            result.body += chunk
            started.set()
    except (ConnectionError, TimeoutError) as exc:
        result.error = type(exc).__name__
    finally:
        started.set()
        sock.close()
    result.complete = result.body.startswith(b"HTTP/1.1 200") and result.body.endswith(b"\r\n0\r\n\r\n")


def _start_stream(port: int, text: str, *, reads: bool = True) -> tuple[StreamResult, threading.Thread]:
    result = StreamResult()
    started = threading.Event()
    thread = threading.Thread(
        target=_stream_reader, args=(port, text, result), kwargs={"reads": reads, "started": started}
    )
    thread.start()
    assert started.wait(20), "no stream bytes"
    return result, thread


def _terminate_and_time(served: Served) -> tuple[int, float]:
    started = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    code = served.proc.wait(timeout=DRAIN_S + 30)
    return code, time.monotonic() - started


def test_sigterm_streams_finish_or_are_visibly_cut_and_the_process_exits(ttsd_serve: Served) -> None:
    # A client that reads nothing of a ~15 MB stream (more than the socket buffers hold), three that read.
    stalled, stalled_thread = _start_stream(ttsd_serve.port, SENTENCE * 200, reads=False)
    readers = [_start_stream(ttsd_serve.port, SENTENCE * 20) for _ in range(3)]
    code, took = _terminate_and_time(ttsd_serve)
    stalled.stop.set()
    for _, thread in [*readers, (stalled, stalled_thread)]:
        thread.join(30)
    assert code == 0
    assert took < DRAIN_S + EXIT_MARGIN_S, f"exit took {took:.1f} s"
    assert all(r.complete for r, _ in readers), [(r.error, len(r.body)) for r, _ in readers]
    assert stalled.body.startswith(b"HTTP/1.1 200")
    assert not stalled.complete, "cut at the drain budget: the client sees a body without its last chunk"
    log = ttsd_serve.log_text()
    assert "drain timeout (4 s): cut 1 unfinished response(s)" in log
    assert "Traceback" not in log, log[-3000:]
    assert "Exception in ASGI application" not in log


def test_stream_whose_sentences_cannot_finish_is_cut_with_one_line(paced_serve: Served) -> None:
    stream, thread = _start_stream(paced_serve.port, _distinct(40))  # 40 sentences x 300 ms > the budget
    code, took = _terminate_and_time(paced_serve)
    thread.join(30)
    assert code == 0
    assert took < DRAIN_S + EXIT_MARGIN_S, f"exit took {took:.1f} s"
    assert stream.body.startswith(b"HTTP/1.1 200")
    assert not stream.complete
    log = paced_serve.log_text()
    assert "response to POST /tts cut mid-body: the service" in log  # shut down, or is shutting down
    assert "Traceback" not in log, log[-3000:]


def test_exit_is_prompt_while_a_model_call_cannot_be_interrupted(slow_serve: Served) -> None:
    status: list[int] = []

    def whole_request() -> None:
        status.append(httpx.post(f"{slow_serve.url}/tts", json={"text": "慢。"}, timeout=40).status_code)

    client = threading.Thread(target=whole_request)
    client.start()
    time.sleep(0.5)  # the 20 s batch is running
    code, took = _terminate_and_time(slow_serve)
    client.join(10)
    assert code == 0
    assert took < DRAIN_S + EXIT_MARGIN_S, f"exit took {took:.1f} s"
    assert status == [503]  # ShuttingDown: its batch could not finish within the drain budget
    log = slow_serve.log_text()
    assert "exiting without waiting for 1 busy worker thread(s): ttsd-model-cpu" in log
    assert "Traceback" not in log, log[-3000:]


def test_no_new_connections_once_drained(ttsd_serve: Served) -> None:
    code, took = _terminate_and_time(ttsd_serve)
    assert code == 0
    assert took < EXIT_MARGIN_S  # nothing in flight: no waiting for the budget
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", ttsd_serve.port), timeout=1):
        pass


# -- the manifests agree with the defaults ---------------------------------------------------------------


def _base() -> tuple[dict[str, Any], dict[str, str]]:
    deployment = yaml.safe_load((ROOT / "deploy/k8s/base/deployment.yaml").read_text())
    kustomization = yaml.safe_load((ROOT / "deploy/k8s/base/kustomization.yaml").read_text())
    literals = [lit for gen in kustomization["configMapGenerator"] for lit in gen.get("literals", [])]
    return deployment, dict(lit.split("=", 1) for lit in literals)


def test_grace_period_drain_timeout_and_probes_agree() -> None:
    deployment, env = _base()
    settings = Settings.model_validate({k.removeprefix("TTSD_").lower(): v for k, v in env.items()})
    defaults = Settings.model_validate({})
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = pod["terminationGracePeriodSeconds"]
    assert settings.drain_timeout_s == defaults.drain_timeout_s
    # SIGTERM comes after preStop; the process is done by drain_timeout_s plus its exit margin.
    assert grace >= pre_stop + settings.drain_timeout_s + EXIT_MARGIN_S
    # uvicorn's own graceful timeout never outlasts the drain budget (the server cuts at the budget).
    assert uvicorn_options(settings)["timeout_graceful_shutdown"] <= settings.drain_timeout_s + 1
    # Liveness must not restart a draining pod: its failure window outlasts the whole drain.
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > pre_stop + settings.drain_timeout_s
    # Probes get an answer well inside their timeouts: connection timeouts are longer than a probe's wait,
    # and a probe is served even at the connection cap (test_api_connections).
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["timeoutSeconds"] < settings.header_timeout_s
