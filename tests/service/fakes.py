"""The one fake-service builder: a real TTSEngine over deterministic fake voices and the plain front end.

``fake_engine(settings, metrics)`` goes through the composition root's own ``engine_config``, so the engine
the service tests drive is configured exactly as ``ttsd serve`` configures it; only the voices (fakes) and the
front end (plain: one token per character) differ. ``families`` loads several fake voices at once (named as
given), for multi-voice tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ttsd.audio import AudioSpec
from ttsd.bootstrap import engine_config
from ttsd.config import BatchConfig, Settings
from ttsd.metrics import Metrics
from ttsd.pipeline.admission import AdmissionConfig
from ttsd.pipeline.engine import TTSEngine
from ttsd.pipeline.lane import LoadedVoice
from ttsd.pipeline.request import SynthesisRequest
from ttsd.serving.executors import make_executor
from ttsd.subtitles import Timestamp
from ttsd.text.plain import PlainFrontend
from ttsd.text.types import Segment
from ttsd.voices.base import Utterance
from ttsd.voices.fake import HOP, FakeVoice, frames_for, tone_hz
from ttsd.voices.options import FakeOptions, VoiceOptions

FAST_BATCHING = BatchConfig(max_batch_size=8, max_wait_ms=0.0, max_batch_frames=100_000, max_queue=256)


def make_settings(**overrides: Any) -> Settings:
    """Settings for service tests: the fake voice, no warm-up, small limits unless overridden."""
    values: dict[str, Any] = {"voice": "fake", "warmup": False, "max_text_chars": 500, "max_wait_ms": 2.0}
    values.update(overrides)
    return Settings(**values)


@dataclass
class FakeService:
    engine: TTSEngine
    voices: list[FakeVoice]
    metrics: Metrics
    frontend: PlainFrontend = field(default_factory=PlainFrontend)

    @property
    def voice(self) -> FakeVoice:
        return self.voices[0]

    def utterances(self, source: str | Sequence[Segment], voice: FakeVoice | None = None) -> list[Utterance]:
        """What the engine will synthesize for ``source`` (the same front end and encoding)."""
        target = voice or self.voice
        return [target.encode(s) for s in self.frontend.sentences(source, budget=target.budget)]

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of one sample (0 when it does not exist yet)."""
        value = self.metrics.registry.get_sample_value(name, labels or {})
        return 0.0 if value is None else value


def fake_engine(
    settings: Settings,
    metrics: Metrics,
    *,
    faults: FakeOptions | None = None,
    families: Sequence[str] = ("fake",),
    batch: BatchConfig | None = None,
    admission: AdmissionConfig | None = None,
) -> FakeService:
    """A real engine (not started) on fake voices; ``batch``/``admission`` replace what settings give."""
    options = VoiceOptions(max_phonemes=settings.max_phonemes, fake=faults or FakeOptions())
    voices = [FakeVoice(options=options, name=name) for name in families]
    loaded = [
        LoadedVoice(voice=v, executor=make_executor("cpu", v, watchdog_s=settings.batch_watchdog_s)) for v in voices
    ]
    config = engine_config(settings)
    if batch is not None:
        config = replace(config, batch=batch)
    if admission is not None:
        config = replace(config, admission=admission)
    engine = TTSEngine(config=config, metrics=metrics, frontend=PlainFrontend(), load=lambda: loaded)
    return FakeService(engine=engine, voices=voices, metrics=metrics)


def expected_samples(service: FakeService, text: str, speed: float = 1.0) -> int:
    """Samples the fake voice produces for ``text``: each sentence's frames plus the pauses between them."""
    utterances = service.utterances(text)
    total = sum(frames_for(u, speed) * HOP for u in utterances)
    total += sum(round(u.pause_after_s * service.voice.sample_rate) for u in utterances[:-1])
    return total


def dominant_hz(segment: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(segment))
    return float(np.argmax(spectrum) * sample_rate / len(segment))


def assert_fake_audio(service: FakeService, text: str, audio: np.ndarray, *, speed: float = 1.0) -> None:
    """``audio`` is the fake voice's tones for ``text``'s sentences, in order, with their pauses between."""
    utterances = service.utterances(text)
    rate = service.voice.sample_rate
    pos = 0
    for k, utt in enumerate(utterances):
        n = frames_for(utt, speed) * HOP
        segment = audio[pos : pos + n]
        assert len(segment) == n, f"sentence {k} is truncated"
        assert abs(dominant_hz(segment, rate) - tone_hz(utt.ids)) <= rate / n, f"sentence {k}"
        pos += n
        if k < len(utterances) - 1:
            pause = round(utt.pause_after_s * rate)
            assert not np.any(audio[pos : pos + pause]), f"pause after sentence {k} is not silent"
            pos += pause
    assert pos == len(audio), "audio longer than its sentences and pauses"


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``condition`` on the event loop (tests must not depend on how fast a loaded CI box is)."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the state changes in other threads: nothing to await
            await asyncio.sleep(0.002)


@dataclass(frozen=True, slots=True)
class StreamedChunk:
    """One chunk of a stream as the route sends it (16-bit PCM), and that audio as floats."""

    index: int
    pcm: bytes
    timestamps: list[Timestamp]

    @property
    def audio(self) -> np.ndarray:
        return np.frombuffer(self.pcm, dtype="<i2").astype(np.float32) / 32767.0


async def stream_pcm(engine: TTSEngine, request: SynthesisRequest) -> AsyncGenerator[StreamedChunk, None]:
    """The route's streaming path (``engine.open_stream``, 16-bit PCM), chunk by chunk; closing this generator
    closes the stream (as a client that goes away does)."""
    opened = await engine.open_stream(request, AudioSpec(format="pcm"))
    index = 0
    async with contextlib.aclosing(opened.chunks) as chunks:
        async for chunk in chunks:
            if chunk.data or chunk.timestamps:
                yield StreamedChunk(index=index, pcm=chunk.data, timestamps=chunk.timestamps)
                index += 1
