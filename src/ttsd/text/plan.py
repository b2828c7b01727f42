"""The reading plan: input (text or SSML segments) cut into sentence units, cheaply and before any reading.

Cutting is string work only (no normalizer, no G2P), so the whole plan is made up front and each unit is
then read lazily. Rules:

* plain text is cut at sentence punctuation and line breaks (:func:`ttsd.text.split.split_open`); text
  after the last terminator stays open and flows on into the next segment of the same prosody and voice;
* a sentence never spans segments with different prosody or voice (the change closes it, no pause);
* ``sentence_end`` closes the open sentence; ``break_after_s`` closes it with that pause, or replaces the
  pause of the sentence this segment's own punctuation just closed, or (nothing open, nothing just closed)
  becomes a unit with no parts, a pure pause;
* a unit of plain text longer than :data:`MAX_UNIT_CHARS` is cut at clause marks (then anywhere outside
  numbers and words), so one huge sentence does not delay the first audio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ttsd.text.split import PAUSE_FORCED, PAUSE_SENTENCE, split_open, split_to_budget
from ttsd.text.types import Prosody, Segment

MAX_UNIT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Part:
    """A stretch of one segment inside a unit (for plain segments, a piece of its text)."""

    segment: Segment
    text: str

    @property
    def plain(self) -> bool:
        s = self.segment
        return s.say_as is None and s.pinyin is None and s.alias is None


@dataclass(frozen=True, slots=True)
class Unit:
    """One sentence to read (``parts`` empty: a pure pause)."""

    parts: tuple[Part, ...]
    pause_after_s: float
    prosody: Prosody
    voice: str | None
    pause_from_break: bool = False


def plan(source: str | Sequence[Segment]) -> list[Unit]:
    segments = [Segment(source)] if isinstance(source, str) else list(source)
    builder = _Builder()
    for segment in segments:
        builder.add(segment)
    builder.close(PAUSE_SENTENCE)
    return builder.units


class _Builder:
    def __init__(self) -> None:
        self.units: list[Unit] = []
        self._open: list[Part] = []
        self._key: tuple[Prosody, str | None] = (Prosody(), None)

    def add(self, segment: Segment) -> None:
        key = (segment.prosody, segment.voice)
        if key != self._key:
            self.close(PAUSE_FORCED)
            self._key = key
        closed_here = False
        probe = Part(segment, segment.text)
        if probe.plain:
            sentences, tail = split_open(segment.text)
            for sentence, pause in sentences:
                self._open.append(Part(segment, sentence))
                self.close(pause)
            closed_here = bool(sentences) and not tail.strip()
            if tail.strip():
                self._open.append(Part(segment, tail))
        elif segment.text.strip() or segment.alias or segment.pinyin:
            self._open.append(probe)
        if segment.break_after_s is not None:
            self._break(segment.break_after_s, closed_here=closed_here)
        elif segment.sentence_end:
            self.close(PAUSE_SENTENCE)

    def close(self, pause: float, *, from_break: bool = False) -> None:
        parts, self._open = self._open, []
        if not any(p.text.strip() or not p.plain for p in parts):
            return
        prosody, voice = self._key
        if len(parts) == 1 and parts[0].plain and len(parts[0].text) > MAX_UNIT_CHARS:
            pieces = split_to_budget(parts[0].text, cost=len, budget=MAX_UNIT_CHARS)
            for index, (piece, piece_pause) in enumerate(pieces):
                last = index == len(pieces) - 1
                unit_pause = pause if last else piece_pause
                self.units.append(
                    Unit((Part(parts[0].segment, piece),), unit_pause, prosody, voice, from_break and last)
                )
            return
        self.units.append(Unit(tuple(parts), pause, prosody, voice, from_break))

    def _break(self, seconds: float, *, closed_here: bool) -> None:
        if self._open:
            self.close(seconds, from_break=True)
        elif closed_here and self.units and not self.units[-1].pause_from_break:
            self.units[-1] = replace(self.units[-1], pause_after_s=seconds, pause_from_break=True)
        else:
            prosody, voice = self._key
            self.units.append(Unit((), seconds, prosody, voice, True))
