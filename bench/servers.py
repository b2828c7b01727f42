"""Servers for the benchmark scripts: a free loopback port, a process logging to a file, and a wait until it answers.

    with ttsd_server("name", {"TTSD_VOICES": "baker"}, log_dir=OUT) as (url, proc): ...
    report = loadtest_report(url, clients=16, seconds=30, texts=TEXTS, out=OUT / "loadtest.json")

(``bench/gpu_check.py`` keeps its own: it runs on the device machine's bare interpreter, with urllib only.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(
    cmd: list[str], *, env: dict[str, str], log: Path, ready_url: str, timeout_s: float = 180.0, group: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """``cmd`` with ``env`` over this environment, output to ``log``; yields once ``ready_url`` answers 200.
    ``group``: the process leads its own process group, and the whole group is stopped (servers with children).
    Stopping: SIGTERM, then SIGKILL after 40 s."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=group)  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        while not _answers(ready_url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(cmd[1:3])} did not start in {timeout_s:.0f} s; see {log}")
            time.sleep(0.5)
        yield proc
    finally:
        _stop(proc, group=group)


@contextlib.contextmanager
def ttsd_server(
    name: str, settings: dict[str, str], *, log_dir: Path, timeout_s: float = 180.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``ttsd serve`` on a free loopback port with ``settings`` (TTSD_*), logging to ``log_dir/server-<name>.log``."""
    port = free_port()
    env = {"TTSD_HOST": "127.0.0.1", "TTSD_PORT": str(port), "TTSD_LOG_LEVEL": "warning", **settings}
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "ttsd", "serve"]
    with running(cmd, env=env, log=log_dir / f"server-{name}.log", ready_url=f"{url}/readyz", timeout_s=timeout_s) as p:
        yield url, p


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(proc: subprocess.Popen[bytes], *, group: bool) -> None:
    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)

    send(signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait()


def loadtest_report(
    url: str, *, clients: int, seconds: int, texts: Path, out: Path, echo: bool = False
) -> dict[str, Any]:
    """Run ``ttsd loadtest`` (/tts, WAV) against ``url``; its JSON report (written to ``out``) without the
    per-request samples. ``echo`` prints its summary."""
    cmd = [sys.executable, "-m", "ttsd", "loadtest", "--url", url, "--concurrency", str(clients),
           "--duration", str(seconds), "--texts", str(texts), "--json", str(out)]  # fmt: skip
    printed = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 300)
    if echo:
        print(printed.stdout, flush=True)
    report: dict[str, Any] = json.loads(out.read_text())["reports"][0]
    report.pop("samples", None)
    return report
