"""Incremental segmentation: text that arrives in pieces (an LLM writing token by token) -> the sentence units a
whole text would get, each given out as soon as it can no longer change.

The rules are the whole-text plan's (:mod:`ttsd.text.plan`, :mod:`ttsd.text.split`), applied piece by piece:

* a sentence ends at 。！？；… , a line break, or an ASCII ``. ! ? ;`` that ends a sentence. 。！？；… and line
  breaks end it at once (what may still follow - more stops, closing quotes - is silent and only joins it); an
  ASCII dot waits for the next character (``2.5``, ``U.S.``, ``file.txt`` stay whole);
* a sentence still open past :data:`~ttsd.text.plan.MAX_UNIT_CHARS` gives out the clause groups a whole text would
  cut it into (at ，、：), once the clause after them has started; an open clause that passes twice that length
  is cut at the length limit, never inside a run of Latin letters or digits (a number, a code, a word);
* nothing is given out from inside an SSML-like span still being written (``<say-as ...>`` up to its
  ``</say-as>``, or a ``<`` tag with no ``>`` yet);
* :meth:`Segmenter.flush` gives out what is open now (except a number or word still being written and an
  unfinished span); :meth:`Segmenter.end` gives out everything.

So, without ``flush``, the units (text and pause after) are exactly those of the whole text, and its audio is
the same. Each call costs time in proportion to the new text, not to everything buffered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ttsd.text.plan import MAX_UNIT_CHARS
from ttsd.text.split import (
    CLAUSE_MARKS,
    CLOSERS,
    FULL_STOPS,
    PAUSE_CLAUSE,
    PAUSE_FORCED,
    PAUSE_SEMICOLON,
    PAUSE_SENTENCE,
    absorb_closers,
    inside_word,
    split_to_budget,
    terminator_pause,
    token_char,
)

_AT_ONCE = frozenset("。！？!?…；;\n\r\u2028\u2029")
_CANDIDATE = re.compile("[。！？!?…；;.\n\r\u2028\u2029]")  # what may end a sentence (split.terminator_pause decides)
_TAG = re.compile(r"<(/?)([A-Za-z][\w:.-]*)[^<>]*?(/?)>")
_OPEN_TAG = re.compile(r"<[A-Za-z/!?][^<>]*$")
# An "SSML-like span" longer than this is not markup: it no longer holds the text back.
MAX_SPAN_CHARS = 1000


@dataclass(frozen=True, slots=True)
class TextUnit:
    """One sentence unit to read: its text and the pause after it (as :class:`ttsd.text.plan.Unit` has them)."""

    text: str
    pause_after_s: float


class Segmenter:
    """See the module docstring. One per session; not thread-safe."""

    def __init__(self, *, max_unit_chars: int = MAX_UNIT_CHARS) -> None:
        self._max = max_unit_chars
        self._text = ""  # the open text: nothing of it given out yet
        self._scan = 0  # where the search for a sentence end goes on in ``_text``
        self._swallow = ""  # what the sentence closed last would still take in: "stops", "closers" or ""
        self._mark = False  # a clause mark came since the last long-sentence check
        self._before = ""  # the character before ``_text`` (an ASCII dot's meaning depends on it)

    @property
    def pending(self) -> str:
        """The text received and not given out yet."""
        return self._text

    def feed(self, text: str) -> list[TextUnit]:
        """Take ``text``; return the units it completed."""
        text = self._swallowed(text)
        self._text += text
        self._mark = self._mark or any(ch in CLAUSE_MARKS for ch in text)
        units = self._sentences()
        if len(self._text) > self._max and (self._mark or len(self._text) > 2 * self._max):
            units.extend(self._long_open())
        return units

    def flush(self) -> list[TextUnit]:
        """The open text now, as one unit (mid-sentence), except a trailing number/word/span still being written."""
        keep = min(_held_from(self._text), _token_tail(self._text))
        text, self._text = self._text[:keep], self._text[keep:]
        self._before = text[-1:] or self._before
        self._scan = 0
        if not text.strip():
            self._text = text + self._text
            return []
        stripped = text.rstrip()
        while stripped and stripped[-1] in CLOSERS:
            stripped = stripped[:-1]
        pause = PAUSE_CLAUSE if stripped and stripped[-1] in CLAUSE_MARKS else PAUSE_FORCED
        return _units(text, pause, self._max)

    def end(self) -> list[TextUnit]:
        """Everything still open (the text is over)."""
        text, self._text = self._text, ""
        self._before = text[-1:] or self._before
        self._scan = 0
        return _units(text, PAUSE_SENTENCE, self._max)

    # -- internals ---------------------------------------------------------------------------------------------

    def _swallowed(self, text: str) -> str:
        """Drop what the sentence given out last would have taken in (silent: more stops, closing quotes)."""
        i = 0
        while i < len(text) and self._swallow:
            ch = text[i]
            if self._swallow == "stops" and (ch in FULL_STOPS or ch == "."):
                i += 1
            elif ch in CLOSERS:
                self._swallow = "closers"
                i += 1
            else:
                self._swallow = ""
        if i:
            self._before = text[i - 1]
        return text[i:]

    def _sentences(self) -> list[TextUnit]:
        units: list[TextUnit] = []
        text, n = self._before + self._text, len(self._before) + len(self._text)  # decide with one character before
        held = len(self._before) + _held_from(self._text)
        start = len(self._before)
        i = start + self._scan
        stop = min(n, held)
        while (found := _CANDIDATE.search(text, i, stop)) is not None:
            i = found.start()
            ch = text[i]
            last = i == n - 1
            if last and ch not in _AT_ONCE:
                break  # an ASCII dot (or anything else) at the very end: its meaning needs the next character
            pause = terminator_pause(text, i)
            if pause is None:
                i += 1
                continue
            end = absorb_closers(text, i + 1)
            if end == n:  # closers may still come: they are silent, so the sentence goes now and takes them in
                self._swallow = "stops" if last and ch in FULL_STOPS else "closers"
            units.extend(_units(text[start:end], pause, self._max))
            start = i = end
        else:
            i = max(i, stop)  # nothing before ``stop`` can end a sentence
        self._before = text[start - 1] if start else ""
        self._text = text[start:]
        self._scan = max(0, i - start)
        return units

    def _long_open(self) -> list[TextUnit]:
        """The clause groups a whole text would cut this long open sentence into, as far as they are final; past
        the length limit, pieces cut at it."""
        units: list[TextUnit] = []
        while len(self._text) > self._max and (step := self._long_step()):
            units.extend(step)
        return units

    def _long_step(self) -> list[TextUnit]:
        text = self._text
        limit = min(len(text), _held_from(text))
        end = _last_clause_end(text, limit)
        self._mark = text.rstrip("".join(CLOSERS))[-1:] in CLAUSE_MARKS  # a mark nothing follows yet
        if end and len(text[:end].strip()) > self._max:
            pieces = split_to_budget(text[:end], cost=len, budget=self._max)[:-1]
        elif end and limit > 2 * self._max:  # the clause after it is too long to wait for
            pieces = [(text[:end].strip(), PAUSE_CLAUSE)]
        elif limit > 2 * self._max:  # the length limit: no clause mark to cut at
            pieces, start = [], 0
            while limit - start > 2 * self._max:
                cut = _word_edge(text, start + self._max, low=start + 1)
                pieces.append((text[start:cut].strip(), PAUSE_FORCED))
                start = cut
        else:
            return []
        consumed = 0
        for piece, _ in pieces:
            consumed = text.index(piece, consumed) + len(piece)
        self._before = text[consumed - 1] if consumed else self._before
        self._text = text[consumed:]
        self._scan = 0
        return [TextUnit(piece, pause) for piece, pause in pieces if piece]


def _units(text: str, pause: float, max_chars: int) -> list[TextUnit]:
    """A closed unit as the plan makes it: stripped, and cut at clause marks when longer than ``max_chars``."""
    text = text.strip()
    if not text:
        return []
    if len(text) <= max_chars:
        return [TextUnit(text, pause)]
    pieces = split_to_budget(text, cost=len, budget=max_chars)
    last = len(pieces) - 1
    return [TextUnit(piece, pause if k == last else own) for k, (piece, own) in enumerate(pieces)]


def _last_clause_end(text: str, limit: int) -> int:
    """End (closers included) of the last clause mark before ``limit`` that something already follows; 0 if none."""
    for i in range(limit - 1, -1, -1):
        if text[i] in CLAUSE_MARKS:
            end = absorb_closers(text, i + 1)
            if end < len(text):
                return end
    return 0


def _word_edge(text: str, cut: int, *, low: int = 1) -> int:
    """``cut`` moved back (not below ``low``) so that it does not split a run of Latin letters or digits (unless
    the run is longer)."""
    edge = cut
    while edge > low and inside_word(text, edge):
        edge -= 1
    return edge if not inside_word(text, edge) else cut


def _token_tail(text: str) -> int:
    """Where a trailing number or word still being written starts (``len(text)`` if the text ends otherwise)."""
    if not text or text[-1] == "." or not token_char(text[-1]):
        return len(text)
    i = len(text)
    while i > 0 and token_char(text[i - 1]):
        i -= 1
    return i


def _held_from(text: str) -> int:
    """Where an SSML-like span still being written starts (``len(text)`` if none): a ``<`` tag with no ``>`` yet,
    or an element whose closing tag has not come. Spans longer than :data:`MAX_SPAN_CHARS` are not held."""
    if "<" not in text:
        return len(text)
    stack: list[tuple[str, int]] = []
    for match in _TAG.finditer(text):
        closing, name, empty = match.group(1), match.group(2), match.group(3)
        if closing:
            while stack and stack.pop()[0] != name:
                pass
        elif not empty:
            stack.append((name, match.start()))
    held = stack[0][1] if stack else len(text)
    tail = _OPEN_TAG.search(text)
    if tail is not None:
        held = min(held, tail.start())
    return held if len(text) - held <= MAX_SPAN_CHARS else len(text)


__all__ = ["PAUSE_SEMICOLON", "Segmenter", "TextUnit"]
