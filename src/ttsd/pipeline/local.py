"""The Python API: loaded voices together with the text front end (``ttsd.load_voice`` returns one).

``Synthesizer.synthesize(text)`` is what ``ttsd synth`` and ``ttsd bench`` run and what a notebook calls. It runs
the server's own steps, synchronously, in this thread (no event loop, no queue, no admission): the request plan
(:func:`~ttsd.pipeline.plan.plan_request`: markup detection, the voice, the controls), the script (SSML parsed,
every ``<voice>`` resolved once, each section cut to its own family's budget), the one per-sentence step
(:func:`~ttsd.pipeline.plan.prepare`: ids, controls with the SSML prosody, volume gain) and the one joining step
(:class:`~ttsd.pipeline.timeline.Timeline`): the same SSML gives the same audio here and from the server.
Sentences run through ``voice.run_batch`` in batches of :data:`SYNTH_BATCH`, consecutive sentences of one family
together.

A ``<voice>`` naming a family this synthesizer has not loaded loads it, once, with the same options (device,
precision, mode, model folder, threads), when the synthesizer came from :func:`load_voice`; one built
directly around a voice (``Synthesizer(voice=, frontend=)``) refuses it with :class:`~ttsd.errors.UnknownVoice`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import TypeVar

import numpy as np

from ttsd.config import DEFAULT_MAX_PHONEMES
from ttsd.controls import Controls
from ttsd.errors import UnknownVoice
from ttsd.paths import cache_dirs
from ttsd.pipeline.plan import Prepared, Script, VoiceTable, parse_markup, plan_request, prepare, script_of
from ttsd.pipeline.request import InputType, SynthesisRequest
from ttsd.pipeline.timeline import Timeline
from ttsd.subtitles import Timestamp
from ttsd.text.types import Frontend, Segment, Sentence
from ttsd.voices.base import BatchItem, FloatArray, IntArray, Rendered, Utterance, Voice
from ttsd.voices.options import VoiceOptions
from ttsd.voices.registry import NEEDS_TEXT_FRONTEND, family_of, load_family

# Items per forward pass in synthesize(); the serving layer forms its own batches.
SYNTH_BATCH = 8
_T = TypeVar("_T")
_EMPTY = Rendered(np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64))


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
    """A voice (and any family a ``<voice>`` switches to) with its front end. Blocking; not thread-safe."""

    def __init__(self, *, voice: Voice, frontend: Frontend, load: Callable[[str], Voice] | None = None) -> None:
        """``load(name)`` loads the family of a ``<voice name>`` switched to (``None``: such a switch is refused;
        a name no family knows raises :class:`~ttsd.errors.UnknownVoice`)."""
        self.voice = voice
        self.frontend = frontend
        self._load = load
        self._table = VoiceTable([voice])

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
        input_type: InputType = "text",
        voice: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Speech:
        """Text, SSML (``input_type="ssml"``, or ``"auto"`` and it starts like markup) or parsed segments to one
        waveform at ``voice``'s rate (a family or speaker name; default: this synthesizer's voice);
        ``progress(n, total)`` after each batch of ``n`` of the ``total`` sentences to synthesize."""
        script = self.script(source, controls if controls is not None else Controls(), input_type, voice)
        rate = script.sections[None].voice.sample_rate
        prepared = [prepare(s, script) for s in self.frontend.sentences(script.source, budget=script.budgets)]
        rendered = self._render(prepared, progress)
        timeline = Timeline(sample_rate=rate)
        parts: list[FloatArray] = []
        stamps: list[Timestamp] = []
        for item, audio in zip(prepared, rendered, strict=True):
            piece = timeline.add(item.utterance, audio, gain=item.gain, rate=item.voice.sample_rate)
            parts.append(piece.audio)
            stamps.extend(piece.timestamps)
        audio_out = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        return Speech(audio=audio_out, sample_rate=rate, timestamps=stamps, sentences=len(prepared))

    def script(
        self, source: str | Sequence[Segment], controls: Controls, input_type: InputType, voice: str | None
    ) -> Script:
        """The request's plan and script, as the server makes them (no length limit, no deadline)."""
        text = source if isinstance(source, str) else ""
        request = SynthesisRequest(text=text, controls=controls, voice=voice, input_type=input_type)
        plan = plan_request(request, self._table, max_text_chars=None)
        if not isinstance(source, str):
            segments: Sequence[Segment] = source
        elif plan.markup:
            segments = parse_markup(plan, None)
        else:
            return script_of([Segment(source)], plan.main, self._table)
        self._load_switches(segments)
        return script_of(segments, plan.main, self._table)

    def _load_switches(self, segments: Sequence[Segment]) -> None:
        """Load the family of every ``<voice>`` name not loaded yet (see the module docstring)."""
        for name in {s.voice for s in segments if s.voice is not None}:
            try:
                self._table.resolve(name)
            except UnknownVoice:
                if self._load is None:
                    raise UnknownVoice(
                        f"<voice name={name!r}> is not a voice of the {self.voice.info.name} family this synthesizer "
                        "holds (ttsd.load_voice loads the family of a switched-to voice on demand)"
                    ) from None
                self._table.add(self._load(name))

    def _render(self, prepared: list[Prepared], progress: Callable[[int, int], None] | None) -> list[Rendered]:
        """Every sentence's audio, in order: consecutive sentences of one family in batches, pauses silent."""
        out: list[Rendered] = [_EMPTY] * len(prepared)
        spoken = [(i, p) for i, p in enumerate(prepared) if p.key is not None]
        for _, run in groupby(spoken, key=lambda pair: pair[1].section.family):
            for chunk in _chunks(list(run), SYNTH_BATCH):
                voice = chunk[0][1].voice
                result = voice.run_batch([BatchItem(p.utterance, p.controls) for _, p in chunk])
                durations: Sequence[IntArray | None] = result.durations or [None] * len(chunk)
                for (i, _), wave, spent in zip(chunk, result.waveforms, durations, strict=True):
                    out[i] = Rendered(wave, spent)
                if progress is not None:
                    progress(len(chunk), len(spoken))
        return out


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
    precision: str = "auto",
    mode: str = "fast",
    *,
    model_dir: str | Path | None = None,
    lexicon: str | Path | None = None,
    max_phonemes: int = DEFAULT_MAX_PHONEMES,
    threads: int | None = None,
) -> Synthesizer:
    """Load a voice family with its front end. The Python API entry point (``ttsd.load_voice``).

    ``device="auto"`` picks CUDA when it works, else the CPU; ``precision="auto"`` is the server's rule
    (:func:`ttsd.precision.resolve_precision`: mixed on a CPU with bf16 fast paths, else fp32; fp16 on CUDA)."""
    from ttsd.precision import resolve_precision
    from ttsd.serving.executors import select_device

    device = select_device(device)[0] if device == "auto" else device
    options = VoiceOptions(
        device=device,
        precision=resolve_precision(precision, device, mode=mode),
        mode=mode,
        model_dir=Path(model_dir) if model_dir is not None else None,
        max_phonemes=max_phonemes,
        threads=threads,
    )
    voice = load_family(name, options)
    lexicon_path = Path(lexicon) if lexicon is not None else None
    frontend = build_frontend(name, lexicon=lexicon_path, cache_dir=cache_dirs(options.model_dir).root)
    return Synthesizer(voice=voice, frontend=frontend, load=lambda other: load_family(family_of(other), options))
