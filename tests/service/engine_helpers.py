"""Helpers for the engine service tests: the fake-service bundle and checks on the fake voice's audio."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ttsd.config import BatchConfig
from ttsd.engine import TTSEngine
from ttsd.metrics import Metrics
from ttsd.voices.fake import HOP, FakeVoice, frames_for, tone_hz


@dataclass
class FakeService:
    engine: TTSEngine
    voice: FakeVoice
    metrics: Metrics

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of one sample (0 when it does not exist yet)."""
        value = self.metrics.registry.get_sample_value(name, labels or {})
        return 0.0 if value is None else value


class MakeService(Protocol):
    def __call__(
        self,
        *,
        batch: BatchConfig = ...,
        cache_bytes: int = ...,
        request_timeout_s: float = ...,
        max_text_chars: int = ...,
        max_phonemes: int = ...,
        start: bool = ...,
        **voice_extra: str,
    ) -> Awaitable[FakeService]: ...


def dominant_hz(segment: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(segment))
    return float(np.argmax(spectrum) * sample_rate / len(segment))


def assert_fake_audio(voice: FakeVoice, text: str, audio: np.ndarray, *, speed: float = 1.0) -> None:
    """``audio`` is the fake voice's tones for ``text``'s sentences, in order, with their pauses between."""
    utterances = voice.frontend(text)
    pos = 0
    for k, utt in enumerate(utterances):
        n = frames_for(utt, speed) * HOP
        segment = audio[pos : pos + n]
        assert len(segment) == n, f"sentence {k} is truncated"
        resolution = voice.sample_rate / n
        assert abs(dominant_hz(segment, voice.sample_rate) - tone_hz(utt.ids)) <= resolution, f"sentence {k}"
        pos += n
        if k < len(utterances) - 1:
            pause = round(utt.pause_after_s * voice.sample_rate)
            assert not np.any(audio[pos : pos + pause]), f"pause after sentence {k} is not silent"
            pos += pause
    assert pos == len(audio), "audio longer than its sentences and pauses"


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``condition`` on the event loop (tests must not depend on how fast a loaded CI box is)."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the state changes in other threads: nothing to await
            await asyncio.sleep(0.002)
