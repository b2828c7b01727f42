"""The Mandarin text front end of the Baker voice: text -> sentence-sized :class:`Utterance` objects.

``process`` splits the text into sentences (cheap, before normalization, so the grammar only ever sees one
sentence), normalizes each, cuts any sentence whose ids would exceed ``max_phonemes`` at ，、 (then anywhere),
and converts every piece to Baker phones and ids (``eos`` appended), exactly as the reference front end lays
them out (``sil`` at both ends, ``#0`` between syllables).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

from ttsd.errors import TextError
from ttsd.text.g2p import G2P
from ttsd.text.lexicon import builtin_lexicon, load_lexicon
from ttsd.text.normalize import TextNormalizer
from ttsd.text.split import split_sentences, split_to_budget
from ttsd.text.symbols import SymbolTable
from ttsd.text.types import Budget, Segment, Sentence, Token
from ttsd.voices.base import Utterance

# The most ids one character can need (W = three syllables: sil + 6 phones + 2 #0 + sil + eos = 11).
MIN_MAX_PHONEMES = 12


class TextFrontend:
    """Text -> utterances for the Baker voice. Thread-safe; reuse one instance per process.

    * ``symbols_path``: the voice's ``baker_mapper.json``.
    * ``lexicon``: optional user lexicon (``word pin1 yin1`` lines); overrides pypinyin and built-in fixes.
    * ``max_phonemes``: most ids (``eos`` included) one utterance may have; longer sentences are cut.
    * ``cache_dir``: where the normalizer's compiled grammar and jieba's dictionary cache live
      (``None``: the user cache dir for the grammar, jieba's default for jieba).
    """

    def __init__(
        self,
        *,
        symbols_path: Path | None = None,
        lexicon: Path | None = None,
        max_phonemes: int = 160,
        cache_dir: Path | None = None,
    ) -> None:
        if max_phonemes < MIN_MAX_PHONEMES:
            raise ValueError(f"max_phonemes must be at least {MIN_MAX_PHONEMES}, got {max_phonemes}")
        self._symbols = SymbolTable.load(symbols_path) if symbols_path is not None else None
        self._max_phonemes = max_phonemes
        self._normalizer = TextNormalizer(cache_dir=cache_dir)
        self._g2p = G2P(
            lexicon=load_lexicon(lexicon) if lexicon is not None else None,
            builtin=builtin_lexicon(),
            jieba_cache_dir=Path(cache_dir) / "jieba" if cache_dir is not None else None,
        )

    @property
    def max_phonemes(self) -> int:
        return self._max_phonemes

    def warmup(self) -> None:
        """Pay one-time costs now (grammar load or build, jieba dictionary) rather than on a request."""
        self._normalizer.load()
        budget = Budget(limit=10_000, per_token=lambda t: len(t.syllables))
        list(self.sentences("2024年3月5日10:43，他耐心地回答了GPU的问题。", budget=budget))

    def normalize(self, text: str) -> str:
        """The whole text normalized (numbers, dates, units... in Chinese characters)."""
        return self._normalizer.normalize(text)

    def process(self, text: str) -> list[Utterance]:
        """Utterances in reading order; raises :class:`TextError` when nothing in ``text`` can be spoken."""
        sentences = split_sentences(text)
        if not sentences:
            raise TextError("text is empty: send at least one Chinese character, letter or digit")
        utterances: list[Utterance] = []
        for sentence, pause in sentences:
            self._add_sentence(utterances, self._normalizer.normalize(sentence).strip(), pause)
        if not utterances:
            raise TextError(
                "text contains nothing pronounceable after normalization: "
                "send Chinese characters, Latin letters or digits (emoji and symbols are not read)"
            )
        return utterances

    def sentences(self, source: str | Sequence[Segment], *, budget: Budget) -> Iterator[Sentence]:
        """Sentences cut to ``budget``, normalized and read lazily (the :class:`Frontend` contract)."""
        text = source if isinstance(source, str) else "".join(s.alias or s.text for s in source)
        pieces = split_sentences(text)
        if not pieces:
            raise TextError("text is empty: send at least one Chinese character, letter or digit")
        return self._iterate(pieces, budget)

    def _iterate(self, pieces: list[tuple[str, float]], budget: Budget) -> Iterator[Sentence]:
        def token(text: str) -> Token:
            return Token(text=text, syllables=tuple(self._g2p.syllables(text)), source="dictionary")

        produced = False
        for sentence, pause in pieces:
            normalized = self._normalizer.normalize(sentence).strip()
            cut = split_to_budget(normalized, cost=lambda t: budget.cost([token(t)]), budget=budget.limit)
            for k, (piece, piece_pause) in enumerate(cut):
                tok = token(piece)
                if tok.syllables:
                    produced = True
                    yield Sentence(tokens=(tok,), pause_after_s=pause if k == len(cut) - 1 else piece_pause)
        if not produced:
            raise TextError(
                "text contains nothing pronounceable after normalization: "
                "send Chinese characters, Latin letters or digits (emoji and symbols are not read)"
            )

    def phonemes(self, text: str) -> tuple[str, ...]:
        """Phones of already-normalized ``text`` without splitting (may exceed ``max_phonemes``)."""
        return self._g2p.phonemes(text)

    def _add_sentence(self, out: list[Utterance], sentence: str, pause: float) -> None:
        pieces = split_to_budget(sentence, cost=self._cost, budget=self._max_phonemes)
        for index, (piece, piece_pause) in enumerate(pieces):
            after = pause if index == len(pieces) - 1 else piece_pause
            phones = self._g2p.phonemes(piece)
            if phones:
                if self._symbols is None:
                    raise ValueError("process() needs the frontend built with symbols_path")
                ids = self._symbols.to_ids(phones)
                out.append(Utterance(text=piece, phonemes=phones, ids=ids, pause_after_s=after))
            elif out and out[-1].pause_after_s < after:
                # A silent piece (emoji, symbols) still ends its sentence: keep the longer pause.
                out[-1] = dataclasses.replace(out[-1], pause_after_s=after)

    def _cost(self, text: str) -> int:
        phones = self._g2p.phonemes(text)
        return len(phones) + 1 if phones else 0
