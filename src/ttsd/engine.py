"""TTSEngine: the facade the API talks to. INTERFACE STUB: the serving helper replaces the bodies.

Wires the voice's front end, the sentence cache, the batcher and an executor:
text -> voice.frontend -> per-sentence cache lookup -> batcher items -> executor -> join in order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np

from ttsd.voices.base import Controls, FloatArray, VoiceInfo


@dataclass(frozen=True, slots=True)
class SynthesisRequest:
    """One request as the engine sees it (already validated by the API's schemas).

    ``timeout_s``: per-request deadline, at most the server's ``request_timeout_s`` (None = that default).
    """

    text: str
    controls: Controls = field(default_factory=Controls)
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class SynthesisResult:
    """Float32 mono PCM at ``sample_rate`` (the voice's own rate), sentences joined with their pauses."""

    audio: FloatArray
    sample_rate: int
    sentences: int
    characters: int
    cached_sentences: int

    @property
    def duration_s(self) -> float:
        return float(len(self.audio)) / self.sample_rate


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """One sentence of a streamed request, in order (``index`` from 0); ``last`` marks the final chunk."""

    index: int
    audio: FloatArray
    sample_rate: int
    last: bool


@dataclass(frozen=True, slots=True)
class Health:
    ready: bool
    draining: bool
    queue_depth: int
    device: str
    executor: str


class TTSEngine:  # pragma: no cover - interface stub
    @property
    def info(self) -> VoiceInfo:
        raise NotImplementedError

    async def start(self) -> None:
        """Start the batcher loop and warm the voice up; after it returns, ``health().ready`` is True."""
        raise NotImplementedError

    async def drain(self, timeout_s: float) -> None:
        """Refuse new work (ShuttingDown), finish what is queued or in flight within ``timeout_s``, stop."""
        raise NotImplementedError

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        """Whole-text synthesis. Raises TextError, TextTooLong, QueueFull, DeadlineExceeded, ShuttingDown,
        BackendError. Cancelling the awaiting task cancels this request's queued items."""
        raise NotImplementedError

    def stream(self, request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
        """Sentence-by-sentence synthesis; the first chunk is yielded as soon as sentence 0 is ready.
        Validation errors (text, queue full) are raised before the first chunk."""
        raise NotImplementedError

    def health(self) -> Health:
        raise NotImplementedError


_ = np
