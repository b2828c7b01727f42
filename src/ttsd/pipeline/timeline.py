"""Joining synthesized pieces into one stream of audio, and timing every token in it: the one place both
whole responses and streams (and ``ttsd synth``) do it, so they agree to the sample.

A piece is the pause after the previous sentence followed by this sentence's audio, so a piece can be sent as
soon as its own audio is ready (nothing waits to learn whether another sentence follows) and the pause after
the last sentence is never sent. A token's timestamps come
from the samples the voice spent on its ids (``Rendered.durations``, after speed), offset by everything
before it; silent tokens (punctuation) get a zero-length stamp where they fall, so subtitles can break there.

A response has one sample rate, its first section's (the request's own voice). A piece from a family with
another rate (an SSML ``<voice>`` switch to a 16 kHz voice in a 24 kHz response) is resampled to it, and its
durations scaled with it, so timestamps stay true.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ttsd.audio import resample
from ttsd.subtitles import Timestamp
from ttsd.voices.base import FloatArray, Rendered, Utterance


@dataclass(frozen=True, slots=True)
class Piece:
    """One piece's audio (pause included) and the timestamps of its tokens (absolute seconds)."""

    audio: FloatArray
    timestamps: list[Timestamp]


class Timeline:
    """Accumulates pieces in order; not thread-safe (one per response)."""

    def __init__(self, *, sample_rate: int) -> None:
        self._rate = sample_rate
        self._samples = 0
        self._pause = 0  # samples of silence owed before the next piece

    @property
    def seconds(self) -> float:
        return self._samples / self._rate

    @property
    def sample_rate(self) -> int:
        return self._rate

    def add(self, utterance: Utterance, rendered: Rendered, *, gain: float = 1.0, rate: int | None = None) -> Piece:
        """The piece for ``utterance``: the previous sentence's pause, then its audio times ``gain``; audio at
        another ``rate`` (its voice's) is resampled to the timeline's."""
        wave = rendered.waveform if gain == 1.0 else (rendered.waveform * np.float32(gain)).astype(np.float32)
        scale = 1.0
        if rate is not None and rate != self._rate:
            wave, scale = resample(wave, rate, self._rate), self._rate / rate
        pause, self._pause = self._pause, round(utterance.pause_after_s * self._rate)
        stamps = self._stamps(utterance, rendered, offset=self._samples + pause, scale=scale)
        audio = np.concatenate([np.zeros(pause, dtype=np.float32), wave]) if pause else wave.copy()
        self._samples += len(audio)
        return Piece(audio=audio, timestamps=stamps)

    def _stamps(self, utterance: Utterance, rendered: Rendered, *, offset: int, scale: float) -> list[Timestamp]:
        sentence = utterance.sentence
        durations = rendered.durations
        if sentence is None or durations is None or not utterance.spans:
            return []
        edges = np.round(np.concatenate([[0], np.cumsum(durations)]) * scale).astype(np.int64)
        stamps: list[Timestamp] = []
        for token, (start, end) in zip(sentence.tokens, utterance.spans, strict=True):
            begin = offset + int(edges[min(start, len(edges) - 1)])
            finish = offset + int(edges[min(end, len(edges) - 1)])
            stamps.append(Timestamp(text=token.text, start=begin / self._rate, end=finish / self._rate))
        return stamps
