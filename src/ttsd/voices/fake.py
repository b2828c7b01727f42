"""A deterministic, torch-free voice for service tests: tones of known length and pitch.

* Text: whatever front end the engine has (service tests use :class:`ttsd.text.plain.PlainFrontend`);
  :meth:`FakeVoice.encode` gives one id per character of every token (``1 + ord(ch) % 217``) plus
  :data:`EOS_ID`, so the budget is ``max_phonemes`` characters.
* Length: exactly :data:`FRAMES_PER_ID` frames per id at speed 1 (``/ speed`` otherwise), :data:`HOP`
  samples per frame at :data:`SAMPLE_RATE`; :meth:`FakeVoice.estimate_frames` is exact. Per-id durations
  are reported (so timestamps are exact and known).
* Audio: a sine at :func:`tone_hz` (a function of the ids alone, on a 50 Hz grid), so tests can tell which
  sentence a stretch of audio came from and check that sentences were joined in order.

Options (:class:`ttsd.voices.options.FakeOptions`): simulated model time, and faults to inject (a batch that
raises, a batch that hangs, a model thread that dies). :attr:`FakeVoice.batches` records the texts of every batch.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Sequence

import numpy as np

from ttsd.controls import Controls
from ttsd.errors import InvalidControl, UnknownVoice
from ttsd.text.types import Budget, Sentence, Token
from ttsd.voices.base import BatchItem, BatchOutput, FloatArray, IntArray, Utterance, VoiceInfo, spans_for
from ttsd.voices.options import VoiceOptions

SAMPLE_RATE = 24_000
HOP = 300
FRAMES_PER_ID = 5
EOS_ID = 218
TONE_BASE_HZ = 200.0
TONE_STEP_HZ = 50.0
TONE_STEPS = 60  # tones from 200 Hz to 3150 Hz
AMPLITUDE = 0.5


def char_id(ch: str) -> int:
    """The fake id of one character (1..217)."""
    return 1 + ord(ch) % 217


def tone_hz(ids: Sequence[int]) -> float:
    """The frequency of an utterance's tone: a position-weighted checksum of its ids on a 50 Hz grid."""
    checksum = sum((k + 1) * i for k, i in enumerate(ids))
    return TONE_BASE_HZ + TONE_STEP_HZ * (checksum % TONE_STEPS)


def frames_for(utterance: Utterance, speed: float = 1.0) -> int:
    """Frames the fake voice produces for ``utterance`` at ``speed``."""
    return max(1, round(len(utterance.ids) * FRAMES_PER_ID / speed))


def id_samples(utterance: Utterance, speed: float = 1.0) -> IntArray:
    """Samples spent on each id: the frames spread evenly (cumulative rounding), times :data:`HOP`."""
    n = len(utterance.ids)
    bounds = np.round(np.arange(n + 1) * frames_for(utterance, speed) / n).astype(np.int64)
    return np.diff(bounds) * HOP


class ModelThreadDeath(BaseException):
    """Raised by the fake voice's ``die_on`` fault: not an Exception, so it is not a per-item failure."""


