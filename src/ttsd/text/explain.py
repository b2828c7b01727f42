"""``ttsd phonemes --explain``: per token what was read and why (which source decided its reading)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ttsd.text.types import Sentence

_SOURCE_NOTES = {
    "markup": "SSML markup",
    "lexicon": "user lexicon",
    "rule": "context rule or built-in fix",
    "model": "polyphone model",
    "dictionary": "pypinyin dictionary",
    "normalized": "text normalization",
    "latin": "Latin letters: built-in rules and table",
    "silent": "not read",
}


@dataclass(frozen=True, slots=True)
class ExplainRow:
    sentence: int  # index of the sentence the token is in
    text: str  # original characters
    spoken: str  # what normalization made of them ("" when unchanged)
    pinyin: str  # TONE3 syllables, space-separated
    source: str  # one of ttsd.text.types.SOURCES
    latin: str = ""  # Latin letters: their class and what decided it ("word: letters of a word")
    english: str = ""  # the word a voice with English phonemes says in English ("" when spelled)
    phonemes: str = ""  # English phonemes a lexicon gave for it

    @property
    def note(self) -> str:
        return _SOURCE_NOTES.get(self.source, self.source)


def explain_rows(sentences: Iterable[Sentence]) -> list[ExplainRow]:
    rows: list[ExplainRow] = []
    for index, sentence in enumerate(sentences):
        for token in sentence.tokens:
            info = token.latin
            latin = f"{info.kind}: {info.reason}" if info is not None else ""
            english, phonemes = (info.english, info.phonemes) if info is not None else ("", "")
            pinyin = " ".join(token.syllables)
            rows.append(ExplainRow(index, token.text, token.spoken, pinyin, token.source, latin, english, phonemes))
    return rows


def _said(row: ExplainRow, english: Callable[[str], str] | None) -> str:
    if not row.english:
        return "the lexicon's pinyin" if row.source == "lexicon" else "Mandarin letter names"
    if row.phonemes:
        return f"English /{row.phonemes}/ (lexicon; the pinyin column by voices without English)"
    found = f" {english(row.english)}" if english is not None else ""
    return f"English{found} (the pinyin column by voices without English)"


def format_table(rows: Iterable[ExplainRow], english: Callable[[str], str] | None = None) -> str:
    """A plain-text table: sentence, text, spoken, pinyin, source; Latin runs add a line with their class
    and, when ``english`` (word -> "phonemes (source)") is given, their English phonemes."""
    lines = [f"{'#':>3}  {'text':<12} {'spoken':<16} {'pinyin':<24} source"]
    for row in rows:
        if row.source == "silent" and not row.text.strip():
            continue
        lines.append(f"{row.sentence:>3}  {row.text:<12} {row.spoken:<16} {row.pinyin:<24} {row.source} ({row.note})")
        if row.latin:
            lines.append(f"{'':>3}  {'':<12} latin: {row.latin}; said: {_said(row, english)}")
    return "\n".join(lines)
