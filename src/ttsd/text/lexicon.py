"""Pronunciation lexicons: ``word pin1 yin1`` per line, UTF-8, ``#`` starts a comment.

Each syllable is TONE3 pinyin (``zhong1``; no digit = neutral tone). A word has one syllable per character,
except erhua: a syllable ending in ``r`` (``nar3``) covers its character and the 儿 after it, so
``哪儿 nar3`` is valid. A word of Latin letters (matched ignoring case, see :mod:`ttsd.text.latin`) takes
one of:

* pinyin, any number of syllables (``iPhone ai4 feng1``): every voice reads it as Mandarin;
* English phonemes between slashes, in misaki's notation (``Excel /ɪksˈɛl/``): voices with English phonemes
  (Kokoro) say them, the others spell the word;
* ``@word`` (say it as an English word), ``@letters`` (spell it with the Mandarin letter names).

A word mixing letters and Chinese characters may be marked ``@chinese`` (``B站 @chinese``: the letter is part of
a Chinese word). Invalid lines raise :class:`ttsd.errors.AssetError` naming the file and line.

The package ships a small table of phrase fixes (``data/polyphones.txt``); a user lexicon overrides
both it and pypinyin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from ttsd.errors import AssetError, TextError
from ttsd.text.pinyin import syllable_to_phones

Lexicon = Mapping[str, tuple[str, ...]]
BUILTIN_RESOURCE = "polyphones.txt"


def load_lexicon(path: Path) -> Lexicon:
    """Read a user lexicon file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AssetError(f"cannot read lexicon {path}: {exc}") from exc
    return parse_lexicon(text.splitlines(), source=str(path))


def builtin_lexicon() -> Lexicon:
    """The phrase fixes shipped with the package."""
    text = resources.files("ttsd.text").joinpath("data", BUILTIN_RESOURCE).read_text(encoding="utf-8")
    return parse_lexicon(text.splitlines(), source=f"ttsd/text/data/{BUILTIN_RESOURCE}")


def parse_lexicon(lines: Iterable[str], *, source: str) -> Lexicon:
    """Parse lexicon lines; later lines override earlier ones for the same word."""
    entries: dict[str, tuple[str, ...]] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip().lstrip("\ufeff")
        if not line:
            continue
        word, *syllables = line.split()
        if is_latin_word(word) or (syllables and syllables[0].startswith(("/", "@"))):
            reading, problem = _latin_entry(word, syllables)
        else:
            reading, problem = tuple(s.lower() for s in syllables), _check_entry(word, syllables)
        if problem:
            raise AssetError(f"{source} line {number}: {problem} (expected 'word pin1 yin1')")
        entries[word] = reading
    return MappingProxyType(entries)


def _check_entry(word: str, syllables: list[str]) -> str | None:
    if not syllables:
        return f"{word!r} has no pinyin"
    for syllable in syllables:
        try:
            syllable_to_phones(syllable)
        except TextError as exc:
            return exc.message
    covered = sum(2 if _is_erhua(s) else 1 for s in syllables)
    if covered != len(word) and not is_latin_word(word):
        return f"{word!r} has {len(word)} characters but {len(syllables)} syllables"
    return None


def _latin_entry(word: str, fields: list[str]) -> tuple[tuple[str, ...], str | None]:
    """A Latin word's reading: pinyin, ``/phonemes/`` (one field, spaces kept) or a ``@class`` mark."""
    joined = " ".join(fields)
    if joined.startswith("/"):
        if len(joined) < 3 or not joined.endswith("/") or not is_latin_word(word):
            return (), f"{word!r}: English phonemes go between two slashes, as in 'Excel /ɪksˈɛl/'"
        return (joined,), None
    if joined.startswith("@"):
        allowed = ("@word", "@letters") if is_latin_word(word) else ("@chinese",)
        if joined not in allowed:
            return (), f"{word!r}: the mark must be one of {', '.join(allowed)}"
        return (joined,), None
    return tuple(s.lower() for s in fields), _check_entry(word, fields)


def is_latin_word(word: str) -> bool:
    """Latin-letter entries (``iPhone ai4 feng1``, ``Wi-Fi @word``): matched ignoring case."""
    return word.isascii() and word.replace("-", "").replace("'", "").isalpha()


def _is_erhua(syllable: str) -> bool:
    return len(syllable_to_phones(syllable)) == 3
