"""pinyin -> Kokoro phonemes against misaki's own output (tests/fixtures/kokoro/misaki_syllables.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ttsd.errors import TextError
from ttsd.voices.kokoro.phonemizer import load_vocab
from ttsd.voices.kokoro.pinyin_ipa import syllable_to_ipa

FIXTURE = Path(__file__).parents[2] / "fixtures" / "kokoro" / "misaki_syllables.json"


def _table() -> dict[str, str]:
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return {k: v for k, v in data["syllables"].items() if v is not None}


def test_every_pypinyin_syllable_matches_misaki() -> None:
    table = _table()
    assert len(table) > 2000
    mismatches = {s: (ipa, syllable_to_ipa(s)) for s, ipa in table.items() if syllable_to_ipa(s) != ipa}
    assert mismatches == {}


def test_every_symbol_is_in_the_model_vocabulary() -> None:
    vocab = load_vocab()
    symbols = {ch for s in _table() for ch in syllable_to_ipa(s)} | {"ɚ"}
    assert symbols - set(vocab) == set()


@pytest.mark.parametrize(
    ("syllable", "ipa"),
    [
        ("zhong1", "ꭧʊ→ŋ"),
        ("nv3", "ny↓"),
        ("lu:4", "ly↘"),
        ("jue2", "ʨɥe↗"),
        ("shi5", "ʂɨ"),
        ("nar3", "na↓ɚ"),  # erhua: base syllable + a toneless r-colouring
        ("huar1", "xwa→ɚ"),
        ("er4", "ɚ↘"),
        ("ZHONG1", "ꭧʊ→ŋ"),
    ],
)
def test_spellings_the_front_end_writes(syllable: str, ipa: str) -> None:
    assert syllable_to_ipa(syllable) == ipa


@pytest.mark.parametrize("bad", ["", "xyz3", "q1", "zhv4", "hello"])
def test_something_that_is_not_pinyin_is_a_text_error(bad: str) -> None:
    with pytest.raises(TextError, match="not a pinyin syllable"):
        syllable_to_ipa(bad)
