"""Subtitles from timestamps: cue lines broken at punctuation, written as SRT or WebVTT.

Timestamps come one per spoken unit (a Han character, a Latin word, a ``<say-as>``/``<sub>`` unit) in
reading order; punctuation comes as zero-length timestamps (``start == end``) so that lines can break at it.

Line breaking (``build_cues``): the text is cut into clauses after punctuation (closing quotes and brackets
stay with the clause before, opening ones go with the clause after). A cue always ends after 。！？；!?;. and
after a clause when the next one would make the line longer than ``max_chars`` characters or the cue longer
than ``max_duration_s``. A clause longer than that is cut between tokens into lines of nearly equal length;
a token is never split. A cue's
times are those of its first and last spoken (non-zero-length) timestamps; its text drops trailing 。，、；：
and leading punctuation, keeps ！？ and quotes, and puts a space between two Latin words.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SENTENCE_ENDS = frozenset("。！？；!?;.…")  # a cue always ends after these
CLAUSE_ENDS = frozenset("，、：,:—") | SENTENCE_ENDS  # a cue may end after these
DROPPED_AT_END = "，。、；：,.;:—"  # not shown at the end of a subtitle line
DEFAULT_MAX_CHARS = 20  # CJK subtitles: 15-20 characters a line
DEFAULT_MAX_DURATION_S = 7.0


@dataclass(frozen=True, slots=True)
class Timestamp:
    """One unit of the audio: its original text and when it is spoken, in seconds from the start."""

    text: str
    start: float
    end: float

    @property
    def spoken(self) -> bool:
        return self.end > self.start


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle: ``text`` shown from ``start`` to ``end`` (seconds)."""

    start: float
    end: float
    text: str


def build_cues(
    timestamps: Iterable[Timestamp],
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
) -> list[Cue]:
    """Group timestamps into subtitle cues (see the module docstring for the rules)."""
    if max_chars < 1 or max_duration_s <= 0:
        raise ValueError("max_chars must be >= 1 and max_duration_s > 0")
    cues: list[Cue] = []
    line: list[Timestamp] = []
    for clause in _clauses([t for t in timestamps if t.text]):
        if _fits(line + clause, max_chars, max_duration_s):
            line += clause
        elif _fits(clause, max_chars, max_duration_s):
            cues += _cue(line)
            line = list(clause)
        else:
            cues += _cue(line)
            line = []
            limit = _balanced(_length(clause), max_chars)
            for token in clause:  # a clause too long for one line is cut between tokens, into even lines
                if line and token.spoken and not _fits([*line, token], limit, max_duration_s):
                    cues += _cue(line)
                    line = []
                line.append(token)
        if _final_mark(clause) in SENTENCE_ENDS:
            cues += _cue(line)
            line = []
    cues += _cue(line)
    return cues


def to_srt(cues: Sequence[Cue]) -> str:
    """SubRip: numbered blocks ``HH:MM:SS,mmm --> HH:MM:SS,mmm`` and the text, separated by blank lines."""
    blocks = [f"{i}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{_one_line(c.text)}\n" for i, c in
              enumerate(cues, start=1)]  # fmt: skip
    return "\n".join(blocks)


def to_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT: the ``WEBVTT`` header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` and the (escaped) text."""
    blocks = [f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{_vtt_text(c.text)}\n" for c in cues]
    return "\n".join(["WEBVTT\n", *blocks])


def _clauses(tokens: list[Timestamp]) -> list[list[Timestamp]]:
    """Cut after clause punctuation; closing punctuation joins the clause before it."""
    clauses: list[list[Timestamp]] = []
    current: list[Timestamp] = []
    for token in tokens:
        if _final_mark(current) in CLAUSE_ENDS and not _closes(token):
            clauses.append(current)
            current = []
        current.append(token)
    if current:
        clauses.append(current)
    return clauses


def _closes(token: Timestamp) -> bool:
    """Punctuation that belongs to the clause before it: closing quotes/brackets, more stop marks."""
    text = token.text.strip()
    return bool(text) and all(unicodedata.category(c) in ("Pe", "Pf") or c in CLAUSE_ENDS for c in text)


def _final_mark(tokens: list[Timestamp]) -> str:
    """The last character of ``tokens`` before any closing quotes and brackets ("" if none)."""
    text = "".join(t.text.strip() for t in tokens)
    while text and unicodedata.category(text[-1]) in ("Pe", "Pf"):
        text = text[:-1]
    return text[-1:]


def _fits(tokens: Sequence[Timestamp], max_chars: int, max_duration_s: float) -> bool:
    spoken = [t for t in tokens if t.spoken]
    duration = spoken[-1].end - spoken[0].start if spoken else 0.0
    return _length(tokens) <= max_chars and duration <= max_duration_s


def _length(tokens: Sequence[Timestamp]) -> int:
    """Characters shown, not counting punctuation at the end (it may go past ``max_chars``)."""
    shown = _text(tokens)
    while shown and unicodedata.category(shown[-1]).startswith("P"):
        shown = shown[:-1]
    return len(shown)


def _balanced(length: int, max_chars: int) -> int:
    """The line length that cuts ``length`` characters into the fewest lines of nearly equal length."""
    lines = -(-length // max_chars)
    return max(1, -(-length // max(lines, 1)))


def _cue(tokens: list[Timestamp]) -> list[Cue]:
    """The cue of ``tokens`` (none when nothing in it is spoken or shown)."""
    spoken = [t for t in tokens if t.spoken]
    text = _text(tokens)
    if not spoken or not text:
        return []
    return [Cue(start=spoken[0].start, end=spoken[-1].end, text=text)]


def _text(tokens: Sequence[Timestamp]) -> str:
    out = ""
    for token in tokens:
        piece = token.text.strip()
        if out and piece and _latin(out[-1]) and _latin(piece[0]):
            out += " "
        out += piece
    out = out.rstrip(DROPPED_AT_END + " ")
    while out and unicodedata.category(out[0]).startswith("P") and unicodedata.category(out[0]) not in ("Ps", "Pi"):
        out = out[1:].lstrip()
    return out


def _latin(char: str) -> bool:
    return char.isalnum() and unicodedata.east_asian_width(char) not in ("W", "F")


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _vtt_text(text: str) -> str:
    return _one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
