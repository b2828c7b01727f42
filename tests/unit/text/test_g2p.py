"""Pinyin -> Baker symbols, polyphone fixes, lexicons, Latin letters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pypinyin import Style
from pypinyin.constants import PHRASES_DICT, PINYIN_DICT
from pypinyin.style import convert

from ttsd.errors import AssetError, TextError
from ttsd.text.g2p import G2P
from ttsd.text.lexicon import builtin_lexicon, load_lexicon, parse_lexicon
from ttsd.text.normalize import LETTER_PINYIN, spell_latin
from ttsd.text.pinyin import split_syllable, syllable_to_phones
from ttsd.text.symbols import SymbolTable


def test_syllable_split_agrees_with_the_voice_pinyin_table(symbols_path: Path) -> None:
    table = json.loads(symbols_path.read_text(encoding="utf-8"))["pinyin_dict"]
    assert len(table) > 400
    wrong = {k: (v, split_syllable(k)) for k, v in table.items() if tuple(v) != split_syllable(k)}
    assert wrong == {}


def test_every_pypinyin_reading_maps_into_the_inventory(symbols_path: Path) -> None:
    symbols = SymbolTable.load(symbols_path)
    readings = {r for value in PINYIN_DICT.values() for r in value.split(",")}
    readings |= {s for phrase in PHRASES_DICT.values() for choices in phrase for s in choices}
    for reading in readings:
        syllable = convert(reading, Style.TONE3, strict=True, neutral_tone_with_five=True)
        assert all(p in symbols for p in syllable_to_phones(syllable)), syllable


@pytest.mark.parametrize(
    ("syllable", "phones"),
    [
        ("zhong1", ("zh", "ong1")),
        ("wo3", ("^", "uo3")),
        ("yu2", ("^", "v2")),
        ("jue2", ("j", "ve2")),
        ("liu2", ("l", "iou2")),
        ("gui4", ("g", "uei4")),
        ("shi4", ("sh", "iii4")),
        ("zi5", ("z", "ii5")),
        ("de", ("d", "e5")),
        ("nar3", ("n", "a3", "er5")),
        ("er2", ("^", "er2")),
        ("n2", ("^", "en2")),
        ("lüe4", ("l", "ve4")),
    ],
)
def test_syllable_to_phones(syllable: str, phones: tuple[str, ...]) -> None:
    assert syllable_to_phones(syllable) == phones


@pytest.mark.parametrize("bad", ["", "zh", "xyz1", "ma7", "中"])
def test_invalid_syllables_raise_text_error(bad: str) -> None:
    with pytest.raises(TextError):
        syllable_to_phones(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("还钱", "huan2 qian2"),
        ("我明天还你钱", "wo3 ming2 tian1 huan2 ni3 qian2"),
        ("他还没来", "ta1 hai2 mei2 lai2"),
        ("行走", "xing2 zou3"),
        ("银行", "yin2 hang2"),
        ("长大", "zhang3 da4"),
        ("最长的河流", "zui4 chang2 de5 he2 liu2"),
        ("重复", "chong2 fu4"),
        ("重要", "zhong4 yao4"),
        ("音乐", "yin1 yue4"),
        ("快乐", "kuai4 le4"),
        ("一切都会好", "yi1 qie4 dou1 hui4 hao3"),
        ("首都会议", "shou3 du1 hui4 yi4"),
        ("耐心地回答", "nai4 xin1 de5 hui2 da2"),
        ("轻轻地放下", "qing1 qing1 de5 fang4 xia4"),
        ("地上", "di4 shang4"),
        ("各地", "ge4 di4"),
        ("好得多", "hao3 de5 duo1"),
    ],
)
def test_polyphones(g2p: G2P, text: str, expected: str) -> None:
    assert " ".join(g2p.syllables(text)) == expected


def test_bu_becomes_bu2_before_a_fourth_tone_only(g2p: G2P) -> None:
    assert g2p.syllables("不去") == ["bu2", "qu4"]
    assert g2p.syllables("不来") == ["bu4", "lai2"]
    assert g2p.syllables("不好") == ["bu4", "hao3"]


def test_erhua_is_one_syllable_with_er5(g2p: G2P) -> None:
    assert g2p.phonemes("去哪儿") == ("sil", "q", "v4", "#0", "n", "a3", "er5", "sil")


def test_phonemes_layout_matches_reference_conventions(g2p: G2P) -> None:
    assert g2p.phonemes("你好，世界。") == (
        "sil", "n", "i3", "#0", "h", "ao3", "#0", "sh", "iii4", "#0", "j", "ie4", "sil",
    )  # fmt: skip


def test_latin_letters_are_spelled_not_dropped(g2p: G2P) -> None:
    assert g2p.syllables("GPU推理") == ["ji4", "pi1", "you1", "tui1", "li3"]
    assert g2p.syllables("api") == spell_latin("API")
    assert g2p.syllables("Café") == [*spell_latin("caf"), *LETTER_PINYIN["e"]]


def test_every_letter_maps_into_the_inventory(symbols_path: Path) -> None:
    symbols = SymbolTable.load(symbols_path)
    assert set(LETTER_PINYIN) == set("abcdefghijklmnopqrstuvwxyz")
    for syllables in LETTER_PINYIN.values():
        for syllable in syllables:
            assert all(p in symbols for p in syllable_to_phones(syllable))


def test_leftover_digits_and_unknown_characters(g2p: G2P) -> None:
    assert g2p.syllables("3号") == ["san1", "hao4"]
    assert g2p.syllables("😀★々") == []
    assert g2p.phonemes("……") == ()


def test_user_lexicon_overrides_pypinyin_and_builtin(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.txt"
    path.write_text(
        "# my words\n银行 yin2 xing2  # deliberately odd\n还钱 hai2 qian2\n\n小王儿 xiao3 wangr2\niPhone ai4 feng1\n",
        encoding="utf-8",
    )
    g2p = G2P(lexicon=load_lexicon(path), builtin=builtin_lexicon())
    assert g2p.syllables("银行") == ["yin2", "xing2"]
    assert g2p.syllables("还钱") == ["hai2", "qian2"]
    assert g2p.syllables("小王儿来了") == ["xiao3", "wangr2", "lai2", "le5"]
    assert g2p.syllables("不要") == ["bu2", "yao4"]  # untouched words still get the usual rules
    assert g2p.syllables("新IPHONE") == ["xin1", "ai4", "feng1"]
    assert g2p.syllables("iPad") == spell_latin("iPad")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("银行", "no pinyin"),
        ("银行 yin2", "2 characters but 1 syllables"),
        ("银行 yin2 hxng2", "not a pinyin syllable"),
    ],
)
def test_bad_lexicon_lines_name_file_and_line(line: str, problem: str) -> None:
    with pytest.raises(AssetError, match=rf"my\.txt line 2: .*{problem}"):
        parse_lexicon(["# ok", line], source="my.txt")


def test_missing_lexicon_file_is_an_asset_error(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="cannot read lexicon"):
        load_lexicon(tmp_path / "nope.txt")


def test_builtin_table_is_valid_and_nonempty() -> None:
    table = builtin_lexicon()
    assert table["还钱"] == ("huan2", "qian2")
    assert len(table) >= 30
