"""Fixtures and helpers for the HTTP API tests: the real app + engine on the fake voice.

* ``running_service(...)``: async context manager -> :class:`Service` (app, in-process httpx client over
  ASGITransport, engine, fake voice, metrics). The lifespan runs (engine started, drained at the end).
* ``live_server(app)``: context manager running the app under a real uvicorn server on 127.0.0.1 in a thread;
  yields the base URL. Needed for real sockets (OpenAI client, disconnects, chunked streaming).
* Fixtures ``service``, ``client`` and ``live_service`` wrap those for the common case.

Test modules import what they use (``from conftest_api import ...``); pytest puts this directory on sys.path.
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
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from ttsd.api import create_app
from ttsd.config import Settings
from ttsd.engine import TTSEngine, engine_from_settings
from ttsd.metrics import Metrics
from ttsd.serving.executors import make_executor
from ttsd.voices.fake import HOP, FakeVoice, frames_for
from ttsd.voices.registry import load_voice

API_KEY = "test-key-123"


def make_settings(**overrides: Any) -> Settings:
    """Settings for tests: the fake voice, no warm-up, small limits unless overridden."""
    values: dict[str, Any] = {"voice": "fake", "warmup": False, "max_text_chars": 500, "max_wait_ms": 2.0}
    values.update(overrides)
    return Settings(**values)


def make_engine(settings: Settings, metrics: Metrics, **voice_extra: str) -> tuple[TTSEngine, FakeVoice]:
    """A real TTSEngine on a FakeVoice built with ``voice_extra`` options (e.g. ``delay_ms_per_batch``)."""
    voice = load_voice("fake", max_phonemes=settings.max_phonemes, **voice_extra)
    assert isinstance(voice, FakeVoice)
    engine = engine_from_settings(settings, metrics, voice=voice, executor=make_executor("cpu", voice))
    return engine, voice


def expected_samples(voice: FakeVoice, text: str, speed: float = 1.0) -> int:
    """Samples the fake voice produces for ``text``: each sentence's frames plus the pauses between them."""
    utterances = voice.frontend(text)
    total = sum(frames_for(u, speed) * HOP for u in utterances)
    total += sum(round(u.pause_after_s * voice.sample_rate) for u in utterances[:-1])
    return total


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
    engine: TTSEngine
    voice: FakeVoice
    metrics: Metrics
    settings: Settings

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
    *, voice_extra: dict[str, str] | None = None, ready: bool = True, **settings_overrides: Any
) -> AsyncIterator[Service]:
    """The app with its lifespan running, on a fake-voice engine; ``ready``: wait for /readyz first."""
    settings = make_settings(**settings_overrides)
    metrics = Metrics()
    engine, voice = make_engine(settings, metrics, **(voice_extra or {}))
    app = create_app(settings, engine, metrics=metrics)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://ttsd.test", timeout=30) as client,
    ):
        if ready:
            await wait_ready(client)
        yield Service(app, client, engine, voice, metrics, settings)


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    async with running_service() as svc:
        yield svc


@pytest.fixture
async def client(service: Service) -> httpx.AsyncClient:
    return service.client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def live_server(app: FastAPI, *, ready_timeout_s: float = 15.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yields ``http://127.0.0.1:PORT``."""
    port = free_port()
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
    voice: FakeVoice
    metrics: Metrics
    settings: Settings

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(httpx.get(f"{self.url}/metrics").text, name, **labels)


@contextlib.contextmanager
def live_service(*, voice_extra: dict[str, str] | None = None, **settings_overrides: Any) -> Iterator[LiveService]:
    settings = make_settings(**settings_overrides)
    metrics = Metrics()
    engine, voice = make_engine(settings, metrics, **(voice_extra or {}))
    with live_server(create_app(settings, engine, metrics=metrics)) as url:
        yield LiveService(url, voice, metrics, settings)
