"""Voice registry: voice name -> loader import string, imported only when that voice is asked for.

Concrete voices are reached only through here, so ``import ttsd`` never imports torch or optional backends.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from ttsd.errors import UnknownVoice
from ttsd.voices.base import Voice

# name -> "module:function"; the function takes VoiceOptions and returns a loaded Voice.
LOADERS: dict[str, str] = {
    "baker": "ttsd.voices.baker.voice:load",
    "fake": "ttsd.voices.fake:load",
    "kokoro": "ttsd.voices.kokoro.voice:load",
    "sambert": "ttsd.voices.modelscope:load",
}


@dataclass(frozen=True, slots=True)
class VoiceOptions:
    """How to load a voice. Backends ignore the fields that do not apply to them.

    * ``device``: ``cpu``, ``cuda`` or ``cuda:N`` (``auto`` is resolved by the caller before this point).
    * ``precision``: ``auto``, ``fp32``, ``mixed``, ``bf16`` or ``fp16`` (``fp16`` on CUDA only); ``auto`` is
      :func:`ttsd.precision.auto_precision` (``mixed`` on a CPU with bf16 fast paths, else ``fp32``; ``fp16``
      on CUDA), resolved by the voice.
    * ``mode``: ``fast`` (float, except the cheap token-level layers, which keep the original's int8 activation
      rounding so durations match it) or ``exact`` (emulates the TFLite runtime's int8 activation quantization
      everywhere, bit-faithful to the original).
    * ``model_dir``: where converted weights are cached; ``None`` = the user cache dir.
    * ``lexicon``: optional user lexicon file (word -> pinyin) that overrides the front end's readings.
    * ``max_phonemes``: phoneme budget per item; longer sentences are split at ，、.
    * ``extra``: backend-specific strings (e.g. ModelScope model id or path).
    """

    device: str = "cpu"
    precision: str = "fp32"
    mode: str = "fast"
    model_dir: Path | None = None
    lexicon: Path | None = None
    max_phonemes: int = 96
    threads: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


def available() -> list[str]:
    """Names of the registered voices (installed or not)."""
    return sorted(LOADERS)


def resolve(name: str) -> Callable[[VoiceOptions], Voice]:
    """The loader function for ``name``; raises :class:`UnknownVoice` for an unregistered name."""
    try:
        target = LOADERS[name]
    except KeyError:
        raise UnknownVoice(f"unknown voice {name!r}; available: {', '.join(available())}") from None
    module_name, _, func_name = target.partition(":")
    module = importlib.import_module(module_name)
    return cast(Callable[[VoiceOptions], Voice], getattr(module, func_name))


def load_voice(
    name: str = "baker",
    device: str = "cpu",
    precision: str = "fp32",
    mode: str = "fast",
    *,
    model_dir: str | Path | None = None,
    lexicon: str | Path | None = None,
    max_phonemes: int = 96,
    threads: int | None = None,
    **extra: str,
) -> Voice:
    """Load a voice by name. The Python API entry point (``ttsd.load_voice``)."""
    options = VoiceOptions(
        device=device,
        precision=precision,
        mode=mode,
        model_dir=Path(model_dir) if model_dir is not None else None,
        lexicon=Path(lexicon) if lexicon is not None else None,
        max_phonemes=max_phonemes,
        threads=threads,
        extra=dict(extra),
    )
    return resolve(name)(options)
