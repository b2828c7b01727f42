"""Kokoro on the CPU: one onnxruntime session over the timed graph, one call at a time.

Inputs are the graph's: ``tokens`` int64 [1, T] (0 at both ends), ``style`` float32 [1, 256], ``speed``
float32 [1]; outputs the 24 kHz ``audio`` [N] and (the output ttsd adds, :mod:`ttsd.voices.kokoro.graph`)
``durations`` int64 [T] in frames of :data:`SAMPLES_PER_FRAME` samples, so ``N == sum(durations) * 600``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ttsd.errors import AssetError, BackendError
from ttsd.voices.base import FloatArray, IntArray
from ttsd.voices.kokoro.graph import DURATION_OUTPUT

SAMPLE_RATE = 24_000
SAMPLES_PER_FRAME = 600


@dataclass(frozen=True, slots=True)
class Synthesis:
    """One utterance's audio and the samples spent on each token id (sums to ``len(audio)``)."""

    audio: FloatArray
    durations: IntArray


@dataclass(frozen=True, slots=True)
class Item:
    """One utterance to speak: token ids (0 at both ends), its style row [256] and the speed divisor."""

    ids: Sequence[int]
    style: FloatArray
    speed: float


class Runner(Protocol):
    """What :class:`~ttsd.voices.kokoro.voice.KokoroVoice` runs: a batch of items, one result per item."""

    def __call__(self, items: Sequence[Item]) -> list[Synthesis]: ...


class OnnxSynthesizer:
    """The int8 ONNX graph on onnxruntime's CPU provider, ``threads`` intra-op threads, calls serialized."""

    def __init__(self, *, model_path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a truncated or foreign file: say which and how to fix it
            raise AssetError(f"cannot load the Kokoro model {model_path} ({exc}); delete it and restart") from exc
        outputs = [o.name for o in self._session.get_outputs()]
        if DURATION_OUTPUT not in outputs:
            raise AssetError(f"{model_path} has no {DURATION_OUTPUT!r} output; delete it and restart")
        self._outputs = ["audio", DURATION_OUTPUT]
        # onnxruntime's CPU arena keeps the largest working set any call needed (a long utterance at a slow speed:
        # over 1 GB) for the life of the process; shrinking it after every call gives that memory back.
        self._run_options = ort.RunOptions()
        self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._lock = threading.Lock()

    def __call__(self, items: Sequence[Item]) -> list[Synthesis]:
        """One graph call per item (the graph takes one utterance)."""
        return [self._one(item.ids, item.style, item.speed) for item in items]

    def _one(self, ids: Sequence[int], style: FloatArray, speed: float) -> Synthesis:
        feeds = {
            "tokens": np.asarray([ids], dtype=np.int64),
            "style": np.asarray(style, dtype=np.float32).reshape(1, -1),
            "speed": np.asarray([speed], dtype=np.float32),
        }
        with self._lock:
            try:
                audio, frames = self._session.run(self._outputs, feeds, self._run_options)
            except Exception as exc:
                raise BackendError(f"Kokoro inference failed on {len(ids)} ids: {exc}") from exc
        durations = np.asarray(frames, dtype=np.int64).reshape(-1) * SAMPLES_PER_FRAME
        wave = np.asarray(audio, dtype=np.float32).reshape(-1)
        return Synthesis(audio=wave, durations=_fit(durations, wave.shape[0]))


def _fit(durations: IntArray, length: int) -> IntArray:
    """Make the durations sum to ``length`` exactly (the graph's audio is ``600 * sum`` long; a mismatch
    would only come from a future graph: put the difference on the last id)."""
    gap = length - int(durations.sum())
    if gap and durations.size:
        durations = durations.copy()
        durations[-1] = max(0, int(durations[-1]) + gap)
    return durations
