"""Sentence -> Kokoro phoneme string/ids/spans, checked against misaki on 36 sentences
(tests/fixtures/kokoro/misaki_zh.json: misaki 0.9.4's ZHG2P() strings with the pinyin it read)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from ttsd.text.types import Sentence, Token
from ttsd.voices.kokoro.phonemizer import JiebaCutter, Phonemizer, load_vocab

FIXTURE = Path(__file__).parents[2] / "fixtures" / "kokoro" / "misaki_zh.json"


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def sentence(text: str, pinyin: Sequence[str]) -> Sentence:
    """One token per character, as the front end writes them: Han characters read, the rest silent."""
    syllables = iter(pinyin)
    tokens = tuple(
        Token(ch, (next(syllables),), "dictionary") if _is_han(ch) else Token(ch, (), "silent") for ch in text
    )
    return Sentence(tokens)


@pytest.fixture(scope="module")
def jieba_phonemizer() -> Phonemizer:
    return Phonemizer(vocab=load_vocab(), cutter=JiebaCutter())


def test_misaki_strings_are_reproduced_from_its_pinyin(jieba_phonemizer: Phonemizer) -> None:
    cases = json.loads(FIXTURE.read_text(encoding="utf-8"))["sentences"]
    assert len(cases) >= 30
    got = {c["text"]: jieba_phonemizer(sentence(c["text"], c["pinyin"])).phonemes for c in cases}
    assert got == {c["text"]: c["misaki"] for c in cases}


def test_ids_are_padded_vocabulary_ids_and_spans_tile_them(jieba_phonemizer: Phonemizer) -> None:
    vocab = load_vocab()
    pinyin = ["wo3", "zuo2", "tian1", "mai3", "le5", "yi1", "ben3", "xin1", "shu1", "hong2", "lou2", "meng4"]
    out = jieba_phonemizer(sentence("我昨天买了一本新书：《红楼梦》。", pinyin))
    assert (out.ids[0], out.ids[-1]) == (0, 0)
    assert list(out.ids[1:-1]) == [vocab[ch] for ch in out.phonemes]
    assert len(out.spans) == 16
    assert (out.spans[0][0], out.spans[-1][1]) == (1, len(out.ids) - 1)
    assert all(a[1] == b[0] for a, b in zip(out.spans, out.spans[1:], strict=False))
    # the word space before 昨天 belongs to 昨's span; "：" -> ":" and the space before “
    assert out.phonemes[slice(*[s - 1 for s in out.spans[1]])] == " ʦwo↗"
    assert out.phonemes[slice(*[s - 1 for s in out.spans[9]])] == ": "


def test_a_fake_cutter_decides_the_word_spaces() -> None:
    def cut(text: str) -> list[str]:
        return [text[:1], text[1:]]

    phonemizer = Phonemizer(vocab=load_vocab(), cutter=cut)
    out = phonemizer(sentence("你好世界", ["ni3", "hao3", "shi4", "jie4"]))
    assert out.phonemes == "ni↓ xau↓ʂɨ↘ʨje↘"


def test_without_a_cutter_syllables_run_together_and_ends_are_stripped() -> None:
    phonemizer = Phonemizer(vocab=load_vocab())
    out = phonemizer(sentence("（你好）", ["ni3", "hao3"]))
    assert out.phonemes == "(ni↓xau↓)"
    assert out.spans == ((1, 2), (2, 5), (5, 9), (9, 10))


def test_a_multi_syllable_token_is_cut_on_its_spoken_text() -> None:
    words: list[str] = []

    def cut(text: str) -> list[str]:
        words.append(text)
        return [text[:2], text[2:]]

    number = Token("12", ("shi2", "er4"), "normalized", spoken="十二")
    tokens = (number, Token("个", ("ge4",), "dictionary"))
    out = Phonemizer(vocab=load_vocab(), cutter=cut)(Sentence(tokens))
    assert words == ["十二个"]
    assert out.phonemes == "ʂɨ↗ɚ↘ kɤ↘"


def test_characters_outside_the_vocabulary_are_dropped_from_the_ids() -> None:
    phonemizer = Phonemizer(vocab=load_vocab())
    out = phonemizer(Sentence((Token("好", ("hao3",), "dictionary"), Token("#", (), "silent"))))
    assert out.phonemes == "xau↓#"
    assert len(out.ids) == 2 + 4
    assert out.spans[1] == (5, 5)


def test_token_cost_counts_characters_and_a_word_space() -> None:
    phonemizer = Phonemizer(vocab=load_vocab())
    assert phonemizer.token_cost(Token("中", ("zhong1",), "dictionary")) == len("ꭧʊ→ŋ") + 1
    assert phonemizer.token_cost(Token("，", (), "silent")) == 2
