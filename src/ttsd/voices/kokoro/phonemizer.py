"""A front-end :class:`Sentence` -> Kokoro's phoneme string, its token ids, and per-token spans into the ids.

The string is built the way misaki's ``ZHG2P()`` (Kokoro v1.0's training front end) writes one: syllables of a
word run together, words are separated by one space, punctuation is mapped like misaki's ``map_punctuation``
(``，`` -> ``", "``, ``《`` -> ``" “"``...), and the whole string is stripped. Readings are the front end's: this
module only maps pinyin (:mod:`ttsd.voices.kokoro.pinyin_ipa`). Word boundaries come from a word cutter
(``text -> words``, jieba's in production, see :class:`JiebaCutter`) run over the spoken text of each run of
read tokens; a boundary that falls inside a token is ignored.

Latin words the front end classed as English words (``Token.latin.english``) are read by an English reader
(``word -> phonemes``, misaki's American English: :mod:`ttsd.voices.kokoro.english`), or take the phonemes a
lexicon gave; such a word is its own word (a space on each side, as misaki joins English and Mandarin segments)
and one token, so its timestamps cover it whole. Without a reader, or for acronyms, the Mandarin letter names.

Ids are the model's: ``0`` at both ends, then one id per phoneme character; characters outside the vocabulary
are dropped (as Kokoro's own tokenizer does). A token's span covers its own characters plus the space in front
of it; the ``0`` pads belong to no token.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ttsd.text.types import Sentence, Token
from ttsd.text.words import jieba_tokenizer
from ttsd.voices.kokoro.pinyin_ipa import syllable_to_ipa

PAD_ID = 0
# misaki's map_punctuation (full-width -> ASCII with the spacing it writes); anything else passes as it is.
PUNCTUATION = {
    "、": ", ", "，": ", ", "。": ". ", "．": ". ", "！": "! ", "：": ": ", "；": "; ", "？": "? ",
    "«": " “", "»": "” ", "《": " “", "》": "” ", "「": " “", "」": "” ", "【": " “", "】": "” ",
    "（": " (", "）": ") ",
}  # fmt: skip
WordCutter = Callable[[str], Sequence[str]]
EnglishReader = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Phonemized:
    """One sentence in the model's terms."""

    phonemes: str
    ids: tuple[int, ...]  # with the 0 pads
    spans: tuple[tuple[int, int], ...]  # per token of the sentence, [start, end) into ids


def load_vocab(path: Path | None = None) -> dict[str, int]:
    """Kokoro v1.0's phoneme -> id table (``data/vocab.json``, from the model's config; Apache-2.0)."""
    if path is not None:
        raw = path.read_text(encoding="utf-8")
    else:
        raw = (resources.files("ttsd.voices.kokoro") / "data" / "vocab.json").read_text(encoding="utf-8")
    table = json.loads(raw)["vocab"]
    return {str(k): int(v) for k, v in table.items()}


class Phonemizer:
    """Builds :class:`Phonemized` sentences. ``cutter=None`` puts no spaces between words; ``english=None``
    spells English words with the Mandarin letter names."""

    def __init__(
        self, *, vocab: Mapping[str, int], cutter: WordCutter | None = None, english: EnglishReader | None = None
    ) -> None:
        self._vocab = dict(vocab)
        self._cutter = cutter
        self._english = english

    def is_english(self, token: Token) -> bool:
        """Whether the token is said with English phonemes."""
        return (
            token.latin is not None
            and bool(token.latin.english)
            and (bool(token.latin.phonemes) or self._english is not None)
        )

    def token_text(self, token: Token) -> str:
        """The phoneme characters one token contributes (no inter-word space)."""
        if self.is_english(token):
            assert token.latin is not None
            if token.latin.phonemes:
                return token.latin.phonemes
            assert self._english is not None
            return self._english(token.latin.english)
        if token.syllables:
            return "".join(syllable_to_ipa(s) for s in token.syllables)
        return "".join(PUNCTUATION.get(ch, ch) for ch in token.text)

    def token_cost(self, token: Token) -> int:
        """Ids a token can take (its characters, plus one for a word space): the front end's budget unit."""
        return len(self.token_text(token)) + (1 if token.syllables else 0)

    def __call__(self, sentence: Sentence) -> Phonemized:
        pieces = self._pieces(sentence.tokens)
        _strip_ends(pieces)
        ids: list[int] = [PAD_ID]
        spans: list[tuple[int, int]] = []
        for piece in pieces:
            start = len(ids)
            ids.extend(self._vocab[ch] for ch in piece if ch in self._vocab)
            spans.append((start, len(ids)))
        ids.append(PAD_ID)
        return Phonemized("".join(pieces), tuple(ids), tuple(spans))

    def _pieces(self, tokens: Sequence[Token]) -> list[str]:
        """One string per token: its phonemes, with a leading space where a new word starts after another."""
        starts = self._word_starts(tokens)
        pieces: list[str] = []
        for i, token in enumerate(tokens):
            text = self.token_text(token)
            previous_read = i > 0 and bool(tokens[i - 1].syllables)
            english = self.is_english(token) or (i > 0 and self.is_english(tokens[i - 1]))
            if token.syllables and previous_read and (i in starts or english):
                text = " " + text
            pieces.append(text)
        return pieces

    def _word_starts(self, tokens: Sequence[Token]) -> set[int]:
        """Indices of read tokens that begin a word (according to the cutter), run by run of read tokens; an
        English word ends a run (misaki cuts the Mandarin text between English segments on its own)."""
        if self._cutter is None:
            return set()
        starts: set[int] = set()
        run: list[int] = []
        for i, token in enumerate([*tokens, Token("", (), "silent")]):
            if token.syllables and not self.is_english(token):
                run.append(i)
                continue
            if run:
                starts |= self._cut_run(tokens, run)
            run = []
        return starts

    def _cut_run(self, tokens: Sequence[Token], run: Sequence[int]) -> set[int]:
        offsets: dict[int, int] = {}
        text = ""
        for i in run:
            offsets[len(text)] = i
            text += tokens[i].spoken or tokens[i].text
        starts: set[int] = set()
        position = 0
        for word in self._cutter(text) if self._cutter is not None else ():
            if position in offsets:
                starts.add(offsets[position])
            position += len(word)
        return starts


class JiebaCutter:
    """jieba's precise-mode word cut (what misaki uses), on the process's one jieba tokenizer
    (:func:`ttsd.text.words.jieba_tokenizer`, shared with the front end), loaded on first use."""

    def __init__(self, *, cache_dir: Path | None = None) -> None:
        self._cache_dir = cache_dir
        self._tokenizer: Any = None

    def __call__(self, text: str) -> Sequence[str]:
        if self._tokenizer is None:
            self._tokenizer = jieba_tokenizer(self._cache_dir)
        return list(self._tokenizer.cut(text, HMM=True))


def _strip_ends(pieces: list[str]) -> None:
    """misaki strips the mapped text: drop leading spaces of the first pieces and trailing ones of the last."""
    for i, piece in enumerate(pieces):
        pieces[i] = piece.lstrip()
        if pieces[i]:
            break
    for i in range(len(pieces) - 1, -1, -1):
        pieces[i] = pieces[i].rstrip()
        if pieces[i]:
            break
