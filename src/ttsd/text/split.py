"""Sentence splitting and budget splitting. Pure Python, no normalizer, no model: cheap to import anywhere.

Two layers:

* :func:`split_open` cuts text into sentences at 。！？；… (and ASCII ``. ! ? ;`` where they end a
  sentence; ``2.5``, ``U.S.`` and ``file.txt`` stay whole) and at line breaks, gives each the pause to insert
  after it, and returns the text after the last terminator as the open start of the next sentence.
* :func:`split_to_budget` cuts one sentence further, first at ，、,：and their ASCII forms, then anywhere, so
  that every piece costs at most ``budget`` according to a caller-supplied cost function (the front end counts
  phoneme ids).
"""

from __future__ import annotations

from collections.abc import Callable

# Pause (seconds) inserted after a piece, by the punctuation that ended it.
PAUSE_SENTENCE = 0.3
PAUSE_SEMICOLON = 0.2
PAUSE_CLAUSE = 0.12
PAUSE_FORCED = 0.0  # cut in the middle of a clause: no audible pause wanted

_FULL_STOPS = frozenset("。！？!?…")
_SEMICOLONS = frozenset("；;")
_CLAUSE_MARKS = frozenset("，、,：:")
# Closing quotes and brackets belong to the sentence they close.
_CLOSERS = frozenset("”’」』）)]】》\"'")
_LINE_BREAKS = frozenset("\n\r\u2028\u2029")
# Extra room per piece over an even share when cutting a clause by force (one syllable: three ids).
_BALANCE_SLACK = 3


def split_open(text: str) -> tuple[list[tuple[str, float]], str]:
    """``(sentence, pause_after_s)`` pairs, in order, and the text after the last terminator, unstripped: the
    open start of a sentence that may go on in the next piece of input (SSML segments).

    Sentences keep their terminal punctuation and are stripped of surrounding whitespace; blank pieces are
    dropped. Concatenating the sentences and the tail gives back every non-whitespace character of ``text``."""
    result: list[tuple[str, float]] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        pause = _terminator_pause(text, i)
        if pause is None:
            i += 1
            continue
        end = _absorb_trailing(text, i + 1)
        _append(result, text[start:end], pause)
        start = i = end
    return result, text[start:]


def split_to_budget(sentence: str, *, cost: Callable[[str], int], budget: int) -> list[tuple[str, float]]:
    """Cut ``sentence`` into pieces whose ``cost`` is at most ``budget`` where possible.

    Prefers cuts after clause marks (，、：), packing consecutive clauses together while they fit; a clause
    that alone exceeds the budget is cut at character positions (never inside a run of Latin letters or
    digits when a cut elsewhere fits). The last piece gets pause 0 (the caller adds the sentence pause);
    pieces cut at a clause mark get :data:`PAUSE_CLAUSE`, forced cuts :data:`PAUSE_FORCED`. A single
    character whose cost exceeds the budget is returned alone (it cannot be cut further).
    """
    if budget < 1:
        raise ValueError("budget must be at least 1")
    sentence = sentence.strip()
    if not sentence or cost(sentence) <= budget:
        return [(sentence, 0.0)] if sentence else []
    pieces: list[tuple[str, float]] = []
    current = ""
    for clause in _clauses(sentence):
        if current and cost(current + clause) <= budget:
            current += clause
            continue
        if current:
            pieces.append((current, PAUSE_CLAUSE))
        current = ""
        clause_cost = cost(clause)
        if clause_cost <= budget:
            current = clause
        else:
            forced = _force_split(clause, cost=cost, budget=_balanced_budget(clause_cost, budget))
            pieces.extend((piece, PAUSE_FORCED) for piece in forced[:-1])
            current = forced[-1]
    pieces.append((current, 0.0))
    return [(piece.strip(), pause) for piece, pause in pieces if piece.strip()]


