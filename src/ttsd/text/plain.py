"""A light front end with no normalizer and no dictionary: one token per character, read as itself.

It is what the fake voice speaks with in service tests (cheap to build, deterministic), and it shows the
:class:`~ttsd.text.types.Frontend` contract with nothing else in the way. It plans the input exactly as the
Mandarin front end does (:func:`ttsd.text.plan.plan`: sentence units, SSML breaks, prosody and voice
boundaries) and cuts over-budget sentences the same way (:func:`ttsd.text.cutting.cut_to_budget`); only the
reading differs: a character is its own "syllable", a ``<sub>`` is one token read as its alias.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ttsd.errors import TextError
from ttsd.text.cutting import unit_sentences
from ttsd.text.plan import Part, Unit, plan
from ttsd.text.types import Budgets, Segment, Sentence, Token, budget_of

_PUNCTUATION = frozenset("，。、；：！？,.;:!?…「」『』（）()“”‘’\"'《》〈〉—-~·")


def char_token(ch: str) -> Token:
    """The token of one character: punctuation is silent, anything else reads as itself."""
    if ch in _PUNCTUATION:
        return Token(text=ch, syllables=(), source="silent")
    return Token(text=ch, syllables=(ch,), source="dictionary")


class PlainFrontend:
    """See the module docstring."""

    def sentences(self, source: str | Sequence[Segment], *, budget: Budgets) -> Iterator[Sentence]:
        units = plan(source)
        if not any(t.syllables for unit in units for part in unit.parts for t in _part_tokens(part)):
            raise TextError("the text contains nothing to synthesize")
        return self._iterate(units, budget)

    def warmup(self) -> None:
        """Nothing to load."""

    def _iterate(self, units: list[Unit], budget: Budgets) -> Iterator[Sentence]:
        for unit in units:
            tokens = [t for part in unit.parts for t in _part_tokens(part)]
            yield from unit_sentences(
                tokens,
                budget=budget_of(budget, unit.voice),
                pause_after_s=unit.pause_after_s,
                prosody=unit.prosody,
                voice=unit.voice,
            )


def _part_tokens(part: Part) -> list[Token]:
    alias = part.segment.alias
    if alias is not None:
        return [Token(text=part.text, syllables=tuple(ch for ch in alias if not ch.isspace()), source="markup")]
    return [char_token(ch) for ch in part.text if not ch.isspace()]
