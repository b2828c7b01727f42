"""A light front end with no normalizer and no dictionary: one token per character, read as itself.

It is what the fake voice speaks with in service tests (cheap to build, deterministic), and it shows the
:class:`~ttsd.text.types.Frontend` contract with nothing else in the way: sentences are split at punctuation
(:func:`ttsd.text.split.split_sentences`), cut to the voice's budget, and produced lazily.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ttsd.errors import TextError
from ttsd.text.split import split_sentences, split_to_budget
from ttsd.text.types import Budget, Segment, Sentence, Token

_PUNCTUATION = frozenset("，。、；：！？,.;:!?…「」『』（）()“”‘’\"'《》〈〉—-~·")


def char_token(ch: str) -> Token:
    """The token of one character: punctuation is silent, anything else reads as itself."""
    if ch in _PUNCTUATION:
        return Token(text=ch, syllables=(), source="silent")
    return Token(text=ch, syllables=(ch,), source="dictionary")


class PlainFrontend:
    """See the module docstring. Segments are read as their text (markup instructions are ignored)."""

    def sentences(self, source: str | Sequence[Segment], *, budget: Budget) -> Iterator[Sentence]:
        text = source if isinstance(source, str) else "".join(s.alias or s.text for s in source)
        pieces = split_sentences(text)
        if not any(ch not in _PUNCTUATION for piece, _ in pieces for ch in piece):
            raise TextError("the text contains nothing to synthesize")
        return self._iterate(pieces, budget)

    def warmup(self) -> None:
        """Nothing to load."""

    def _iterate(self, pieces: list[tuple[str, float]], budget: Budget) -> Iterator[Sentence]:
        def cost(text: str) -> int:
            return budget.cost([char_token(ch) for ch in text if not ch.isspace()])

        for sentence, pause in pieces:
            cut = split_to_budget(sentence, cost=cost, budget=budget.limit)
            for k, (piece, piece_pause) in enumerate(cut):
                tokens = tuple(char_token(ch) for ch in piece if not ch.isspace())
                if tokens:
                    yield Sentence(tokens=tokens, pause_after_s=pause if k == len(cut) - 1 else piece_pause)
