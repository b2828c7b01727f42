"""The incremental segmenter gives out exactly the whole text's sentence units, whatever the pieces."""

from __future__ import annotations

import itertools
import random

import pytest

from ttsd.text.incremental import Segmenter, TextUnit
from ttsd.text.plan import MAX_UNIT_CHARS, plan
from ttsd.text.split import CLOSERS, FULL_STOPS, PAUSE_CLAUSE, PAUSE_FORCED, PAUSE_SENTENCE

_SILENT_END = "".join(FULL_STOPS | CLOSERS) + "."
_ALPHABET = list("我们今天的天气很好价格是元和你") * 6 + list("0123456789") + list("abcXYZ") + [
    ".", "。", "，", "？", "！", "”", "“", " ", "\n", "；", "…", ",", "、", "：", "?", "!",
]  # fmt: skip


def whole(text: str) -> list[tuple[str, float]]:
    return [(_key("".join(p.text for p in u.parts)), u.pause_after_s) for u in plan(text)]


def streamed(pieces: list[str]) -> list[TextUnit]:
    seg = Segmenter()
    units = [u for piece in pieces for u in seg.feed(piece)]
    return units + seg.end()


def _key(text: str) -> str:
    return text.strip().rstrip(_SILENT_END + " \n\r")


def _keys(units: list[TextUnit]) -> list[tuple[str, float]]:
    return [(_key(u.text), u.pause_after_s) for u in units]


def _random_pieces(rng: random.Random, text: str) -> list[str]:
    pieces, i = [], 0
    while i < len(text):
        n = rng.choice((1, 1, 2, 3, 4, 7, 20))
        pieces.append(text[i : i + n])
        i += n
    return pieces


@pytest.mark.parametrize("seed", range(300))
def test_units_equal_the_whole_texts(seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 700)))
    assert _keys(streamed(_random_pieces(rng, text))) == whole(text)
    assert _keys(streamed(list(text))) == whole(text)


def test_a_sentence_goes_when_its_stop_arrives() -> None:
    seg = Segmenter()
    assert seg.feed("您好，") == []
    assert seg.feed("请问有什么可以帮您？") == [TextUnit("您好，请问有什么可以帮您？", PAUSE_SENTENCE)]
    assert seg.feed("！”") == []  # silent: it only joins the sentence already given out
    assert seg.feed("我") == []
    assert seg.pending == "我"


@pytest.mark.parametrize(
    ("pieces", "held"),
    [
        (["价格是2.", "5元。"], "价格是2."),  # a decimal point is not a stop
        (["Visit U.", "S. today"], "Visit U."),
        (["文件名是a.", "txt。"], "文件名是a."),
    ],
)
def test_a_dot_waits_for_the_next_character(pieces: list[str], held: str) -> None:
    seg = Segmenter()
    assert seg.feed(pieces[0]) == []
    assert seg.pending == held


def test_never_inside_a_span_still_being_written() -> None:
    seg = Segmenter()
    assert seg.feed('号码是<say-as interpret-as="telephone">138。') == []
    assert seg.feed("0013</say-as>。好") == [
        TextUnit('号码是<say-as interpret-as="telephone">138。', PAUSE_SENTENCE),
        TextUnit("0013</say-as>。", PAUSE_SENTENCE),
    ]
    assert seg.feed("的<break time") == []
    assert seg.feed('="1s"/>。') == [TextUnit('好的<break time="1s"/>。', PAUSE_SENTENCE)]


def test_flush_keeps_a_number_or_word_still_being_written() -> None:
    seg = Segmenter()
    seg.feed("您的验证码是38")
    assert seg.flush() == [TextUnit("您的验证码是", PAUSE_FORCED)]
    seg.feed("2915，")
    assert seg.flush() == [TextUnit("382915，", PAUSE_CLAUSE)]
    seg.feed("GPU ")
    assert seg.flush() == [TextUnit("GPU", PAUSE_FORCED)]
    assert seg.flush() == []


def test_a_long_sentence_goes_out_by_clauses_as_the_whole_text_cuts_it() -> None:
    clause = "我们今天的天气很好，"
    text = clause * 40 + "完。"
    seg = Segmenter()
    early = [u for ch in text[:-30] for u in seg.feed(ch)]
    assert early, "a long open sentence must not wait for its stop"
    assert _keys(early + [u for ch in text[-30:] for u in seg.feed(ch)] + seg.end()) == whole(text)


def test_the_length_limit_cuts_outside_words() -> None:
    text = ("我们" * 150 + "abcdefghij") * 3
    seg = Segmenter()
    units = [u for ch in text for u in seg.feed(ch)] + seg.end()
    assert all(len(u.text) <= 2 * MAX_UNIT_CHARS for u in units)
    assert "".join(u.text for u in units) == text
    for a, b in itertools.pairwise(units):
        assert not (a.text[-1].isascii() and b.text[0].isascii()), (a.text[-5:], b.text[:5])


def test_cost_is_proportional_to_new_text() -> None:
    seg = Segmenter()
    for _ in range(20_000):  # one character at a time, no stop: must stay fast (the length limit cuts)
        seg.feed("好")
    assert len(seg.pending) <= 2 * MAX_UNIT_CHARS + 1


@pytest.mark.timeout(10)  # a hang guard: cutting is linear in the text (a quadratic cut takes minutes here)
def test_one_huge_message_is_cut_at_the_length_limit() -> None:
    text = "好" * 100_000 + "abc " * 20_000
    seg = Segmenter()
    units = seg.feed(text)
    assert len(seg.pending) <= 2 * MAX_UNIT_CHARS
    assert all(len(u.text) <= MAX_UNIT_CHARS for u in units)
    kept = "".join(u.text for u in units) + seg.pending
    assert "".join(kept.split()) == "".join(text.split())