def _terminator_pause(text: str, i: int) -> float | None:
    """Pause if ``text[i]`` ends a sentence, else ``None``."""
    ch = text[i]
    if ch in _LINE_BREAKS:
        return PAUSE_SENTENCE
    if ch in _SEMICOLONS:
        return PAUSE_SEMICOLON
    if ch in _FULL_STOPS:
        # A run of terminators ("？！", "……") ends once, at its last character.
        nxt = text[i + 1] if i + 1 < len(text) else ""
        return None if nxt in _FULL_STOPS or nxt == "." else PAUSE_SENTENCE
    if ch == ".":
        return PAUSE_SENTENCE if _dot_ends_sentence(text, i) else None
    return None


def _dot_ends_sentence(text: str, i: int) -> bool:
    """An ASCII dot ends a sentence unless it sits inside a token (2.5, U.S.A, a.txt) or starts a run."""
    prev = text[i - 1] if i > 0 else ""
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if nxt == "." or nxt in _FULL_STOPS:
        return False  # "..." ends at its last dot
    if prev.isascii() and prev.isalnum() and nxt.isascii() and nxt.isalnum():
        return False
    return prev != ""


def _absorb_trailing(text: str, j: int) -> int:
    """Extend a sentence end over closing quotes/brackets that follow its terminator."""
    while j < len(text) and text[j] in _CLOSERS:
        j += 1
    return j


def _append(result: list[tuple[str, float]], piece: str, pause: float) -> None:
    piece = piece.strip()
    if piece:
        result.append((piece, pause))


def _clauses(sentence: str) -> list[str]:
    """Cut after every clause mark (and its closers); the marks stay with the clause they end."""
    clauses: list[str] = []
    start = 0
    for i, ch in enumerate(sentence):
        if ch in _CLAUSE_MARKS and i >= start:
            end = _absorb_trailing(sentence, i + 1)
            clauses.append(sentence[start:end])
            start = end
    if start < len(sentence):
        clauses.append(sentence[start:])
    return clauses


def _balanced_budget(total: int, budget: int) -> int:
    """Per-piece target so that a forced cut gives pieces of similar size, not full pieces and a stub."""
    pieces = -(-total // budget)
    return min(budget, -(-total // pieces) + _BALANCE_SLACK)


def _force_split(clause: str, *, cost: Callable[[str], int], budget: int) -> list[str]:
    """Greedy cut of one clause at character positions, preferring not to cut inside Latin/digit runs.

    Only prefixes of at most ``budget`` characters are costed (every spoken character costs at least one
    id), so a huge clause costs O(len/budget) calls on short strings, not repeated calls on the whole rest.
    """
    pieces: list[str] = []
    rest = clause
    while len(rest) > budget or cost(rest) > budget:
        cut = _longest_fitting_prefix(rest, cost=cost, budget=budget)
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        pieces.append(rest)
    return pieces


def _longest_fitting_prefix(text: str, *, cost: Callable[[str], int], budget: int) -> int:
    """Length of the longest prefix within budget (at least 1), moved back to a word edge if one exists."""
    lo, hi = 1, min(len(text), budget)
    # Cost is monotone in prefix length for the front end's cost (more characters, more phonemes).
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cost(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    cut = lo
    while cut > 1 and _inside_word(text, cut):
        cut -= 1
    return cut if not _inside_word(text, cut) else lo


def _inside_word(text: str, cut: int) -> bool:
    """True when cutting before ``text[cut]`` would break an ASCII token (``GPU``, ``12.5``, ``10:43``)."""
    if cut <= 0 or cut >= len(text):
        return False
    return _token_char(text[cut - 1]) and _token_char(text[cut])


def _token_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "._:/%-+~,@")


# The same rules under public names, for the incremental segmenter (:mod:`ttsd.text.incremental`), which applies
# them to text that arrives piece by piece.
FULL_STOPS = _FULL_STOPS
CLOSERS = _CLOSERS
CLAUSE_MARKS = _CLAUSE_MARKS
terminator_pause = _terminator_pause
absorb_closers = _absorb_trailing
inside_word = _inside_word
token_char = _token_char
