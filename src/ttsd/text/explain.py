"""``ttsd phonemes --explain``: per token what was read and why (which source decided its reading)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ttsd.text.types import Sentence

_SOURCE_NOTES = {
    "markup": "SSML markup",
    "lexicon": "user lexicon",
    "rule": "context rule or built-in fix",
    "model": "polyphone model",
    "dictionary": "pypinyin dictionary",
    "normalized": "text normalization",
    "latin": "spelled letter by letter",
    "silent": "not read",
}


@dataclass(frozen=True, slots=True)
class ExplainRow:
    sentence: int  # index of the sentence the token is in
    text: str  # original characters
    spoken: str  # what normalization made of them ("" when unchanged)
    pinyin: str  # TONE3 syllables, space-separated
    source: str  # one of ttsd.text.types.SOURCES

    @property
    def note(self) -> str:
        return _SOURCE_NOTES.get(self.source, self.source)


def explain_rows(sentences: Iterable[Sentence]) -> list[ExplainRow]:
    rows: list[ExplainRow] = []
    for index, sentence in enumerate(sentences):
        for token in sentence.tokens:
            rows.append(ExplainRow(index, token.text, token.spoken, " ".join(token.syllables), token.source))
    return rows


def format_table(rows: Iterable[ExplainRow]) -> str:
    """A plain-text table: sentence, text, spoken, pinyin, source."""
    lines = [f"{'#':>3}  {'text':<12} {'spoken':<16} {'pinyin':<24} source"]
    for row in rows:
        if row.source == "silent" and not row.text.strip():
            continue
        lines.append(f"{row.sentence:>3}  {row.text:<12} {row.spoken:<16} {row.pinyin:<24} {row.source} ({row.note})")
    return "\n".join(lines)
