"""Jobs never at interactive users' expense: a job's sentences run at background priority (an interactive
sentence waits for at most the one job batch already running), count apart from interactive admission, and
callbacks and retention do what they say."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.service.jobs_helpers import jobs_service, wait_for_status
from ttsd.voices.options import FakeOptions

BOOK = "".join(f"第{i}句话说的是不同的事情。" for i in range(400))


async def test_an_interactive_request_runs_at_most_one_job_batch_later(tmp_path: Path) -> None:
    slow = FakeOptions(delay_ms_per_batch=60)
    # A tight interactive budget: the job's 60 sentences would fill it, but they count apart.
    async with jobs_service(tmp_path, faults=slow, jobs_parallel=16, max_backlog_s=0.5) as svc:
        job = (await svc.client.post("/v1/jobs", json={"input": BOOK, "response_format": "wav"})).json()
        await wait_for_status(svc.client, job["id"], ("running",))
        while len(svc.voice.batches) < 2:  # noqa: ASYNC110 - job batches are flowing (counted in another thread)
            await asyncio.sleep(0.005)
        for k in range(3):
            before = len(svc.voice.batches)
            text = f"插队的第{k}个请求。"
            answer = await svc.client.post("/tts", json={"text": text})
            assert answer.status_code == 200
            batches = svc.voice.batches
            at = next(i for i, texts in enumerate(batches) if text in texts)
            assert at <= before + 1, f"{at - before} job batches ran ahead of an interactive sentence"
            assert batches[at] == (text,), "an interactive sentence is never batched with job work"
        status = (await svc.client.get(f"/v1/jobs/{job['id']}")).json()
        assert status["status"] == "running", "the job was still running throughout"
        assert (await svc.client.delete(f"/v1/jobs/{job['id']}")).status_code == 204


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    failures_left: int

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).failures_left > 0:  # the first attempt fails: the callback is retried
            type(self).failures_left -= 1
            self.send_response(503)
        else:
            type(self).received.append(json.loads(body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": [], "failures_left": 1})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/done", handler
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


async def test_the_callback_is_called_once_when_the_job_ends_and_retried(
    tmp_path: Path, hook: tuple[str, type[_Hook]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ttsd.jobs.callback.BACKOFF_S", (0.05, 0.05))
    url, handler = hook
    async with jobs_service(tmp_path, jobs_callback_hosts=["127.0.0.1"]) as svc:
        job = (await svc.client.post("/v1/jobs", json={"input": "你好。再见。", "callback_url": url})).json()
        await wait_for_status(svc.client, job["id"])
        for _ in range(200):
            if handler.received:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # no second call comes
        assert handler.received == [
            {
                "id": job["id"],
                "status": "succeeded",
                "error": None,
                "audio_seconds": pytest.approx(handler.received[0]["audio_seconds"]),
            }
        ]
        assert handler.received[0]["audio_seconds"] > 0


async def test_finished_jobs_are_removed_after_their_retention(tmp_path: Path) -> None:
    async with jobs_service(tmp_path, jobs_retention="1h") as svc:
        job = (await svc.client.post("/v1/jobs", json={"input": "你好。"})).json()
        done = await wait_for_status(svc.client, job["id"])
        jobs = svc.app.state.service.jobs
        await jobs.sweep(now=done["finished_at"] + 3599)
        assert (await svc.client.get(f"/v1/jobs/{job['id']}")).status_code == 200
        await jobs.sweep(now=done["finished_at"] + 3601)
        assert (await svc.client.get(f"/v1/jobs/{job['id']}")).status_code == 404
        assert not (tmp_path / job["id"]).exists()
