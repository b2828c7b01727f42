"""Service-test fixtures: engines over the deterministic fake voice (ttsd.voices.fake).

* ``make_service(...)``: factory for a started engine with its voice and metrics (batch knobs, cache, timeouts
  and fake-voice options are arguments); every engine it made is drained at teardown.
* ``fake_service`` / ``fake_engine``: one started engine with defaults (cache off, max_wait 0).

HTTP app/client fixtures live in ``conftest_api.py``; the API tests import them from there explicitly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from engine_helpers import FakeService, MakeService

from ttsd.config import BatchConfig
from ttsd.engine import TTSEngine
from ttsd.metrics import Metrics
from ttsd.serving.executors import SerialExecutor
from ttsd.voices.fake import FakeVoice
from ttsd.voices.registry import VoiceOptions

FAST_BATCHING = BatchConfig(max_batch_size=8, max_wait_ms=0.0, max_batch_frames=100_000, max_queue=256)


@pytest.fixture
async def make_service() -> AsyncIterator[MakeService]:
    made: list[FakeService] = []

    async def make(
        *,
        batch: BatchConfig = FAST_BATCHING,
        cache_bytes: int = 0,
        request_timeout_s: float = 10.0,
        max_text_chars: int = 5000,
        max_phonemes: int = 160,
        start: bool = True,
        **voice_extra: str,
    ) -> FakeService:
        voice = FakeVoice(options=VoiceOptions(max_phonemes=max_phonemes, extra=dict(voice_extra)))
        metrics = Metrics()
        engine = TTSEngine(
            voice=voice,
            executor=SerialExecutor(voice=voice),
            batch_config=batch,
            metrics=metrics,
            cache_bytes=cache_bytes,
            request_timeout_s=request_timeout_s,
            max_text_chars=max_text_chars,
        )
        service = FakeService(engine=engine, voice=voice, metrics=metrics)
        made.append(service)
        if start:
            await engine.start()
        return service

    yield make
    for service in made:
        await service.engine.drain(timeout_s=5.0)


@pytest.fixture
async def fake_service(make_service: MakeService) -> FakeService:
    return await make_service()


@pytest.fixture
def fake_engine(fake_service: FakeService) -> TTSEngine:
    return fake_service.engine
