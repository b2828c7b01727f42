"""The Baker voice's view of the front end, without the model: sentences -> Baker phones and symbol ids.

What ``BakerVoice.encode`` does (:func:`ttsd.voices.baker.phones.sentence_phones`, then the symbol table),
so the front-end tests can compare against the reference front end's phone strings with no torch or weights.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ttsd.text.frontend import TextFrontend
from ttsd.text.symbols import SymbolTable
from ttsd.voices.baker.phones import baker_budget, sentence_phones
from ttsd.voices.base import Utterance


class BakerText:
    """``process(text)``: the Baker utterances of ``text`` (pure pauses folded into the sentence before)."""

    def __init__(self, frontend: TextFrontend, symbols_path: Path, *, max_phonemes: int = 160) -> None:
        if max_phonemes < 12:
            raise ValueError(f"max_phonemes must be at least 12, got {max_phonemes}")
        self.frontend = frontend
        self.symbols = SymbolTable.load(symbols_path)
        self.max_phonemes = max_phonemes

    def process(self, text: str) -> list[Utterance]:
        utterances: list[Utterance] = []
        for sentence in self.frontend.sentences(text, budget=baker_budget(self.max_phonemes)):
            if not sentence.syllables:
                if utterances and utterances[-1].pause_after_s < sentence.pause_after_s:
                    utterances[-1] = dataclasses.replace(utterances[-1], pause_after_s=sentence.pause_after_s)
                continue
            phones, spans = sentence_phones(sentence)
            utterances.append(
                Utterance(
                    text=sentence.text.strip(),
                    phonemes=phones,
                    ids=self.symbols.to_ids(phones),
                    pause_after_s=sentence.pause_after_s,
                    spans=spans,
                    sentence=sentence,
                )
            )
        return utterances
