"""The server process's face of a family whose model runs in a worker pool.

The engine needs a voice in the server process for the text side of every request (budget, validation,
encoding to ids, frame estimates) and for its description. :class:`PooledVoice` is that: the family loaded
without its model (``VoiceOptions(load_model=False)``), described by what the workers reported once loaded
(:class:`~ttsd.voices.base.VoiceInfo` with their device and precision). Batches go to the pool, never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ttsd.controls import Controls
from ttsd.errors import BackendError
from ttsd.text.types import Budget, Sentence
from ttsd.voices.base import BatchItem, BatchOutput, Utterance, Voice, VoiceInfo


class PooledVoice:
    """A :class:`~ttsd.voices.base.Voice` for the engine; ``run_batch`` belongs to the workers."""

    def __init__(self, *, text: Voice, info: VoiceInfo, device: str) -> None:
        self._text = text
        self._info = replace(info, device=device)

    @property
    def info(self) -> VoiceInfo:
        return self._info

    @property
    def sample_rate(self) -> int:
        return self._text.sample_rate

    @property
    def budget(self) -> Budget:
        return self._text.budget

    def validate(self, controls: Controls) -> None:
        self._text.validate(controls)

    def encode(self, sentence: Sentence) -> Utterance:
        return self._text.encode(sentence)

    def estimate_frames(self, utterance: Utterance, controls: Controls) -> int:
        return self._text.estimate_frames(utterance, controls)

    def run_batch(self, items: Sequence[BatchItem]) -> BatchOutput:
        raise BackendError(f"the {self._info.name} model runs in the worker pool, not in the server process")

    def warmup(self) -> None:
        """Nothing to do: every worker warmed its own model up before it reported ready."""
