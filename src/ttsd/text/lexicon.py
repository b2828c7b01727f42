"""Pronunciation lexicons: ``word pin1 yin1`` per line, UTF-8, ``#`` starts a comment.

Each syllable is TONE3 pinyin (``zhong1``; no digit = neutral tone). A word has one syllable per character,
except erhua: a syllable ending in ``r`` (``nar3``) covers its character and the 儿 after it, so
``哪儿 nar3`` is valid. A word of Latin letters may have any number of syllables
(``iPhone ai4 feng1``) and replaces letter-by-letter spelling of that whole word, ignoring case.
Invalid lines raise :class:`ttsd.errors.AssetError` naming the file and line.

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
        problem = _check_entry(word, syllables)
        if problem:
            raise AssetError(f"{source} line {number}: {problem} (expected 'word pin1 yin1')")
        entries[word] = tuple(s.lower() for s in syllables)
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


def is_latin_word(word: str) -> bool:
    """Latin-letter entries (``iPhone ai4 feng1``): any number of syllables, matched ignoring case."""
    return word.isascii() and word.isalpha()


def _is_erhua(syllable: str) -> bool:
    return len(syllable_to_phones(syllable)) == 3
