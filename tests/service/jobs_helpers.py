"""Helpers for the long-form job tests: the app with a job service (jobs directory under a test's tmp_path)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.service.api_helpers import Service, wait_ready
from tests.service.fakes import fake_engine, make_settings
from ttsd.api import create_app
from ttsd.bootstrap import build_jobs
from ttsd.metrics import Metrics
from ttsd.voices.options import FakeOptions


@contextlib.asynccontextmanager
async def jobs_service(
    directory: Path, *, faults: FakeOptions | None = None, **overrides: Any
) -> AsyncIterator[Service]:
    """The app (lifespan running, ready) with jobs under ``directory``; settings overrides as keywords."""
    values: dict[str, Any] = {"jobs_dir": directory, "max_text_chars": 5000, "jobs_lease_s": 3.0}
    values.update(overrides)
    settings = make_settings(**values)
    fake = fake_engine(settings, Metrics(), faults=faults)
    app = create_app(
        settings, engine=fake.engine, metrics=fake.metrics, jobs=build_jobs(settings, fake.engine, fake.metrics)
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://ttsd.test", timeout=30) as client,
    ):
        await wait_ready(client)
        yield Service(app, client, fake, settings)


async def wait_for_status(
    client: httpx.AsyncClient, job_id: str, statuses: tuple[str, ...] = ("succeeded",), timeout_s: float = 20.0
) -> dict[str, Any]:
    """Poll ``GET /v1/jobs/{id}`` until its status is one of ``statuses``; the last body."""
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = (await client.get(f"/v1/jobs/{job_id}")).json()
        if body.get("status") in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not reach {statuses}: {body}")
        await asyncio.sleep(0.02)