class FakeVoice:
    """See the module docstring. ``run_batch`` is called from one executor thread at a time."""

    def __init__(self, *, options: VoiceOptions, name: str = "fake") -> None:
        self._info = VoiceInfo(
            name=name,
            sample_rate=SAMPLE_RATE,
            model_version="fake-1",
            device=options.device,
            precision=options.precision,
            description="Deterministic test tones (not speech).",
            gender="female",
            licence="Apache-2.0",
            backend="numpy",
        )
        self._budget = Budget(limit=options.max_phonemes, per_token=_token_cost, overhead=1)
        self._faults = options.fake
        self._lock = threading.Lock()
        self._batches: list[tuple[str, ...]] = []
        self.warmed_up = False

    @property
    def info(self) -> VoiceInfo:
        return self._info

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def budget(self) -> Budget:
        return self._budget

    @property
    def batches(self) -> list[tuple[str, ...]]:
        """Texts of every batch run so far, in order (a copy; warm-up excluded)."""
        with self._lock:
            return list(self._batches)

    def validate(self, controls: Controls) -> None:
        if controls.speaker not in (None, self._info.name):
            raise UnknownVoice(f"the {self._info.name} voice has one speaker, not {controls.speaker!r}")
        if controls.emotion is not None:
            raise InvalidControl(
                f"unknown emotion {controls.emotion!r}: the {self._info.name} voice has none", param="emotion"
            )

    def encode(self, sentence: Sentence) -> Utterance:
        return _utterance(sentence)

    def estimate_frames(self, utterance: Utterance, controls: Controls) -> int:
        return frames_for(utterance, controls.speed)

    def run_batch(self, items: Sequence[BatchItem]) -> BatchOutput:
        texts = tuple(item.utterance.text for item in items)
        with self._lock:
            self._batches.append(texts)
        faults = self._faults
        if faults.die_on is not None and any(faults.die_on in t for t in texts):
            raise ModelThreadDeath(f"fake voice told to die on {faults.die_on!r}")
        if faults.hang_on is not None and any(faults.hang_on in t for t in texts):
            time.sleep(faults.hang_s)
        delay = (faults.delay_ms_per_batch + faults.delay_ms_per_item * len(items)) / 1000.0
        if delay > 0:
            time.sleep(delay)
        return self._synthesize(items, model_seconds=delay)

    def warmup(self) -> None:
        """Synthesizes one short item without the simulated delay (tests need not pay for it)."""
        warm = Sentence(tokens=tuple(Token(text=ch, syllables=(ch,), source="dictionary") for ch in "预热"))
        self._synthesize([BatchItem(utterance=_utterance(warm))], model_seconds=0.0)
        self.warmed_up = True

    def _synthesize(self, items: Sequence[BatchItem], *, model_seconds: float) -> BatchOutput:
        fail_on = self._faults.fail_on
        if fail_on is not None and any(fail_on in item.utterance.text for item in items):
            raise RuntimeError(f"fake voice told to fail on {fail_on!r}")
        frames = [frames_for(item.utterance, item.controls.speed) for item in items]
        waveforms = [_tone(item.utterance, n) for item, n in zip(items, frames, strict=True)]
        return BatchOutput(
            waveforms=waveforms,
            acoustic_seconds=model_seconds / 2,
            vocoder_seconds=model_seconds / 2,
            padded_frames=max(frames) * len(frames),
            frames=sum(frames),
            durations=[id_samples(item.utterance, item.controls.speed) for item in items],
        )


def load(options: VoiceOptions) -> FakeVoice:
    """Registry entry point (``ttsd.voices.registry.LOADERS['fake']``)."""
    return FakeVoice(options=options)


def _token_cost(token: Token) -> int:
    return sum(1 for ch in token.text if not ch.isspace())


def _utterance(sentence: Sentence) -> Utterance:
    chars = [[ch for ch in token.text if not ch.isspace()] for token in sentence.tokens]
    flat = tuple(ch for group in chars for ch in group)
    return Utterance(
        text=sentence.text,
        phonemes=flat,
        ids=(*(char_id(ch) for ch in flat), EOS_ID),
        pause_after_s=sentence.pause_after_s,
        spans=spans_for(sentence.tokens, [len(g) for g in chars], start=0),
        sentence=sentence,
    )


def _tone(utterance: Utterance, frames: int) -> FloatArray:
    return _cached_tone(tone_hz(utterance.ids), frames * HOP).copy()


@functools.lru_cache(maxsize=256)
def _cached_tone(hz: float, samples: int) -> FloatArray:
    # Cached so the fake voice costs next to nothing: the service-overhead benchmark measures everything but it.
    t = np.arange(samples, dtype=np.float64) / SAMPLE_RATE
    wave = AMPLITUDE * np.sin(2 * math.pi * hz * t)
    return wave.astype(np.float32)
