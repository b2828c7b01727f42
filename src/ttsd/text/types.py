"""Value types of the text front end, shared by every voice (they import nothing from ttsd but errors).

One front end feeds every voice: text (or SSML, parsed into :class:`Segment` objects) is normalized, split
into sentences and read as TONE3 pinyin **once**, into :class:`Sentence` objects made of :class:`Token`
objects. Only the last step, pinyin -> a model's own phonemes/ids, is per voice (``Voice.encode``).

Tokens keep the text the listener sees (``text``) next to what is read (``syllables``), so timestamps and
subtitles can show the original characters ("382915", "GPU", a ``<sub>``'s written form) with the time the
voice spent reading them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# Where a token's reading came from, in order of authority (``ttsd phonemes --explain`` shows it).
SOURCES = (
    "markup",  # SSML <phoneme> / <sub> / <say-as>
    "lexicon",  # the user lexicon (TTSD_LEXICON)
    "rule",  # an explicit context rule (得 dei3 before a verb, adverbial 地, 不/一 tone change, ...)
    "model",  # the polyphone disambiguation model
    "dictionary",  # pypinyin's phrase/character dictionary
    "normalized",  # produced by text normalization (numbers, codes, units, dates...)
    "latin",  # Latin letters classified by the built-in rules and table (ttsd.text.latin)
    "silent",  # punctuation and symbols: no syllables
)


@dataclass(frozen=True, slots=True)
class Prosody:
    """Relative prosody of a stretch of input (SSML ``<prosody>``; plain text has the defaults).

    * ``rate``: multiplies the request's speed (1.5 = 50% faster).
    * ``pitch_st``: shift in semitones, added to the request's pitch after conversion by the voice.
    * ``volume``: linear gain multiplying the request's volume.
    """

    rate: float = 1.0
    pitch_st: float = 0.0
    volume: float = 1.0


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of input with uniform reading instructions. Plain text is one ``Segment(text)``.

    * ``say_as``/``say_as_format``: SSML ``interpret-as`` (digits, telephone, cardinal, ordinal, date, time,
      currency, characters, spell-out) and ``format``; the normalizer reads ``text`` that way.
    * ``pinyin``: ``<phoneme alphabet="py">``: TONE3 syllables, one per Han character of ``text``.
    * ``alias``: ``<sub alias>``: ``alias`` is read, ``text`` is what timestamps show (one span).
    * ``prosody``/``voice``: apply to every sentence cut from this segment (a sentence never spans two
      segments with different prosody or voice).
    * ``break_after_s``: an explicit pause after this segment (``<break>``), replacing the punctuation pause.
    * ``sentence_end``: the segment closes a sentence (``</s>``, ``</p>``) even without punctuation.
    * ``lang``: SSML ``<lang xml:lang>`` (``en-US``): an English language makes its Latin letters English words.
    """

    text: str
    say_as: str | None = None
    say_as_format: str | None = None
    pinyin: tuple[str, ...] | None = None
    alias: str | None = None
    prosody: Prosody = field(default_factory=Prosody)
    voice: str | None = None
    break_after_s: float | None = None
    sentence_end: bool = False
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class LatinInfo:
    """How a token of Latin letters is read (``Token.latin``).

    * ``kind``: ``word``, ``acronym`` or ``chinese`` (the piece's class);
    * ``reason``: what decided it (``table``, ``lexicon``, ``markup`` or the rule's name);
    * ``english``: the word a voice with English phonemes reads as English (empty: read the syllables);
    * ``phonemes``: English phonemes given by a lexicon (misaki's notation; empty: the voice's own G2P).
    """

    kind: str
    reason: str
    english: str = ""
    phonemes: str = ""


@dataclass(frozen=True, slots=True)
class Token:
    """One unit of reading: a Han character (or an erhua pair), a Latin word, a normalized span (a number,
    a code, a unit, a date...), a ``<sub>``/``<say-as>`` unit, or punctuation (no syllables).

    * ``text``: the original characters this token covers (what a subtitle shows).
    * ``syllables``: TONE3 pinyin read for it (``zhong1``, ``nar3`` for erhua, ``ma5`` for the neutral tone).
    * ``source``: one of :data:`SOURCES`.
    * ``spoken``: the Chinese text actually read, when it differs from ``text`` (``三八二九一五`` for
      ``382915``); empty otherwise.
    * ``latin``: for a piece of Latin letters, its class and English form (:class:`LatinInfo`); the
      ``syllables`` are then the Mandarin letter names (or a lexicon's pinyin), what voices without English
      phonemes read.
    """

    text: str
    syllables: tuple[str, ...]
    source: str
    spoken: str = ""
    latin: LatinInfo | None = None

    @property
    def silent(self) -> bool:
        return not self.syllables


@dataclass(frozen=True, slots=True)
class Sentence:
    """One piece of work for a voice: tokens in reading order, the pause after it, its prosody and voice.

    A piece with no tokens is a pure pause (an SSML ``<break>`` with nothing around it).
    """

    tokens: tuple[Token, ...]
    pause_after_s: float = 0.0
    prosody: Prosody = field(default_factory=Prosody)
    voice: str | None = None

    @property
    def text(self) -> str:
        return "".join(t.text for t in self.tokens)

    @property
    def syllables(self) -> tuple[str, ...]:
        return tuple(s for t in self.tokens for s in t.syllables)


@dataclass(frozen=True, slots=True)
class Budget:
    """How big one sentence piece may be for a voice: ``overhead + sum(per_token(t)) <= limit``.

    The front end cuts longer sentences at ，、；： first, then at any token boundary, on already-read tokens
    (G2P runs once per piece). ``per_token`` is the voice's cost of a token (Baker: its phones and
    separators; Kokoro: its phoneme characters).
    """

    limit: int
    per_token: Callable[[Token], int]
    overhead: int = 0

    def cost(self, tokens: Sequence[Token]) -> int:
        return self.overhead + sum(self.per_token(t) for t in tokens)


Budgets = Budget | Mapping[str | None, Budget]
"""One budget for every sentence, or one per voice name (a segment's ``voice``; ``None``: the request's own)."""


def budget_of(budget: Budgets, voice: str | None) -> Budget:
    """The budget a sentence read for ``voice`` is cut to."""
    return budget if isinstance(budget, Budget) else budget[voice]


class Frontend(Protocol):
    """What the engine needs from a text front end (one per process, shared by every voice). Thread-safe."""

    def sentences(self, source: str | Sequence[Segment], *, budget: Budgets) -> Iterator[Sentence]:
        """Sentences in reading order, produced lazily (one normalized and read per ``next()``), each cut to its
        voice's budget; raises :class:`ttsd.errors.TextError` (from the first ``next()``) when nothing in
        ``source`` is pronounceable."""
        ...

    def warmup(self) -> None:
        """Pay one-time costs (grammar, dictionaries, models) now rather than on a request."""
        ...
