"""Cut a read sentence (tokens) into pieces that fit a voice's :class:`Budget`, without reading it again.

First at clause marks (，、；：and ASCII ``, ; :``), packing consecutive clauses while they fit; a clause that
alone is over budget is cut at token boundaries into pieces of similar size. A single token over budget
(a 60-digit code, a very long Latin word) is divided by syllables, its text shared out in proportion.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ttsd.text.split import PAUSE_CLAUSE, PAUSE_FORCED
from ttsd.text.types import Budget, Prosody, Sentence, Token

_CLAUSE_MARKS = frozenset("，、；：,;:")


def cut_to_budget(tokens: Sequence[Token], budget: Budget) -> list[tuple[tuple[Token, ...], float]]:
    """``(tokens, pause_after_s)`` pieces; the last piece's pause is 0 (the caller adds the sentence's)."""
    if budget.cost(tokens) <= budget.limit:
        return [(tuple(tokens), 0.0)]
    pieces: list[tuple[tuple[Token, ...], float]] = []
    current: list[Token] = []
    for clause in _clauses(_fit_tokens(tokens, budget)):
        if current and budget.cost([*current, *clause]) <= budget.limit:
            current.extend(clause)
            continue
        if current:
            pieces.append((tuple(current), PAUSE_CLAUSE))
        current = []
        if budget.cost(clause) <= budget.limit:
            current = list(clause)
            continue
        forced = _force(clause, budget)
        pieces.extend((piece, PAUSE_FORCED) for piece in forced[:-1])
        current = list(forced[-1])
    if current:
        pieces.append((tuple(current), 0.0))
    return pieces


def _clauses(tokens: Sequence[Token]) -> list[list[Token]]:
    clauses: list[list[Token]] = [[]]
    for token in tokens:
        clauses[-1].append(token)
        if token.silent and any(ch in _CLAUSE_MARKS for ch in token.text):
            clauses.append([])
    return [c for c in clauses if c]


def _force(clause: Sequence[Token], budget: Budget) -> list[tuple[Token, ...]]:
    """Greedy cut at token boundaries aiming at pieces of similar cost (not full pieces and a stub)."""
    total = budget.cost(clause)
    room = budget.limit - budget.overhead
    count = -(-(total - budget.overhead) // max(room, 1))
    target = min(budget.limit, budget.overhead + -(-(total - budget.overhead) // max(count, 1)) + 3)
    pieces: list[tuple[Token, ...]] = []
    current: list[Token] = []
    for token in clause:
        if current and budget.cost([*current, token]) > target:
            pieces.append(tuple(current))
            current = []
        current.append(token)
    if current:
        pieces.append(tuple(current))
    return pieces


def _fit_tokens(tokens: Sequence[Token], budget: Budget) -> list[Token]:
    """Tokens with any single token over budget divided into parts that fit."""
    out: list[Token] = []
    for token in tokens:
        if token.silent or budget.cost([token]) <= budget.limit:
            out.append(token)
        else:
            out.extend(_divide(token, budget))
    return out


def _divide(token: Token, budget: Budget) -> list[Token]:
    parts: list[list[str]] = [[]]
    for syllable in token.syllables:
        candidate = Token(text=token.text, syllables=(*parts[-1], syllable), source=token.source)
        if parts[-1] and budget.cost([candidate]) > budget.limit:
            parts.append([])
        parts[-1].append(syllable)
    out: list[Token] = []
    n = len(token.syllables)
    done = 0
    for part in parts:
        lo, hi = len(token.text) * done // n, len(token.text) * (done + len(part)) // n
        done += len(part)
        spoken = token.spoken[len(token.spoken) * (done - len(part)) // n : len(token.spoken) * done // n]
        out.append(Token(text=token.text[lo:hi], syllables=tuple(part), source=token.source, spoken=spoken))
    return out


def unit_sentences(
    tokens: Sequence[Token], *, budget: Budget, pause_after_s: float, prosody: Prosody, voice: str | None
) -> Iterator[Sentence]:
    """The sentences of one planned unit: a pure pause when nothing in it is read, else its tokens cut to the
    budget, the unit's pause after the last piece (both front ends build their sentences here)."""
    if not any(t.syllables for t in tokens):
        yield Sentence(tokens=(), pause_after_s=pause_after_s, prosody=prosody, voice=voice)
        return
    pieces = cut_to_budget(tokens, budget)
    for index, (piece, pause) in enumerate(pieces):
        after = pause_after_s if index == len(pieces) - 1 else pause
        yield Sentence(tokens=piece, pause_after_s=after, prosody=prosody, voice=voice)
