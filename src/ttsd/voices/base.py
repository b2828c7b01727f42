"""The Voice protocol: what the serving layer and the Python API need from a speech backend.

A voice turns text into :class:`Utterance` objects (its own front end) and runs a *batch* of utterances through
its acoustic model and vocoder. The serving layer never sees torch types: only numpy arrays and plain Python.

Batching contract (every implementation must honour it):

* ``acoustic(ids_batch, ...)`` and ``vocode(mels)`` take items of different lengths in one call, pad internally
  with masks, and return one result per item trimmed to that item's own length, in input order.
* An item's output does not depend on the other items of its batch (padding does not leak), up to float noise.
* Controls are per item: each keyword may be a scalar (applies to every item) or a sequence of one value per item.
* Calls are blocking and not thread-safe; executors serialize them (one batch in flight per voice).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ttsd.errors import InvalidControl
from ttsd.text.types import Sentence

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

# Ranges accepted for each control. Documented in README ("Controls").
SPEED_RANGE = (0.25, 4.0)
PITCH_RANGE = (-3.0, 3.0)
INTONATION_RANGE = (0.0, 3.0)
ENERGY_RANGE = (0.25, 4.0)


@dataclass(frozen=True, slots=True)
class Utterance:
    """One sentence-sized unit of work produced by a voice's front end.

    ``ids`` are the model's input ids (for Baker: symbol ids with ``eos`` appended). They must identify the
    sentence's audio (the engine caches by them), so a backend that takes text puts its code points here.
    ``pause_after_s`` is the
    silence the engine inserts after this piece when joining audio (longer after 。 than after ，).
    """

    text: str
    phonemes: tuple[str, ...]
    ids: tuple[int, ...]
    pause_after_s: float = 0.0
    # Per token of ``sentence``: the [start, end) range of ``ids`` it was encoded into (empty for silent tokens).
    spans: tuple[tuple[int, int], ...] = ()
    sentence: Sentence | None = None


@dataclass(frozen=True, slots=True)
class Controls:
    """Per-item synthesis controls, validated on construction.

    * ``speed``: user-facing rate, 1.25 = 25% faster (the model's duration ratio is ``1/speed``).
    * ``pitch``: additive shift of the z-scored phoneme f0; 1.0 is one standard deviation of the Baker
      speaker's pitch (about 2-3 semitones).
    * ``intonation``: multiplies the z-scored f0 (0 = flat, 1 = as predicted, >1 = more expressive).
    * ``energy``: multiplies the z-scored energy.
    * ``variation``: apply the original model's inference-time dropout on f0/energy embeddings; with ``seed``
      the result is reproducible (same text + seed = same audio).
    * ``speaker`` / ``emotion``: for multi-speaker backends; ``None`` = the backend default.
    """

    speed: float = 1.0
    pitch: float = 0.0
    intonation: float = 1.0
    energy: float = 1.0
    variation: bool = False
    seed: int | None = None
    speaker: str | None = None
    emotion: str | None = None

    def __post_init__(self) -> None:
        _check_range("speed", self.speed, SPEED_RANGE)
        _check_range("pitch", self.pitch, PITCH_RANGE)
        _check_range("intonation", self.intonation, INTONATION_RANGE)
        _check_range("energy", self.energy, ENERGY_RANGE)
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise InvalidControl("seed must be between 0 and 2**63-1", param="seed")

    def cache_key(self) -> tuple[object, ...]:
        """Everything that changes the audio; ``seed`` only matters when ``variation`` is on."""
        seed = self.seed if self.variation else None
        return (self.speed, self.pitch, self.intonation, self.energy, self.variation, seed, self.speaker, self.emotion)


def _check_range(name: str, value: float, bounds: tuple[float, float]) -> None:
    lo, hi = bounds
    if not isinstance(value, int | float) or not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidControl(f"{name} must be a number between {lo} and {hi}, got {value!r}", param=name)


@dataclass(frozen=True, slots=True)
class AcousticResult:
    """One item's acoustic output, trimmed to its own length."""

    mel: FloatArray  # [T, n_mels]
    durations: IntArray  # [L] frames per input id
    f0: FloatArray  # [L] z-scored, after controls
    energy: FloatArray  # [L] z-scored, after controls


@dataclass(frozen=True, slots=True)
class BatchItem:
    """What the serving layer hands a voice: one utterance and its controls."""

    utterance: Utterance
    controls: Controls = field(default_factory=Controls)


@dataclass(frozen=True, slots=True)
class BatchOutput:
    """Audio for each item of a batch (same order) plus stage timings for metrics."""

    waveforms: list[FloatArray]
    acoustic_seconds: float
    vocoder_seconds: float
    padded_frames: int  # frames the vocoder ran, padding included (for the padding-ratio metric)
    frames: int  # frames without padding
    # Per item: samples of its waveform spent on each id (sums to the waveform's length), for timestamps.
    # Empty when the backend cannot tell (no timestamps then).
    durations: list[IntArray] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    """Static description of a loaded voice, for /v1/voices, metrics and cache keys."""

    name: str
    sample_rate: int
    model_version: str
    device: str
    precision: str
    batchable: bool = True
    speakers: tuple[str, ...] = ()
    emotions: tuple[str, ...] = ()
    language: str = "zh-CN"
    description: str = ""
    gender: str = ""  # female, male (per speaker for multi-speaker families: see ``speaker_genders``)
    licence: str = ""
    backend: str = ""
    speaker_genders: tuple[str, ...] = ()


@runtime_checkable
class Voice(Protocol):
    """A speech backend. See the module docstring for the batching contract."""

    @property
    def info(self) -> VoiceInfo: ...

    @property
    def sample_rate(self) -> int: ...

    def frontend(self, text: str) -> list[Utterance]:
        """Normalize, split and phonemize ``text``. Raises :class:`ttsd.errors.TextError` on unusable text."""
        ...

    def estimate_frames(self, utterance: Utterance) -> int:
        """Cheap estimate of the mel frames an utterance will produce (batch cost cap, bucketing)."""
        ...

    def run_batch(self, items: Sequence[BatchItem]) -> BatchOutput:
        """Synthesize a batch end to end (acoustic + vocoder). Blocking; called from an executor thread."""
        ...

    def warmup(self) -> None:
        """Run a few representative batches so the first request does not pay one-time costs."""
        ...
