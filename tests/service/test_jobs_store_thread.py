"""A stalled job store slows the jobs, not speech: the store's calls run on a thread of their own, so while a
real Redis is frozen (SIGSTOP) the event loop still answers probes and interactive requests at once; the job
call waiting on the store completes once Redis is back. And a drain that stops the jobs loop while a claim is
still running on that thread gives the claimed job straight back."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import redis

from tests.redis_helpers import redis_server
from tests.service.jobs_helpers import jobs_service, wait_for_status
from ttsd.jobs.model import JobStatus
from ttsd.jobs.store import JobStore
from ttsd.jobs.store_thread import ThreadedStore


async def test_a_stalled_redis_does_not_hold_interactive_requests(tmp_path: Path) -> None:
    with redis_server() as url:
        async with jobs_service(tmp_path, jobs_store=url) as svc:
            first = (await svc.client.post("/v1/jobs", json={"input": "先来一个。"})).json()
            await wait_for_status(svc.client, first["id"])
            pid = int(redis.Redis.from_url(url).info("server")["process_id"])
            os.kill(pid, signal.SIGSTOP)
            try:
                submit = asyncio.create_task(svc.client.post("/v1/jobs", json={"input": "你好，世界。"}))
                await asyncio.sleep(0.3)  # the submission (and the jobs loop) now wait on the frozen store
                started = time.monotonic()
                health = await svc.client.get("/healthz")
                health_s = time.monotonic() - started
                started = time.monotonic()
                speech = await svc.client.post("/tts", json={"text": "这句话不等任务。"})
                speech_s = time.monotonic() - started
                assert not submit.done(), "the job submission waits for the store"
            finally:
                os.kill(pid, signal.SIGCONT)
            assert health.status_code == 200
            assert health_s < 0.5, f"/healthz took {health_s:.2f} s while the store was frozen"
            assert speech.status_code == 200
            assert speech_s < 1.0, f"/tts took {speech_s:.2f} s while the store was frozen"
            queued = await asyncio.wait_for(submit, timeout=15)
            assert queued.status_code == 202
            assert (await wait_for_status(svc.client, queued.json()["id"]))["status"] == "succeeded"


class _GatedClaims(JobStore):
    """A real SQLite store whose ``claim`` of a queued job waits at a gate (a slow store, deterministically)."""

    def __init__(self, path: Path, gate: threading.Event) -> None:
        super().__init__(path)
        self._gate = gate

    def claim(self, owner: str, *, now: float, lease_s: float) -> str | None:
        if self.counts().get(JobStatus.QUEUED, 0):
            self._gate.wait(10)
        return super().claim(owner, now=now, lease_s=lease_s)


async def test_a_job_claimed_while_the_loop_stops_goes_straight_back_to_the_queue(tmp_path: Path) -> None:
    async with jobs_service(tmp_path, jobs_lease_s=60.0) as svc:
        jobs = svc.app.state.service.jobs
        jobs.stop()  # swap in the gated store before the loop claims anything
        gate = threading.Event()
        jobs._store = ThreadedStore(lambda: _GatedClaims(tmp_path / "gated.sqlite3", gate))
        jobs.start()
        job = (await svc.client.post("/v1/jobs", json={"input": "排队的任务。"})).json()
        await asyncio.sleep(0.3)  # the loop is now inside claim(), at the gate
        jobs.stop()  # a drain: the loop is cancelled while its claim is still running
        gate.set()
        row = None
        for _ in range(100):
            row = await jobs._store.get(job["id"])
            if row is not None and row.status is JobStatus.QUEUED and row.owner is None:
                break
            await asyncio.sleep(0.02)
        assert row is not None
        assert row.status is JobStatus.QUEUED, "the late claim was given back, not held for the 60 s lease"
        assert row.owner is None
