"""Latin-script runs inside Mandarin text: what each one is, and how its letters are read.

A **run** is a stretch of letters and digits, possibly joined by ``- . ' + & /`` (``iPhone15``, ``Wi-Fi``,
``COVID-19``, ``100km/h``). Its class (:func:`classify_run`), in this order:

1. ``chinese``: letters that are part of a Chinese word (T恤, B超, A股, K歌, 卡拉OK): the built-in table
   (``data/latin.txt``, ``@chinese`` lines) or a user lexicon line. Read with the Mandarin letter names.
2. ``unit``: a number and a unit symbol (``16GB``, ``2kg``, ``100km/h``): the normalizer reads it (千克, 公里...).
3. ``mixed``: letters with digits, or pieces joined by ``- . + & /`` (``iPhone15``, ``5G``, ``Wi-Fi``,
   ``COVID-19``, ``USB-C``): each letter piece is read by the piece rules below, digits as numbers.
4. otherwise one piece, ``word`` or ``acronym`` by the piece rules.

A **piece** is a run of letters (with ``'`` or ``-`` inside: ``McDonald's``, ``Wi-Fi``). How it is read
(:meth:`LatinTable.piece`), first match wins:

1. the user lexicon (``TTSD_LEXICON``): pinyin (``Excel ai4 ke4 sai1 er3``: read as Mandarin by every voice),
   English phonemes (``Excel /ɪksˈɛl/``: the English reading, for voices that have English phonemes),
   ``@word`` or ``@letters`` (force the class);
2. the built-in table (``data/latin.txt``): acronyms said as words (NASA, COVID, WIFI, OK) and words spelled;
3. rules: one letter -> ``acronym``; ALL CAPITALS -> ``acronym`` (CEO, VIP, APP, GPS); no vowel letter (a e i
   o u y) -> ``acronym`` (www, pdf, Hz); anything else (``iPhone``, ``Google``, ``email``, ``PowerPoint``,
   ``McDonald's``) -> ``word``.

A ``word`` is spoken as English by voices that can (Kokoro: misaki's English phonemes) and spelled with the
Mandarin letter names by the others (Baker); an ``acronym`` is spelled with the Mandarin letter names by every
voice, as before. SSML ``<lang xml:lang="en-US">`` forces ``word`` on its letters, ``<say-as
interpret-as="characters">`` forces the letter names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

from ttsd.errors import AssetError, TextError
from ttsd.text.pinyin import syllable_to_phones
from ttsd.text.types import LatinInfo

WORD, ACRONYM, CHINESE, MIXED, UNIT = "word", "acronym", "chinese", "mixed", "unit"
CLASSES = (WORD, ACRONYM, MIXED, CHINESE, UNIT)
MARKS = {"@word": WORD, "@letters": ACRONYM, "@chinese": CHINESE}
_LETTER = "A-Za-z\u00c0-\u024f"
RUN = re.compile(rf"[{_LETTER}0-9]+(?:[-'\u2019.+&/][{_LETTER}0-9]+)*")
PIECE = re.compile(rf"[{_LETTER}]+(?:['\u2019-][{_LETTER}]+)*")
_VOWEL = re.compile(
    r"[aeiouyAEIOUY\u00c0-\u00c6\u00c8-\u00cf\u00d2-\u00d6\u00d9-\u00dd\u00e0-\u00e6\u00e8-\u00ef\u00f2-\u00f6\u00f9-\u00fd]"
)
_NUMBER_UNIT = re.compile(r"(?:\d+(?:\.\d+)?)([A-Za-z]+(?:/[A-Za-z]+)?\d?)")
_JOINERS = frozenset("-.+&/")
BUILTIN_RESOURCE = "latin.txt"
TableEntry = tuple[str, tuple[str, ...]]  # class, and pinyin for voices without English phonemes (words only)
CONTEXT = 3  # Han characters looked at on each side for a Chinese-internal entry (卡拉OK, AA制)


@dataclass(frozen=True, slots=True)
class PieceReading:
    """A piece's class and reading: ``pinyin`` from a lexicon, else English or the letter names."""

    info: LatinInfo
    pinyin: tuple[str, ...] = ()


