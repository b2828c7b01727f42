"""A deterministic, torch-free voice for service tests: tones of known length and pitch.

* Front end: sentences from :func:`ttsd.text.split.split_sentences` (cut further to ``max_phonemes`` with
  :func:`ttsd.text.split.split_to_budget`); one "phoneme" per non-space character; ids
  ``1 + ord(ch) % 217`` plus :data:`EOS_ID`.
* Length: exactly :data:`FRAMES_PER_ID` frames per id at speed 1 (``/ speed`` otherwise), :data:`HOP`
  samples per frame at :data:`SAMPLE_RATE`; :meth:`FakeVoice.estimate_frames` is exact at speed 1.
* Audio: a sine at :func:`tone_hz` (a function of the ids alone, on a 50 Hz grid), so tests can tell which
  sentence a stretch of audio came from and check that sentences were joined in order.

Options (``VoiceOptions.extra``, strings): ``delay_ms_per_batch`` and ``delay_ms_per_item`` (simulated
model time, slept in :meth:`FakeVoice.run_batch` so batching is observable), ``fail_on`` (a text substring
that makes any batch containing it raise ``RuntimeError``).
:attr:`FakeVoice.batches` records the texts of every batch.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Sequence

import numpy as np

from ttsd.errors import TextError
from ttsd.text.split import split_sentences, split_to_budget
from ttsd.voices.base import BatchItem, BatchOutput, FloatArray, Utterance, VoiceInfo
from ttsd.voices.registry import VoiceOptions

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


class FakeVoice:
    """See the module docstring. ``run_batch`` is called from one executor thread at a time."""

    def __init__(self, *, options: VoiceOptions) -> None:
        extra = options.extra
        self._info = VoiceInfo(
            name="fake",
            sample_rate=SAMPLE_RATE,
            model_version="fake-1",
            device=options.device,
            precision=options.precision,
            description="Deterministic test tones (not speech).",
        )
        self._max_phonemes = options.max_phonemes
        self._delay_batch_s = float(extra.get("delay_ms_per_batch", "0")) / 1000.0
        self._delay_item_s = float(extra.get("delay_ms_per_item", "0")) / 1000.0
        self._fail_on = extra.get("fail_on") or None
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
    def batches(self) -> list[tuple[str, ...]]:
        """Texts of every batch run so far, in order (a copy; warm-up excluded)."""
        with self._lock:
            return list(self._batches)

    def frontend(self, text: str) -> list[Utterance]:
        utterances: list[Utterance] = []
        for sentence, pause in split_sentences(text):
            pieces = split_to_budget(sentence, cost=_cost, budget=self._max_phonemes)
            for k, (piece, piece_pause) in enumerate(pieces):
                last = k == len(pieces) - 1
                utterances.append(_utterance(piece, pause if last else piece_pause))
        if not utterances:
            raise TextError("the text contains nothing to synthesize")
        return utterances

    def estimate_frames(self, utterance: Utterance) -> int:
        return frames_for(utterance)

    def run_batch(self, items: Sequence[BatchItem]) -> BatchOutput:
        texts = tuple(item.utterance.text for item in items)
        with self._lock:
            self._batches.append(texts)
        delay = self._delay_batch_s + self._delay_item_s * len(items)
        if delay > 0:
            time.sleep(delay)
        return self._synthesize(items, model_seconds=delay)

    def warmup(self) -> None:
        """Synthesizes one short item without the simulated delay (tests need not pay for it)."""
        self._synthesize([BatchItem(utterance=_utterance("预热。", 0.0))], model_seconds=0.0)
        self.warmed_up = True

    def _synthesize(self, items: Sequence[BatchItem], *, model_seconds: float) -> BatchOutput:
        if self._fail_on is not None and any(self._fail_on in item.utterance.text for item in items):
            raise RuntimeError(f"fake voice told to fail on {self._fail_on!r}")
        frames = [frames_for(item.utterance, item.controls.speed) for item in items]
        waveforms = [_tone(item.utterance, n) for item, n in zip(items, frames, strict=True)]
        return BatchOutput(
            waveforms=waveforms,
            acoustic_seconds=model_seconds / 2,
            vocoder_seconds=model_seconds / 2,
            padded_frames=max(frames) * len(frames),
            frames=sum(frames),
        )


def load(options: VoiceOptions) -> FakeVoice:
    """Registry entry point (``ttsd.voices.registry.LOADERS['fake']``)."""
    return FakeVoice(options=options)


def _cost(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace()) + 1


def _utterance(text: str, pause_after_s: float) -> Utterance:
    chars = tuple(ch for ch in text if not ch.isspace())
    return Utterance(
        text=text,
        phonemes=chars,
        ids=(*(char_id(ch) for ch in chars), EOS_ID),
        pause_after_s=pause_after_s,
    )


def _tone(utterance: Utterance, frames: int) -> FloatArray:
    return _cached_tone(tone_hz(utterance.ids), frames * HOP).copy()


@functools.lru_cache(maxsize=256)
def _cached_tone(hz: float, samples: int) -> FloatArray:
    # Cached so the fake voice costs next to nothing: the service-overhead benchmark measures everything but it.
    t = np.arange(samples, dtype=np.float64) / SAMPLE_RATE
    wave = AMPLITUDE * np.sin(2 * math.pi * hz * t)
    return wave.astype(np.float32)
