"""Service-test fixtures: started engines over the deterministic fake voice (see ``tests/service/fakes.py``).

* ``make_service(...)``: factory for a started engine; settings overrides, fake-voice faults, a batch config
  and an admission config are arguments; every engine it made is drained at teardown.
* ``fake_service``: one started engine with defaults (cache off, max_wait 0).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import httpx
import pytest

from tests.service.api_helpers import Service, running_service
from tests.service.fakes import FAST_BATCHING, FakeService, fake_engine, make_settings
from ttsd.config import BatchConfig
from ttsd.metrics import Metrics
from ttsd.pipeline.admission import AdmissionConfig
from ttsd.voices.options import FakeOptions

# Admission off unless a test turns it on: engine tests measure batching, not refusals.
NO_ADMISSION_LIMIT = AdmissionConfig(max_backlog_s=0)


class MakeService(Protocol):
    async def __call__(
        self,
        *,
        batch: BatchConfig = ...,
        admission: AdmissionConfig = ...,
        faults: FakeOptions | None = ...,
        families: tuple[str, ...] = ...,
        start: bool = ...,
        **settings: Any,
    ) -> FakeService: ...


@pytest.fixture
async def make_service() -> AsyncIterator[MakeService]:
    made: list[FakeService] = []

    async def make(
        *,
        batch: BatchConfig = FAST_BATCHING,
        admission: AdmissionConfig = NO_ADMISSION_LIMIT,
        faults: FakeOptions | None = None,
        families: tuple[str, ...] = ("fake",),
        start: bool = True,
        **settings: Any,
    ) -> FakeService:
        values: dict[str, Any] = {"request_timeout_s": 10.0, "max_text_chars": 5000, "max_phonemes": 160}
        values.update(settings)
        service = fake_engine(
            make_settings(**values), Metrics(), faults=faults, families=families, batch=batch, admission=admission
        )
        made.append(service)
        if start:
            await service.engine.start()
        return service

    yield make
    for service in made:
        await service.engine.drain(timeout_s=5.0)


@pytest.fixture
async def fake_service(make_service: MakeService) -> FakeService:
    return await make_service()


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    async with running_service() as svc:
        yield svc


@pytest.fixture
async def client(service: Service) -> httpx.AsyncClient:
    return service.client