class LatinTable:
    """The built-in table plus a user lexicon's Latin entries. Immutable; thread-safe."""

    def __init__(self, builtin: Mapping[str, TableEntry], user: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self._exact = dict(builtin)
        self._lower = {k.lower(): v for k, v in builtin.items() if k == k.lower()}
        self._chinese = frozenset(k for k, (kind, _) in builtin.items() if kind == CHINESE)
        self._units = frozenset(k for k, (kind, _) in builtin.items() if kind == UNIT)
        self._user = {k.lower(): v for k, v in (user or {}).items() if _has_latin(k)}
        self._chinese |= {k for k, v in (user or {}).items() if v == ("@chinese",)}

    @classmethod
    def load(cls, user: Mapping[str, tuple[str, ...]] | None = None) -> LatinTable:
        text = resources.files("ttsd.text").joinpath("data", BUILTIN_RESOURCE).read_text(encoding="utf-8")
        return cls(parse_table(text.splitlines(), source=f"ttsd/text/data/{BUILTIN_RESOURCE}"), user)

    def piece(self, piece: str, before: str = "", after: str = "", *, english: bool = False) -> PieceReading:
        """How ``piece`` is read, given the text just ``before`` and ``after`` it (``english``: SSML forces it)."""
        if english:
            return PieceReading(LatinInfo(WORD, "markup", english=piece))
        if self.is_chinese(piece, before, after):
            return PieceReading(LatinInfo(CHINESE, "table"))
        own = self._user.get(piece.lower())
        if own is not None:
            return _from_lexicon(piece, own)
        kind, pinyin = self._exact.get(piece) or self._lower.get(piece.lower()) or ("", ())
        if kind in (WORD, ACRONYM):
            reading = _reading(piece, kind, "table")
            return PieceReading(reading.info, pinyin=pinyin) if pinyin else reading
        kind, reason = piece_rule(piece)
        return _reading(piece, kind, reason)

    def is_chinese(self, piece: str, before: str, after: str) -> bool:
        """Whether ``piece`` belongs to a Chinese word of the table with the characters around it."""
        if not self._chinese:
            return False
        for k in range(1, CONTEXT + 1):
            if piece + after[:k] in self._chinese or before[-k:] + piece in self._chinese:
                return True
        return any(before[-i:] + piece + after[:j] in self._chinese for i in (1, 2) for j in (1, 2))

    def is_unit(self, symbol: str) -> bool:
        return symbol in self._units

    def knows(self, piece: str) -> bool:
        """Whether the lexicon or the table has ``piece`` as a whole (``Wi-Fi``: do not split it)."""
        return piece.lower() in self._user or piece in self._exact or piece.lower() in self._lower


def piece_rule(piece: str) -> tuple[str, str]:
    """The rule for a piece no table knows: (class, rule name)."""
    letters = piece.replace("-", "").replace("'", "").replace("\u2019", "")
    if len(letters) == 1:
        return ACRONYM, "one letter"
    if letters.isupper():
        return ACRONYM, "all capitals"
    if not _VOWEL.search(letters):
        return ACRONYM, "no vowel letter"
    return WORD, "letters of a word"


def classify_run(run: str, before: str, after: str, table: LatinTable) -> tuple[str, str]:
    """The class of a whole run (see the module docstring) and what decided it."""
    if table.is_chinese(run, before, after):
        return CHINESE, "table"
    has_digit = any(ch.isdigit() for ch in run)
    unit = _NUMBER_UNIT.fullmatch(run)
    if unit is not None and table.is_unit(unit.group(1)):
        return UNIT, "number and unit"
    if has_digit:
        return MIXED, "letters and digits"
    if any(ch in _JOINERS for ch in run):
        return MIXED, "joined pieces"
    reading = table.piece(run, before, after)
    return reading.info.kind, reading.info.reason


def classify_text(text: str, table: LatinTable) -> list[tuple[str, str, str]]:
    """``(run, class, what decided it)`` for every Latin run of ``text``, in order."""
    out: list[tuple[str, str, str]] = []
    for start, end in latin_runs(text):
        before, after = text[max(0, start - CONTEXT) : start], text[end : end + CONTEXT]
        out.append((text[start:end], *classify_run(text[start:end], before, after, table)))
    return out


def latin_runs(text: str) -> Iterator[tuple[int, int]]:
    """``[start, end)`` of every run of ``text`` that holds a letter."""
    for match in RUN.finditer(text):
        if any(ch.isalpha() for ch in match.group()):
            yield match.start(), match.end()


def parse_table(lines: Iterable[str], *, source: str) -> Mapping[str, TableEntry]:
    """``entry @class [pin1 yin1...]`` lines (``NASA @word``, ``Google @word gu3 ge1``, ``T恤 @chinese``,
    ``GB @unit``); ``#`` starts a comment. Pinyin after ``@word`` is what voices without English phonemes read."""
    table: dict[str, TableEntry] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        kind = {**MARKS, "@unit": UNIT}.get(parts[1]) if len(parts) >= 2 else None
        pinyin = tuple(parts[2:])
        if kind is None or (pinyin and kind != WORD) or not all(_is_syllable(p) for p in pinyin):
            raise AssetError(f"{source} line {number}: expected 'entry @word|@letters|@chinese|@unit' (pinyin "
                             "only after @word)")  # fmt: skip
        table[parts[0]] = (kind, pinyin)
    return MappingProxyType(table)


def _is_syllable(syllable: str) -> bool:
    try:
        syllable_to_phones(syllable)
    except TextError:
        return False
    return True


def _from_lexicon(piece: str, entry: tuple[str, ...]) -> PieceReading:
    if len(entry) == 1 and entry[0] in MARKS:
        return _reading(piece, MARKS[entry[0]], "lexicon")
    if len(entry) == 1 and entry[0].startswith("/"):
        return PieceReading(LatinInfo(WORD, "lexicon", english=piece, phonemes=entry[0].strip("/")))
    return PieceReading(LatinInfo(WORD, "lexicon"), pinyin=entry)


def _reading(piece: str, kind: str, reason: str) -> PieceReading:
    return PieceReading(LatinInfo(kind, reason, english=piece if kind == WORD else ""))


def _has_latin(word: str) -> bool:
    return any(ch.isascii() and ch.isalpha() for ch in word)
