"""Sentence splitting and budget splitting (pure Python, no normalizer)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttsd.text.split import PAUSE_CLAUSE, PAUSE_SEMICOLON, PAUSE_SENTENCE, split_open, split_to_budget


def split_sentences(text: str) -> list[tuple[str, float]]:
    """A whole text's sentences as the front end's plan cuts them (:func:`split_open`, whose open tail is the
    last sentence, with the full-stop pause, when the text ends)."""
    closed, tail = split_open(text)
    return closed + ([(tail.strip(), PAUSE_SENTENCE)] if tail.strip() else [])


def test_splits_at_chinese_terminators_with_pauses() -> None:
    got = split_sentences("你好。真的吗？太好了！先这样；然后呢……走吧")
    assert got == [
        ("你好。", PAUSE_SENTENCE),
        ("真的吗？", PAUSE_SENTENCE),
        ("太好了！", PAUSE_SENTENCE),
        ("先这样；", PAUSE_SEMICOLON),
        ("然后呢……", PAUSE_SENTENCE),
        ("走吧", PAUSE_SENTENCE),
    ]


def test_runs_of_terminators_end_one_sentence() -> None:
    assert [s for s, _ in split_sentences("什么？！不会吧。。。好")] == ["什么？！", "不会吧。。。", "好"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("价格是2.5元。明天见", ["价格是2.5元。", "明天见"]),
        ("版本v1.2.3发布了. 好的", ["版本v1.2.3发布了.", "好的"]),
        ("It works. Really!", ["It works.", "Really!"]),
        ("U.S.A is big", ["U.S.A is big"]),
        ("打开a.txt文件", ["打开a.txt文件"]),
        ("等等...然后", ["等等...", "然后"]),
    ],
)
def test_ascii_dots_end_sentences_only_outside_tokens(text: str, expected: list[str]) -> None:
    assert [s for s, _ in split_sentences(text)] == expected


def test_closing_quotes_stay_with_their_sentence() -> None:
    assert [s for s, _ in split_sentences("他说：“走吧。”我们走了。")] == ["他说：“走吧。”", "我们走了。"]


def test_line_breaks_end_sentences() -> None:
    assert [s for s, _ in split_sentences("第一行\n第二行\r\n\n第三行")] == ["第一行", "第二行", "第三行"]


@pytest.mark.parametrize("text", ["", "   ", "\n\t\n"])
def test_blank_text_gives_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


def _visible(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace())


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_sentences_keep_every_visible_character(text: str) -> None:
    pieces = split_sentences(text)
    assert _visible("".join(s for s, _ in pieces)) == _visible(text)
    assert all(s == s.strip() and s for s, _ in pieces)
    assert all(p in (PAUSE_SENTENCE, PAUSE_SEMICOLON) for _, p in pieces)


def test_budget_split_packs_clauses_and_marks_clause_pauses() -> None:
    pieces = split_to_budget("一二三，四五六，七八九十一二", cost=len, budget=8)
    assert pieces == [("一二三，四五六，", PAUSE_CLAUSE), ("七八九十一二", 0.0)]


def test_budget_split_cuts_inside_an_overlong_clause() -> None:
    pieces = split_to_budget("一二三四五六七八九十", cost=len, budget=4)
    assert [p for p, _ in pieces] == ["一二三四", "五六七八", "九十"]
    assert pieces[-1][1] == 0.0


def test_budget_split_avoids_cutting_latin_tokens() -> None:
    pieces = split_to_budget("一二三ABCD四五", cost=len, budget=6)
    assert [p for p, _ in pieces] == ["一二三", "ABCD四五"]


def test_fitting_sentence_is_returned_whole() -> None:
    assert split_to_budget("你好，世界", cost=len, budget=50) == [("你好，世界", 0.0)]


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="budget"):
        split_to_budget("你好", cost=len, budget=0)


@given(st.text(alphabet="一二三四五六七八九，、 ABC12.", min_size=1, max_size=120), st.integers(3, 30))
@settings(max_examples=150, deadline=None)
def test_budget_split_respects_budget_and_keeps_text(text: str, budget: int) -> None:
    pieces = split_to_budget(text, cost=len, budget=budget)
    assert all(len(p) <= budget for p, _ in pieces)
    assert "".join(p for p, _ in pieces).replace(" ", "") == text.replace(" ", "")


def test_forced_cuts_are_balanced_not_full_plus_stub() -> None:
    pieces = split_to_budget("一二三四五六七八九十百", cost=lambda s: 3 * len(s), budget=30)
    assert [p for p, _ in pieces] == ["一二三四五六", "七八九十百"]
