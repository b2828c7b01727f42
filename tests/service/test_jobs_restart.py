"""Durability: a server running a job is killed with SIGKILL mid-job and started again on the same jobs
directory. The job resumes by itself, no sentence committed before the kill is synthesized again, and the final
file is byte-identical to an uninterrupted run's. ``serve_jobs_fake.py`` is ``ttsd serve`` over a fake voice that
logs every sentence it synthesizes."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.api_helpers import free_port

pytestmark = pytest.mark.slow  # subprocesses

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BOOK = "\n\n".join(
    f"第{c}章\n" + "".join(f"这是第{c}章的第{s}句话，内容各不相同。" for s in range(12)) for c in range(1, 6)
)


@contextlib.contextmanager
def serve(
    jobs_dir: Path, log: Path, out: Path, *, store: str = "sqlite", delay_ms: int = 40
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "TTSD_VOICE": "fake", "TTSD_WARMUP": "false", "TTSD_HOST": "127.0.0.1", "TTSD_PORT": str(port),
        "TTSD_JOBS_DIR": str(jobs_dir), "TTSD_JOBS_LEASE_S": "1", "TTSD_JOBS_PARALLEL": "4", "TTSD_JOBS_STORE": store,
    }  # fmt: skip
    with out.open("ab") as sink:
        argv = [sys.executable, str(HERE / "serve_jobs_fake.py"), str(log), f"delay_ms_per_batch={delay_ms}"]
        proc = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, out.read_text(errors="replace")[-3000:]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.05)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_job(url: str, job_id: str, until: str = "succeeded", progress: float = 1.0) -> dict[str, object]:
    deadline = time.monotonic() + 90
    while True:
        body = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=5).json()
        if body["status"] == until and float(body["progress"]) >= progress:
            return dict(body)
        assert body["status"] not in ("failed", "cancelled"), body
        assert time.monotonic() < deadline, body
        time.sleep(0.01)


def committed(jobs_dir: Path, job_id: str) -> set[int]:
    with contextlib.closing(sqlite3.connect(jobs_dir / "jobs.sqlite3")) as db:
        return {row[0] for row in db.execute("SELECT idx FROM parts WHERE job_id = ?", (job_id,))}


def test_a_job_killed_mid_way_resumes_without_redoing_a_sentence(tmp_path: Path) -> None:
    submit = {"input": BOOK, "response_format": "wav", "voice": "alloy"}
    # The reference: the same job, uninterrupted.
    with serve(tmp_path / "ref", tmp_path / "ref.log", tmp_path / "ref.out") as (_, url):
        job = httpx.post(f"{url}/v1/jobs", json=submit).json()
        wait_job(url, job["id"])
        reference = httpx.get(f"{url}/v1/jobs/{job['id']}/audio").content

    jobs_dir = tmp_path / "jobs"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with serve(jobs_dir, first_log, tmp_path / "serve.out") as (proc, url):
        job = httpx.post(f"{url}/v1/jobs", json=submit).json()
        wait_job(url, job["id"], until="running", progress=0.4)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done_before = committed(jobs_dir, job["id"])
    plan_size = int(job["sentences"])
    assert 0 < len(done_before) < plan_size
    with serve(jobs_dir, second_log, tmp_path / "serve.out") as (_, url):
        finished = wait_job(url, job["id"])  # resumed on its own once the dead process's lease lapsed
        audio = httpx.get(f"{url}/v1/jobs/{job['id']}/audio").content
    assert audio == reference
    assert finished["sentences_done"] == plan_size
    redone = set(second_log.read_text().splitlines())
    finished_before = {t for i, t in enumerate(_plan_texts(BOOK)) if i in done_before}
    assert finished_before <= set(first_log.read_text().splitlines())  # the log names sentences as the plan does
    assert not redone & finished_before, "a sentence committed before the kill was synthesized again"
    assert redone | finished_before == set(_plan_texts(BOOK))
    assert not list(jobs_dir.glob("*/parts/*")), "part files are removed once the job is assembled"
    assert not list(jobs_dir.glob("**/*.tmp")), "no temporary file is left behind"


def test_two_replicas_on_one_redis_a_dead_replicas_job_is_finished_by_the_other(tmp_path: Path, redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    submit = {"input": BOOK, "response_format": "wav"}
    with serve(tmp_path / "ref", tmp_path / "ref.log", tmp_path / "ref.out") as (_, url):
        job = httpx.post(f"{url}/v1/jobs", json=submit).json()
        wait_job(url, job["id"])
        reference = httpx.get(f"{url}/v1/jobs/{job['id']}/audio").content
    shared = tmp_path / "shared"  # the replicas' shared volume
    logs = tmp_path / "a.log", tmp_path / "b.log"
    with (
        serve(shared, logs[0], tmp_path / "a.out", store=redis_url) as (replica_a, url_a),
        serve(shared, logs[1], tmp_path / "b.out", store=redis_url) as (replica_b, url_b),
    ):
        job = httpx.post(f"{url_a}/v1/jobs", json=submit).json()  # either replica may take it
        running = wait_job(url_b, job["id"], until="running", progress=0.3)  # B sees the job's progress too
        port_a = url_a.rsplit(":", 1)[1]
        on_a = str(running["worker"]).split(":")[1] == port_a
        dying, survivor = (replica_a, url_b) if on_a else (replica_b, url_a)
        dying.send_signal(signal.SIGKILL)
        dying.wait()
        finished = wait_job(survivor, job["id"])  # the other takes the job over once the lease lapses
        assert str(finished["worker"] or "") == ""
        audio = httpx.get(f"{survivor}/v1/jobs/{job['id']}/audio").content
    assert audio == reference
    assert finished["sentences_done"] == job["sentences"]
    by_a, by_b = (set(log.read_text().splitlines()) for log in logs)
    assert by_a, "both replicas did part of the work"
    assert by_b, "both replicas did part of the work"
    assert by_a | by_b == set(_plan_texts(BOOK))


def _plan_texts(text: str) -> list[str]:
    from ttsd.jobs.plan import plan_text

    return [part.text for part in plan_text(text, markup=False).parts]
