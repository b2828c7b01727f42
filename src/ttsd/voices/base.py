"""The Voice protocol: what the serving layer and the Python API need from a speech backend.

A voice turns the shared front end's sentences into :class:`Utterance` objects (its own ids: :meth:`Voice.encode`)
and runs a *batch* of them end to end (:meth:`Voice.run_batch`: acoustic model and vocoder, or whatever the
backend is). The serving layer never sees torch types: only numpy arrays and plain Python.

Batching contract (every implementation must honour it):

* ``run_batch(items)`` takes items of different lengths in one call, pads internally with masks, and returns one
  waveform per item (and, when the voice can tell, the samples spent on each id) trimmed to that item's own
  length, in input order.
* An item's output does not depend on the other items of its batch (padding does not leak), up to float noise.
* Controls are per item (:class:`BatchItem` carries its own :class:`~ttsd.controls.Controls`).
* Calls are blocking and not thread-safe; executors serialize them (one batch in flight per voice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ttsd.controls import SPEED_RANGE, Controls
from ttsd.text.types import Budget, Sentence, Token

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


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
    # Semitones of one unit of Controls.pitch (SSML <prosody pitch> is converted with it); 0 = no pitch control.
    pitch_semitones: float = 0.0
    # The speeds the family honours (validate refuses the rest): the global range unless it says otherwise.
    speed_range: tuple[float, float] = SPEED_RANGE


@dataclass(frozen=True, slots=True)
class Rendered:
    """One item's audio as the serving layer keeps it: the waveform and, when the voice can tell, the samples
    spent on each id (``durations``, summing to ``len(waveform)``), from which timestamps are computed."""

    waveform: FloatArray
    durations: IntArray | None = None

    @property
    def nbytes(self) -> int:
        return int(self.waveform.nbytes) + (int(self.durations.nbytes) if self.durations is not None else 0)


@runtime_checkable
class Voice(Protocol):
    """A speech backend. See the module docstring for the batching contract.

    The text front end is shared by every voice (one per process): it turns text into
    :class:`~ttsd.text.types.Sentence` objects cut to this voice's :attr:`budget`, and :meth:`encode` does the
    only per-voice text step, pinyin -> this model's ids.
    """

    @property
    def info(self) -> VoiceInfo: ...

    @property
    def sample_rate(self) -> int: ...

    @property
    def budget(self) -> Budget:
        """How large one sentence piece may be for this model (the front end cuts to it)."""
        ...

    def validate(self, controls: Controls) -> None:
        """Raise :class:`ttsd.errors.InvalidControl` / :class:`~ttsd.errors.UnknownVoice` for controls this
        voice cannot honour. Called before anything is queued, so a bad control never reaches a batch."""
        ...

    def encode(self, sentence: Sentence) -> Utterance:
        """Pinyin -> this model's ids, with the id range of every token (``Utterance.spans``)."""
        ...

    def estimate_frames(self, utterance: Utterance, controls: Controls) -> int:
        """Cheap upper-leaning estimate of the mel frames ``utterance`` produces at ``controls.speed`` (batch
        cost cap, bucketing, admission)."""
        ...

    def run_batch(self, items: Sequence[BatchItem]) -> BatchOutput:
        """Synthesize a batch end to end (acoustic + vocoder). Blocking; called from an executor thread."""
        ...

    def warmup(self) -> None:
        """Run a few representative batches so the first request does not pay one-time costs."""
        ...


def spans_for(tokens: Sequence[Token], costs: Sequence[int], *, start: int) -> tuple[tuple[int, int], ...]:
    """Consecutive id ranges: token ``k`` takes ``costs[k]`` ids, the first starting at ``start``."""
    spans: list[tuple[int, int]] = []
    position = start
    for _, cost in zip(tokens, costs, strict=True):
        spans.append((position, position + cost))
        position += cost
    return tuple(spans)


@runtime_checkable
class SpeedBudgeted(Protocol):
    """A voice whose per-piece budget depends on the speed (its model call's memory grows with the audio)."""

    def budget_at(self, speed: float) -> Budget: ...


def budget_for(voice: Voice, speed: float) -> Budget:
    """The budget to cut text spoken at ``speed`` for ``voice``: ``budget_at(speed)`` where the voice has it,
    else its one :attr:`Voice.budget`."""
    return voice.budget_at(speed) if isinstance(voice, SpeedBudgeted) else voice.budget
