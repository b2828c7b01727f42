"""Tokens that keep the original text: the original sentence aligned with its normalized form.

``difflib`` aligns the two character by character. Equal characters map one to one (a Han character is one
token, with the source its reading came from); a changed run (``382915`` -> 三八二九一五, ``￥35.5万`` ->
三十五点五万) becomes one token with ``text`` the original, ``spoken`` the normalized text and source
``normalized``. Characters the normalizer inserted join the changed run before them. A reading that spans
several equal characters (erhua 哪儿, a Latin word) is one token; runs of silent characters (punctuation,
spaces, emoji) are one silent token.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from ttsd.text.g2p import Reading
from ttsd.text.types import Token


@dataclass(slots=True)
class _Piece:
    text: str  # original characters
    start: int  # spoken range [start, end)
    end: int
    changed: bool


def align(original: str, spoken: str) -> list[_Piece]:
    """Pieces of ``original`` with the range of ``spoken`` each one became (equal characters one by one)."""
    matcher = difflib.SequenceMatcher(None, original, spoken, autojunk=False)
    pieces: list[_Piece] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.extend(_Piece(original[i1 + k], j1 + k, j1 + k + 1, False) for k in range(i2 - i1))
        elif op == "insert" and pieces:
            last = pieces[-1]
            pieces[-1] = _Piece(last.text, last.start, j2, True)
        else:
            pieces.append(_Piece(original[i1:i2], j1, j2, True))
    if pieces and not pieces[0].text and len(pieces) > 1:  # text inserted before everything: join the next
        first, second = pieces[0], pieces[1]
        pieces[:2] = [_Piece(second.text, first.start, second.end, True)]
    return pieces


def build_tokens(original: str, spoken: str, readings: Sequence[Reading]) -> list[Token]:
    """Tokens of ``original`` given its normalized form ``spoken`` and the readings of ``spoken``."""
    owner: list[int | None] = [None] * len(spoken)
    for index, reading in enumerate(readings):
        for position in range(reading.start, reading.end):
            owner[position] = index
    tokens: list[Token] = []
    used: set[int] = set()
    group: list[_Piece] = []
    group_key: object = None
    for piece in align(original, spoken):
        if piece.changed:
            _flush(tokens, group, group_key, readings)
            group, group_key = [], None
            tokens.append(_changed_token(piece, spoken, owner, readings, used))
            continue
        found = owner[piece.start] if piece.start < len(owner) else None
        key: object = ("silent",) if found is None or (found in used and found != group_key) else found
        if group and key != group_key:
            _flush(tokens, group, group_key, readings)
            group = []
        group.append(piece)
        group_key = key
        if isinstance(key, int):
            used.add(key)
    _flush(tokens, group, group_key, readings)
    return tokens


def _changed_token(
    piece: _Piece, spoken: str, owner: list[int | None], readings: Sequence[Reading], used: set[int]
) -> Token:
    syllables: list[str] = []
    for position in range(piece.start, piece.end):
        index = owner[position]
        if index is not None and index not in used:
            used.add(index)
            syllables.extend(readings[index].syllables)
    text = spoken[piece.start : piece.end]
    if not syllables:
        return Token(text=piece.text, syllables=(), source="silent", spoken=text if text != piece.text else "")
    return Token(text=piece.text, syllables=tuple(syllables), source="normalized", spoken=text)


def _flush(tokens: list[Token], group: list[_Piece], key: object, readings: Sequence[Reading]) -> None:
    if not group:
        return
    text = "".join(p.text for p in group)
    if isinstance(key, int):
        reading = readings[key]
        tokens.append(Token(text=text, syllables=reading.syllables, source=reading.source, latin=reading.latin))
    else:
        tokens.append(Token(text=text, syllables=(), source="silent"))
