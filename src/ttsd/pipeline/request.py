"""What a synthesis request is and what comes back: the engine's input and output value types.

Routes build a :class:`SynthesisRequest`; the engine answers with a :class:`SynthesisResult` (PCM) or, through
its output stage, a :class:`EncodedSpeech` (encoded) / :class:`SpeechStream` (encoded chunks as sentences are ready).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Literal

from ttsd.audio import EncodedAudio
from ttsd.controls import Controls
from ttsd.subtitles import Timestamp
from ttsd.voices.base import FloatArray

InputType = Literal["text", "ssml", "auto"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SynthesisRequest:
    """One request as the engine sees it (types already checked by the API's schemas). ``background``: a
    long-form job's sentence (:mod:`ttsd.jobs`): it runs only when no interactive work is queued and counts in
    the lane's background admission, not the interactive one."""

    text: str
    controls: Controls = field(default_factory=Controls)
    voice: str | None = None
    input_type: InputType = "text"
    timeout_s: float | None = None
    background: bool = False
    request_id: str = ""  # for logs (the API's X-Request-Id)


@dataclass(frozen=True, slots=True)
class SynthesisResult:
    """Float32 mono PCM at the voice's rate, sentences joined with their pauses, and token timestamps."""

    audio: FloatArray
    sample_rate: int
    sentences: int
    characters: int
    cached_sentences: int
    timestamps: list[Timestamp]
    voice: str

    @property
    def duration_s(self) -> float:
        return float(len(self.audio)) / self.sample_rate


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """One sentence of a stream, after the pause that follows the sentence before it (so a chunk goes out the
    moment its audio is ready); chunks concatenate to exactly the whole response's audio."""

    index: int
    audio: FloatArray
    sample_rate: int
    timestamps: list[Timestamp]


@dataclass(frozen=True, slots=True)
class EncodedSpeech:
    """An encoded whole response."""

    encoded: EncodedAudio
    result: SynthesisResult


@dataclass(frozen=True, slots=True)
class EncodedChunk:
    data: bytes
    timestamps: list[Timestamp]


@dataclass(slots=True, eq=False)
class SpeechStream:
    """An opened stream: its first chunk is ready (errors up to here were raised by :meth:`open_stream`)."""

    media_type: str
    sample_rate: int
    chunks: AsyncGenerator[EncodedChunk, None]
    voice: str = ""  # the family that speaks it (X-Voice)
