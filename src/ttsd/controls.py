"""Synthesis controls: the per-request knobs every layer passes around (a bottom module: imports only errors).

Each voice says which controls it honours (``Voice.validate``); the ranges here are the outer bounds any voice
accepts. Documented in the README ("Controls").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ttsd.errors import InvalidControl

# Ranges accepted for each control. Documented in README ("Controls").
SPEED_RANGE = (0.25, 4.0)
PITCH_RANGE = (-3.0, 3.0)
INTONATION_RANGE = (0.0, 3.0)
ENERGY_RANGE = (0.25, 4.0)


@dataclass(frozen=True, slots=True)
class Controls:
    """Per-item synthesis controls, validated on construction.

    * ``speed``: user-facing rate, 1.25 = 25% faster (the model's duration ratio is ``1/speed``).
    * ``pitch``: additive shift of the z-scored phoneme f0; 1.0 is one standard deviation of the Baker
      speaker's pitch (about 2-3 semitones).
    * ``intonation``: multiplies the z-scored f0 (0 = flat, 1 = as predicted, >1 = more expressive).
    * ``energy``: multiplies the z-scored energy.
    * ``variation``: apply the original model's inference-time dropout on f0/energy embeddings; with ``seed``
      the result is reproducible (same text + seed = same audio).
    * ``speaker`` / ``emotion``: for multi-speaker backends; ``None`` = the backend default.
    """

    speed: float = 1.0
    pitch: float = 0.0
    intonation: float = 1.0
    energy: float = 1.0
    variation: bool = False
    seed: int | None = None
    speaker: str | None = None
    emotion: str | None = None

    def __post_init__(self) -> None:
        _check_range("speed", self.speed, SPEED_RANGE)
        _check_range("pitch", self.pitch, PITCH_RANGE)
        _check_range("intonation", self.intonation, INTONATION_RANGE)
        _check_range("energy", self.energy, ENERGY_RANGE)
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise InvalidControl("seed must be between 0 and 2**63-1", param="seed")

    def cache_key(self) -> tuple[object, ...]:
        """Everything that changes the audio; ``seed`` only matters when ``variation`` is on."""
        seed = self.seed if self.variation else None
        return (self.speed, self.pitch, self.intonation, self.energy, self.variation, seed, self.speaker, self.emotion)


def _check_range(name: str, value: float, bounds: tuple[float, float]) -> None:
    lo, hi = bounds
    if not isinstance(value, int | float) or not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidControl(f"{name} must be a number between {lo} and {hi}, got {value!r}", param=name)


def with_prosody(controls: Controls, *, rate: float, pitch_shift: float) -> Controls:
    """``controls`` with speed multiplied by ``rate`` and ``pitch_shift`` added to pitch, clamped to the ranges
    (markup composes with the request's own controls; a composition past the bounds saturates, not fails)."""
    if rate == 1.0 and pitch_shift == 0.0:
        return controls
    speed = min(SPEED_RANGE[1], max(SPEED_RANGE[0], controls.speed * rate))
    pitch = min(PITCH_RANGE[1], max(PITCH_RANGE[0], controls.pitch + pitch_shift))
    return replace(controls, speed=speed, pitch=pitch)
