"""The Python API: a loaded voice together with the text front end (``ttsd.load_voice`` returns one).

``Synthesizer.synthesize(text)`` is what ``ttsd synth`` and ``ttsd bench`` run and what a notebook calls:
front end -> ``voice.encode`` -> ``voice.run_batch`` in batches -> pieces joined by
:class:`~ttsd.pipeline.timeline.Timeline` (the same joining and timing the server does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from ttsd.config import DEFAULT_MAX_PHONEMES
from ttsd.controls import Controls
from ttsd.paths import cache_dirs
from ttsd.pipeline.timeline import Timeline
from ttsd.subtitles import Timestamp
from ttsd.text.types import Frontend, Segment, Sentence
from ttsd.voices.base import BatchItem, FloatArray, IntArray, Rendered, Utterance, Voice
from ttsd.voices.options import VoiceOptions
from ttsd.voices.registry import NEEDS_TEXT_FRONTEND, load_family

# Items per forward pass in synthesize(); the serving layer forms its own batches.
SYNTH_BATCH = 8
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Speech:
    """Float32 mono audio at the voice's rate, with per-token timestamps when the voice reports durations."""

    audio: FloatArray
    sample_rate: int
    timestamps: list[Timestamp] = field(default_factory=list)
    sentences: int = 0

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


class Synthesizer:
    """A voice and its front end. Blocking; not thread-safe (the voice is not)."""

    def __init__(self, *, voice: Voice, frontend: Frontend) -> None:
        self.voice = voice
        self.frontend = frontend

    @property
    def sample_rate(self) -> int:
        return self.voice.sample_rate

    def sentences(self, source: str | Sequence[Segment]) -> list[Sentence]:
        return list(self.frontend.sentences(source, budget=self.voice.budget))

    def utterances(self, source: str | Sequence[Segment]) -> list[Utterance]:
        return [self.voice.encode(s) for s in self.frontend.sentences(source, budget=self.voice.budget)]

    def synthesize(
        self,
        source: str | Sequence[Segment],
        controls: Controls | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Speech:
        """Text (or SSML segments) to one waveform; ``progress(n, total)`` after each batch of ``n`` sentences."""
        ctl = controls if controls is not None else Controls()
        self.voice.validate(ctl)
        utterances = self.utterances(source)
        rendered: list[Rendered] = []
        for chunk in _chunks(utterances, SYNTH_BATCH):
            out = self.voice.run_batch([BatchItem(u, ctl) for u in chunk])
            durations: Sequence[IntArray | None] = out.durations or [None] * len(chunk)
            rendered.extend(Rendered(w, d) for w, d in zip(out.waveforms, durations, strict=True))
            if progress is not None:
                progress(len(chunk), len(utterances))
        timeline = Timeline(sample_rate=self.sample_rate)
        parts: list[FloatArray] = []
        stamps: list[Timestamp] = []
        for utt, audio in zip(utterances, rendered, strict=True):
            piece = timeline.add(utt, audio)
            parts.append(piece.audio)
            stamps.extend(piece.timestamps)
        audio_out = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        return Speech(audio=audio_out, sample_rate=self.sample_rate, timestamps=stamps, sentences=len(utterances))


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def build_frontend(family: str, *, lexicon: Path | None = None, cache_dir: Path | None = None) -> Frontend:
    """The front end a family speaks with: the Mandarin front end, or the plain one for the fake voice."""
    if family not in NEEDS_TEXT_FRONTEND:
        from ttsd.text.plain import PlainFrontend

        return PlainFrontend()
    from ttsd.text.frontend import TextFrontend

    return TextFrontend(lexicon=lexicon, cache_dir=cache_dir)


def load_voice(
    name: str = "baker",
    device: str = "cpu",
    precision: str = "fp32",
    mode: str = "fast",
    *,
    model_dir: str | Path | None = None,
    lexicon: str | Path | None = None,
    max_phonemes: int = DEFAULT_MAX_PHONEMES,
    threads: int | None = None,
) -> Synthesizer:
    """Load a voice family with its front end. The Python API entry point (``ttsd.load_voice``)."""
    options = VoiceOptions(
        device=device,
        precision=precision,
        mode=mode,
        model_dir=Path(model_dir) if model_dir is not None else None,
        max_phonemes=max_phonemes,
        threads=threads,
    )
    voice = load_family(name, options)
    lexicon_path = Path(lexicon) if lexicon is not None else None
    frontend = build_frontend(name, lexicon=lexicon_path, cache_dir=cache_dirs(options.model_dir).root)
    return Synthesizer(voice=voice, frontend=frontend)
