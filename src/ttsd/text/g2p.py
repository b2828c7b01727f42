"""Normalized Chinese text -> TONE3 pinyin per character, each with where its reading came from.

One call of :meth:`G2P.read` reads a whole sentence piece (the model and the dictionary see its context):

1. Cut the text into runs: Chinese characters pypinyin knows, Latin words, leftover digits. Everything else
   (punctuation, emoji, symbols) is silent, exactly as in the reference front end.
2. Chinese runs are read by pypinyin in phrase mode (source ``dictionary``).
3. Polyphonic characters are read by the model (:class:`ttsd.text.polyphone.PolyphoneModel`, source
   ``model``) over the whole piece, except inside a word of pypinyin's phrase dictionary: lexicalized words
   (了解, 头发, 着急, 孩子 zi5, 觉得 de5) keep their dictionary reading, which the model, trained on
   encyclopedia sentences, often misses in everyday texts even when confident. The model decides the
   characters pypinyin reads alone, where it only has its most frequent reading.
4. Context rules (:mod:`ttsd.text.context`: 得, 地, final 吧/吗/呢/啊) and the built-in phrase fixes
   (``data/polyphones.txt``),
   source ``rule``; then the user lexicon, source ``lexicon``, leftmost-longest; then 不 sandhi (``rule``).
5. Latin pieces are classified by :mod:`ttsd.text.latin` (user lexicon, built-in table, rules): a ``word``
   carries its English form for voices that speak English and the Mandarin letter names for the others, an
   ``acronym`` the letter names, a lexicon's pinyin is read as written (``lexicon``).

Authority, highest first: user lexicon, rules, model, dictionary.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pypinyin import Style, lazy_pinyin
from pypinyin.constants import PHRASES_DICT, PINYIN_DICT
from pypinyin.seg import mmseg

from ttsd.text.context import (
    ParticleCutter,
    bu_sandhi,
    de_reading,
    final_particle,
    is_adverbial_de,
    reduplicated,
)
from ttsd.text.latin import PIECE, LatinTable, PieceReading
from ttsd.text.lexicon import Lexicon, is_latin_word
from ttsd.text.normalize import spell_latin
from ttsd.text.pinyin import syllable_to_phones
from ttsd.text.polyphone import PolyphoneModel
from ttsd.text.symbols import SIL, WORD_SEP
from ttsd.text.types import LatinInfo

_RUNS = re.compile(
    r"(?P<han>[\u3007\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+)|(?P<latin>" + PIECE.pattern + r")|(?P<digit>\d)"
)
_DIGIT_PINYIN = ("ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3")
_CONSUMED = ""  # the 儿 of an erhua syllable: covered by the syllable before it


@dataclass(frozen=True, slots=True)
class Reading:
    """The syllables read for ``text[start:end]`` (one character, an erhua pair, a Latin word, a digit)."""

    start: int
    end: int
    syllables: tuple[str, ...]
    source: str
    latin: LatinInfo | None = None


class G2P:
    """Grapheme-to-phoneme conversion for normalized Mandarin text. Thread-safe.

    ``lexicon`` (user) and ``builtin`` map words to TONE3 syllables (see :mod:`ttsd.text.lexicon`).
    ``model``: the polyphone model (``None``: dictionary readings only). ``jieba_cache_dir`` is where jieba
    keeps its dictionary cache (``None``: jieba's default); jieba is loaded lazily, only for sentences with 地.
    """

    def __init__(
        self,
        *,
        lexicon: Lexicon | None = None,
        builtin: Lexicon | None = None,
        model: PolyphoneModel | None = None,
        jieba_cache_dir: Path | None = None,
        latin: LatinTable | None = None,
    ) -> None:
        self._user = {w: s for w, s in (lexicon or {}).items() if not is_latin_word(w) and s[0][:1] not in "/@"}
        self._latin = latin if latin is not None else LatinTable.load(lexicon)
        self._builtin = dict(builtin or {})
        self._model = model
        self._jieba_cache_dir = jieba_cache_dir
        self._pos_lock = threading.Lock()
        self._pos: ParticleCutter | None = None

    @property
    def latin_table(self) -> LatinTable:
        """The Latin-letter table in use (built-in entries and the user lexicon's)."""
        return self._latin

    def read(self, text: str, *, english: Sequence[tuple[int, int]] = ()) -> list[Reading]:
        """Readings of every pronounceable unit of ``text`` in order; silent characters have none.

        ``english``: ``[start, end)`` ranges whose Latin pieces are words whatever their class (SSML ``<lang>``).
        """
        scores = self._model.scores(text) if self._model is not None else {}
        out: list[Reading] = []
        for match in _RUNS.finditer(text):
            start = match.start()
            if match.lastgroup == "han":
                for offset, chunk in _known_chunks(match.group()):
                    out.extend(self._han_chunk(chunk, start + offset, scores))
            elif match.lastgroup == "latin":
                forced = any(lo <= start < hi for lo, hi in english)
                out.extend(self._latin_piece(text, start, match.end(), forced))
            else:
                out.append(Reading(start, match.end(), (_DIGIT_PINYIN[int(match.group())],), "normalized"))
        return out

    def _latin_piece(self, text: str, start: int, end: int, forced: bool) -> list[Reading]:
        """One reading for a piece (``Wi-Fi`` whole if the table knows it or every part is a word), else one
        per hyphen-separated part."""
        piece = text[start:end]
        before, after = text[max(0, start - 3) : start], text[end : end + 3]
        if "-" in piece and not forced and not self._latin.knows(piece):
            parts = [(m.start() + start, m.end() + start) for m in re.finditer(r"[^-]+", piece)]
            readings = [
                self._latin.piece(text[lo:hi], text[max(0, lo - 3) : lo], text[hi : hi + 3]) for lo, hi in parts
            ]
            if not all(r.info.english for r in readings):
                return [_latin_reading(lo, hi, text[lo:hi], r) for (lo, hi), r in zip(parts, readings, strict=True)]
        reading = self._latin.piece(piece, before, after, english=forced)
        return [_latin_reading(start, end, piece, reading)]

    def syllables(self, text: str) -> list[str]:
        """TONE3 pinyin of every pronounceable unit of ``text``, in order (erhua as one ``...r`` syllable)."""
        return [s for r in self.read(text) for s in r.syllables]

    def phonemes(self, text: str) -> tuple[str, ...]:
        """Baker phones of ``text`` (``sil ... sil``); the empty tuple if nothing in it is pronounceable."""
        syllables = self.syllables(text)
        if not syllables:
            return ()
        phones = [SIL]
        for index, syllable in enumerate(syllables):
            if index:
                phones.append(WORD_SEP)
            phones.extend(syllable_to_phones(syllable))
        phones.append(SIL)
        return tuple(phones)

    def _han_chunk(self, chunk: str, origin: int, scores: dict[int, dict[str, float]]) -> list[Reading]:
        syllables, sources = self._read_chunk(chunk, origin, scores)
        out: list[Reading] = []
        for i, (syllable, source) in enumerate(zip(syllables, sources, strict=True)):
            if syllable == _CONSUMED and out:
                last = out[-1]
                out[-1] = Reading(last.start, origin + i + 1, last.syllables, last.source)
            elif syllable != _CONSUMED:
                out.append(Reading(origin + i, origin + i + 1, (syllable,), source))
        return out

    def _read_chunk(self, chunk: str, origin: int, scores: dict[int, dict[str, float]]) -> tuple[list[str], list[str]]:
        """One syllable per character (``_CONSUMED`` for the 儿 of erhua) and its source."""
        syllables = _pypinyin(chunk)
        sources = ["dictionary"] * len(chunk)
        phrase = _in_phrase(chunk)
        for i in range(len(chunk)):
            found = scores.get(origin + i)
            if found and not (phrase[i] and syllables[i] in found):
                syllables[i], sources[i] = max(found, key=found.__getitem__), "model"
        self._context_rules(chunk, syllables, sources, phrase)
        _apply(chunk, self._builtin, syllables, sources, "rule", taken=[False] * len(chunk))
        taken = [False] * len(chunk)
        user = _apply(chunk, self._user, syllables, sources, "lexicon", taken=taken)
        for i in bu_sandhi(chunk, syllables, frozen=user):
            sources[i] = "rule"
        return syllables, sources

    def _context_rules(self, chunk: str, syllables: list[str], sources: list[str], phrase: list[bool]) -> None:
        for i, ch in enumerate(chunk):
            found = de_reading(chunk, i, in_phrase=phrase[i]) if ch == "得" else final_particle(chunk, i)
            if found is not None and found != syllables[i]:
                syllables[i], sources[i] = found, "rule"
        if "地" in chunk:
            start, previous = 0, ""
            for word, flag in self._pos_cut(chunk):
                end = start + len(word)
                if word.endswith("地") and is_adverbial_de(word, flag, previous=previous):
                    syllables[end - 1], sources[end - 1] = "de5", "rule"
                elif word.startswith("地") and reduplicated(previous):  # jieba's HMM glued 地 to the verb
                    syllables[start], sources[start] = "de5", "rule"
                start, previous = end, word

    def _pos_cut(self, text: str) -> list[tuple[str, str]]:
        with self._pos_lock:
            if self._pos is None:
                self._pos = ParticleCutter(self._jieba_cache_dir)
            return self._pos.cut(text)


def _latin_reading(start: int, end: int, piece: str, reading: PieceReading) -> Reading:
    info = reading.info
    source = info.reason if info.reason in ("lexicon", "markup") else "latin"
    return Reading(start, end, reading.pinyin or tuple(spell_latin(piece)), source, info)


def _known_chunks(run: str) -> list[tuple[int, str]]:
    """Split a run of CJK characters at characters pypinyin has no reading for (they are silent)."""
    chunks: list[tuple[int, str]] = []
    start = None
    for i, ch in enumerate(run):
        if ord(ch) in PINYIN_DICT:
            start = i if start is None else start
        elif start is not None:
            chunks.append((start, run[start:i]))
            start = None
    if start is not None:
        chunks.append((start, run[start:]))
    return chunks


def _in_phrase(chunk: str) -> list[bool]:
    """Per character: is it inside a multi-character word of pypinyin's phrase dictionary?"""
    flags: list[bool] = []
    for word in mmseg.seg.cut(chunk):
        flags.extend([len(word) > 1 and word in PHRASES_DICT] * len(word))
    return flags if len(flags) == len(chunk) else [False] * len(chunk)


def _pypinyin(chunk: str) -> list[str]:
    syllables: list[str] = lazy_pinyin(chunk, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")
    if len(syllables) != len(chunk):  # should not happen for known characters; read them one by one then
        syllables = [_pypinyin_char(ch) for ch in chunk]
    return syllables


def _pypinyin_char(ch: str) -> str:
    found: list[str] = lazy_pinyin(ch, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")
    return found[0] if found else "e5"


def _apply(
    chunk: str,
    lexicon: dict[str, tuple[str, ...]],
    syllables: list[str],
    sources: list[str],
    source: str,
    *,
    taken: list[bool],
) -> list[bool]:
    """Leftmost-longest lexicon matches written into ``syllables``; returns (and fills) ``taken``."""
    if not lexicon:
        return taken
    longest = max(len(word) for word in lexicon)
    i = 0
    while i < len(chunk):
        for size in range(min(longest, len(chunk) - i), 0, -1):
            word = chunk[i : i + size]
            if word in lexicon:
                for j, syllable in enumerate(_spread(lexicon[word])):
                    syllables[i + j], sources[i + j], taken[i + j] = syllable, source, True
                i += size
                break
        else:
            i += 1
    return taken


def _spread(syllables: Sequence[str]) -> list[str]:
    """Per-character syllables of a lexicon entry: an erhua syllable also covers the following 儿."""
    per_char: list[str] = []
    for syllable in syllables:
        per_char.append(syllable)
        if len(syllable_to_phones(syllable)) == 3:
            per_char.append(_CONSUMED)
    return per_char
