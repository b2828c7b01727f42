"""Helpers for the HTTP API tests: the real app + engine on the fake voice (built by ``tests/service/fakes``).

* ``running_service(...)``: async context manager -> :class:`Service` (app, in-process httpx client over
  ASGITransport, engine, fake voice, metrics). The lifespan runs (engine started, drained at the end).
* ``live_server(app)``: context manager running the app under a real uvicorn server on 127.0.0.1 in a thread;
  yields the base URL. Needed for real sockets (OpenAI client, disconnects, chunked streaming).
* Fixtures ``service``, ``client`` and ``live_service`` wrap those for the common case.

Test modules import what they use (``from tests.service.api_helpers import ...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from tests.service.fakes import FakeService, fake_engine, make_settings
from ttsd.api import create_app
from ttsd.api.server import build_server
from ttsd.bootstrap import build_jobs
from ttsd.config import Settings
from ttsd.metrics import Metrics
from ttsd.pipeline.engine import TTSEngine
from ttsd.voices.fake import FakeVoice
from ttsd.voices.options import FakeOptions

API_KEY = "test-key-123"


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text -> {(sample name, labels): value}."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def metric_value(text: str, name: str, **labels: str) -> float:
    """One sample's value (0.0 when absent): ``metric_value(t, "ttsd_rejected_total", reason="invalid")``."""
    return parse_metrics(text).get((name, frozenset(labels.items())), 0.0)


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    fake: FakeService
    settings: Settings

    @property
    def engine(self) -> TTSEngine:
        return self.fake.engine

    @property
    def voice(self) -> FakeVoice:
        return self.fake.voice

    @property
    def metrics(self) -> Metrics:
        return self.fake.metrics

    async def metric(self, name: str, **labels: str) -> float:
        response = await self.client.get("/metrics")
        assert response.status_code == 200
        return metric_value(response.text, name, **labels)


async def wait_ready(client: httpx.AsyncClient, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (await client.get("/readyz")).status_code == 200:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("service did not become ready")


@contextlib.asynccontextmanager
async def running_service(
    *,
    faults: FakeOptions | None = None,
    families: tuple[str, ...] = ("fake",),
    ready: bool = True,
    with_jobs: bool = False,
    **settings_overrides: Any,
) -> AsyncIterator[Service]:
    """The app with its lifespan running, on a fake-voice engine; ``ready``: wait for /readyz first; ``with_jobs``:
    with the long-form job service (give ``jobs_dir``)."""
    settings = make_settings(**settings_overrides)
    fake = fake_engine(settings, Metrics(), faults=faults, families=families)
    jobs = build_jobs(settings, fake.engine, fake.metrics) if with_jobs else None
    app = create_app(settings, engine=fake.engine, metrics=fake.metrics, jobs=jobs)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://ttsd.test", timeout=30) as client,
    ):
        if ready:
            await wait_ready(client)
        yield Service(app, client, fake, settings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def live_server(app: FastAPI, *, ready_timeout_s: float = 15.0, settings: Settings | None = None) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yields ``http://127.0.0.1:PORT``.
    ``settings``: serve it as ``ttsd serve`` does (ttsd's guarded HTTP and WebSocket protocols) instead of plain
    uvicorn without WebSockets."""
    port = free_port()
    if settings is not None:
        server: uvicorn.Server = build_server(
            app, settings, host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
    else:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on", access_log=False
        )
        server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout_s
    try:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline or not thread.is_alive():
                raise AssertionError("live server did not become ready")
            time.sleep(0.02)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass
class LiveService:
    url: str
    fake: FakeService
    settings: Settings

    @property
    def voice(self) -> FakeVoice:
        return self.fake.voice

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(httpx.get(f"{self.url}/metrics").text, name, **labels)


@contextlib.contextmanager
def live_service(
    *, faults: FakeOptions | None = None, families: tuple[str, ...] = ("fake",), **settings_overrides: Any
) -> Iterator[LiveService]:
    settings = make_settings(**settings_overrides)
    fake = fake_engine(settings, Metrics(), faults=faults, families=families)
    with live_server(create_app(settings, engine=fake.engine, metrics=fake.metrics)) as url:
        yield LiveService(url, fake, settings)
