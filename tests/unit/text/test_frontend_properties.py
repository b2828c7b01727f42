"""Robustness of TextFrontend.process: any text gives valid utterances or a TextError, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.text.baker_text import BakerText
from ttsd.errors import TextError
from ttsd.text.frontend import TextFrontend
from ttsd.text.split import PAUSE_CLAUSE, PAUSE_SEMICOLON, PAUSE_SENTENCE
from ttsd.text.symbols import SymbolTable
from ttsd.voices.base import Utterance

PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_MIXED = st.text(
    alphabet=st.one_of(
        st.sampled_from("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能"),
        st.sampled_from("0123456789.,:;%-/~￥$℃ ，。！？；、…“”（）\n\t"),
        st.sampled_from("ABCxyzé😀★々\x00\x07\u200b\ufeff한あ"),
    ),
    max_size=120,
)


def _check(utterances: list[Utterance], symbols: SymbolTable, budget: int) -> None:
    assert utterances
    for u in utterances:
        assert len(u.ids) <= budget
        assert u.ids[-1] == symbols.eos_id
        assert u.ids[0] == symbols.symbol_to_id["sil"]
        assert symbols.to_ids(u.phonemes) == u.ids
        assert u.pause_after_s >= 0
        assert u.text
        assert u.text.strip() == u.text


@given(text=_MIXED)
@PROPERTY_SETTINGS
def test_mixed_text_never_crashes(frontend: BakerText, symbols_path: Path, text: str) -> None:
    symbols = SymbolTable.load(symbols_path)
    try:
        utterances = frontend.process(text)
    except TextError as exc:
        message = exc.message
        assert "text" in message
        return
    _check(utterances, symbols, frontend.max_phonemes)


@given(text=st.text(max_size=80))
@PROPERTY_SETTINGS
def test_arbitrary_unicode_never_crashes(frontend: BakerText, text: str) -> None:
    try:
        utterances = frontend.process(text)
    except TextError:
        return
    assert all(u.ids for u in utterances)


@given(
    text=st.text(alphabet="天气很好我们去公园散步吧，。、", min_size=1, max_size=200),
    budget=st.integers(12, 60),
)
@pytest.mark.slow
@PROPERTY_SETTINGS
def test_budget_is_never_exceeded(symbols_path: Path, text_cache_dir: Path, text: str, budget: int) -> None:
    frontend = BakerText(TextFrontend(cache_dir=text_cache_dir), symbols_path, max_phonemes=budget)
    try:
        utterances = frontend.process(text)
    except TextError:
        return
    _check(utterances, SymbolTable.load(symbols_path), budget)


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t"])
def test_empty_text_is_a_clear_error(frontend: BakerText, text: str) -> None:
    with pytest.raises(TextError, match="empty"):
        frontend.process(text)


@pytest.mark.parametrize("text", ["😀😀", "。！？", "★ ☆ ♪", "\x00\x01"])
def test_unpronounceable_text_is_a_clear_error(frontend: BakerText, text: str) -> None:
    with pytest.raises(TextError, match="nothing pronounceable after normalization"):
        frontend.process(text)


@pytest.mark.parametrize(
    ("text", "first_syllables"),
    [
        ("GPU", "sil j i4 #0 p i1 #0 ^ iou1"),
        ("365", "sil s an1 #0 b ai3 #0 l iou4 #0 sh iii2 #0 ^ u3 sil"),
        ("hello world", "sil ^ ei1 #0 q i1"),
    ],
)
def test_latin_only_and_digits_only(frontend: BakerText, text: str, first_syllables: str) -> None:
    utterances = frontend.process(text)
    assert " ".join(utterances[0].phonemes).startswith(first_syllables)


def test_sentence_and_clause_pauses(symbols_path: Path, text_cache_dir: Path) -> None:
    frontend = BakerText(TextFrontend(cache_dir=text_cache_dir), symbols_path, max_phonemes=40)
    utterances = frontend.process("今天天气很好，我们一起去公园散步吧。先这样；好的！")
    assert [u.pause_after_s for u in utterances] == [
        PAUSE_CLAUSE,
        PAUSE_SENTENCE,
        PAUSE_SEMICOLON,
        PAUSE_SENTENCE,
    ]
    assert utterances[0].text == "今天天气很好，"


@pytest.mark.slow
def test_ten_thousand_characters(frontend: BakerText) -> None:
    text = ("今天是2024年3月5日，气温15℃，我们在10:43讨论了GPU的价格。" * 300)[:10_000]
    utterances = frontend.process(text)
    assert len(utterances) == 271  # 270 whole 37-character sentences and a cut-off one
    assert all(len(u.ids) <= frontend.max_phonemes for u in utterances)


@pytest.mark.slow
def test_ten_thousand_characters_without_punctuation(frontend: BakerText) -> None:
    utterances = frontend.process("天" * 10_000)
    assert sum((len(u.ids) - 2) // 3 for u in utterances) == 10_000  # sil + n*(2 phones + #0) - #0 + sil + eos
    assert all(len(u.ids) <= frontend.max_phonemes for u in utterances)


def test_user_lexicon_reaches_the_frontend(symbols_path: Path, text_cache_dir: Path, tmp_path: Path) -> None:
    lexicon = tmp_path / "lex.txt"
    lexicon.write_text("银行 yin2 xing2\n", encoding="utf-8")
    frontend = BakerText(TextFrontend(lexicon=lexicon, cache_dir=text_cache_dir), symbols_path)
    assert "x ing2" in " ".join(frontend.process("银行")[0].phonemes)


def test_too_small_budget_is_rejected(symbols_path: Path) -> None:
    with pytest.raises(ValueError, match="max_phonemes"):
        BakerText(TextFrontend(), symbols_path, max_phonemes=5)
