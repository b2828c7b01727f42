"""``ttsd serve`` with its worker pool, as a real command over the fake voice: a worker killed under load is
replaced while every request succeeds and /readyz stays 200; SIGTERM and SIGKILL of the server leave no
worker process behind; the removed TTSD_WORKERS setting is refused with a pointer to its replacement."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.service.api_helpers import free_port

pytestmark = pytest.mark.slow  # real servers and worker processes

SRC = Path(__file__).resolve().parents[2] / "src"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _workers(pid: int) -> list[int]:
    """The server's model workers (its resource tracker aside)."""
    return [p for p in _children(pid) if "resource_tracker" not in Path(f"/proc/{p}/cmdline").read_text()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@contextmanager
def serve(tmp_path: Path, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    settings = {"PYTHONPATH": str(SRC), "TTSD_WARMUP": "false", "TTSD_VOICE": "fake", "TTSD_HOST": "127.0.0.1",
                "TTSD_PORT": str(port), "TTSD_WORKERS_PER_DEVICE": "2", **env}  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "ttsd", "serve"], env={**os.environ, **settings}, stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "server did not become ready"
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def _wait_gone(pids: list[int], timeout_s: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_server_leaves_no_worker_behind(tmp_path: Path, sig: signal.Signals) -> None:
    with serve(tmp_path) as (proc, url):
        assert httpx.post(f"{url}/tts", json={"text": "你好。"}).status_code == 200
        workers = _workers(proc.pid)
        assert len(workers) == 2
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
        assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
        assert _wait_gone(workers) == []  # SIGKILL included: the workers notice their parent is gone


def test_a_worker_killed_under_load_costs_no_request(tmp_path: Path) -> None:
    env = {"TTSD_MAX_BATCH_SIZE": "2", "TTSD_CACHE_BYTES": "0"}
    with serve(tmp_path, **env) as (proc, url):
        statuses: list[int] = []
        ready: list[int] = []
        stop = threading.Event()

        def client(k: int) -> None:
            with httpx.Client(timeout=30) as c:
                n = 0
                while not stop.is_set():
                    n += 1
                    statuses.append(c.post(f"{url}/tts", json={"text": f"第{k}个客户的第{n}句话。"}).status_code)

        def probe() -> None:
            with httpx.Client(timeout=5) as c:
                while not stop.is_set():
                    ready.append(c.get(f"{url}/readyz").status_code)
                    time.sleep(0.05)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)] + [threading.Thread(target=probe)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        victim = _workers(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while 'ttsd_workers{voice="fake"} 2.0' not in (metrics := httpx.get(f"{url}/metrics").text):
            assert time.monotonic() < deadline, "the worker was not replaced"
            time.sleep(0.1)
        time.sleep(1.0)  # and the replacement takes batches
        stop.set()
        for t in threads:
            t.join(60)
        assert victim not in _workers(proc.pid)
        assert len(_workers(proc.pid)) == 2
    assert statuses
    assert set(statuses) == {200}
    assert set(ready) == {200}
    assert 'ttsd_worker_restarts_total{voice="fake"} 1.0' in metrics


def test_the_removed_workers_setting_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "TTSD_WORKERS": "2"}
    done = subprocess.run([sys.executable, "-m", "ttsd", "serve", "--voice", "fake"], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "TTSD_WORKERS is no longer a setting" in done.stderr
    assert "TTSD_WORKERS_PER_DEVICE" in done.stderr
