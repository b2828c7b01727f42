"""Kokoro speaker styles: the 8 Mandarin style tables and voice blends (``zf_xiaobei:0.6,zf_xiaoyi:0.4``).

A style table is 510 rows of a 256-float style vector; the row used for an utterance is picked by its
token count (``table[number of phoneme ids without the two pads]``), as Kokoro's own pipelines do. A blend is
the weighted sum of its voices' tables, weights normalised to sum to 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttsd.errors import InvalidControl
from ttsd.voices.base import FloatArray

ROWS = 510
STYLE_DIM = 256
FEMALE = ("zf_xiaobei", "zf_xiaoni", "zf_xiaoxiao", "zf_xiaoyi")
MALE = ("zm_yunjian", "zm_yunxi", "zm_yunyang", "zm_yunxia")
SPEAKERS = FEMALE + MALE
MAX_BLEND = 8


@dataclass(frozen=True, slots=True)
class Blend:
    """A parsed speaker spec: ``(voice, weight)`` pairs, weights normalised (one pair for a plain voice)."""

    parts: tuple[tuple[str, float], ...]

    @property
    def key(self) -> str:
        """Canonical text of the blend (cache keys, logs)."""
        if len(self.parts) == 1:
            return self.parts[0][0]
        return ",".join(f"{name}:{weight:.6g}" for name, weight in self.parts)


def parse_speaker(spec: str, known: tuple[str, ...] = SPEAKERS) -> Blend:
    """``zm_yunjian`` or ``zf_xiaobei:0.6,zf_xiaoyi:0.4`` -> :class:`Blend`; :class:`InvalidControl` otherwise."""
    items = [item.strip() for item in spec.split(",")]
    if not spec.strip() or any(not item for item in items):
        raise InvalidControl(f"speaker {spec!r} is empty or has an empty blend item", param="speaker")
    if len(items) > MAX_BLEND:
        raise InvalidControl(f"a speaker blend takes at most {MAX_BLEND} voices, got {len(items)}", param="speaker")
    weights: dict[str, float] = {}
    for item in items:
        name, sep, raw = item.partition(":")
        name = name.strip()
        if name not in known:
            raise InvalidControl(f"unknown Kokoro speaker {name!r}; known: {', '.join(known)}", param="speaker")
        weight = _weight(raw, item) if sep else 1.0
        if name in weights:
            raise InvalidControl(f"speaker {name!r} appears twice in the blend {spec!r}", param="speaker")
        weights[name] = weight
    total = sum(weights.values())
    if not math.isfinite(total) or total <= 0:
        what = "zero" if total <= 0 else "more than a float can hold"
        raise InvalidControl(
            f"the blend weights of {spec!r} sum to {what}: use finite weights >= 0 with a positive sum "
            "(e.g. zf_xiaobei:0.6,zm_yunjian:0.4)",
            param="speaker",
        )
    return Blend(tuple((name, weight / total) for name, weight in weights.items()))


def _weight(raw: str, item: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidControl(f"blend weight in {item!r} is not a number", param="speaker") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidControl(f"blend weight in {item!r} must be a finite number >= 0", param="speaker")
    return value


class StyleBank:
    """The loaded style tables, and the per-utterance style vector of a blend."""

    def __init__(self, *, tables: Mapping[str, FloatArray]) -> None:
        for name, table in tables.items():
            if table.shape != (ROWS, STYLE_DIM):
                raise ValueError(f"style table {name} has shape {table.shape}, expected {(ROWS, STYLE_DIM)}")
        self._tables = dict(tables)

    @classmethod
    def from_files(cls, paths: Mapping[str, Path]) -> StyleBank:
        """Tables from ``.bin`` files of 510 x 1 x 256 little-endian float32 (kokoro-js's layout)."""
        tables = {}
        for name, path in paths.items():
            data = np.fromfile(path, dtype="<f4")
            if data.size != ROWS * STYLE_DIM:
                raise ValueError(f"{path} holds {data.size} floats, expected {ROWS * STYLE_DIM}")
            tables[name] = data.reshape(ROWS, STYLE_DIM).astype(np.float32)
        return cls(tables=tables)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tables)

    def style(self, blend: Blend, n_phonemes: int) -> FloatArray:
        """The [1, 256] style vector for an utterance of ``n_phonemes`` ids (pads not counted)."""
        row = min(max(n_phonemes, 0), ROWS - 1)
        out = np.zeros(STYLE_DIM, dtype=np.float32)
        for name, weight in blend.parts:
            out += np.float32(weight) * self._tables[name][row]
        return out.reshape(1, STYLE_DIM)
