"""Latin runs inside Mandarin text: classes (tests/fixtures/latin_runs.jsonl), the table, the lexicon, SSML."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from ttsd.errors import AssetError, InvalidMarkup
from ttsd.text.frontend import TextFrontend
from ttsd.text.g2p import G2P
from ttsd.text.latin import LatinTable, classify_text, parse_table, piece_rule
from ttsd.text.lexicon import parse_lexicon
from ttsd.text.normalize import prefix_for_grammar, spell_latin
from ttsd.text.ssml import parse_ssml
from ttsd.text.types import Budget, LatinInfo, Token

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "latin_runs.jsonl"
_UNLIMITED = Budget(limit=1 << 30, per_token=lambda token: len(token.syllables))


def _fixture() -> list[dict[str, object]]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]


def _latin_tokens(frontend: TextFrontend, source: object) -> list[Token]:
    sentences = frontend.sentences(source, budget=_UNLIMITED)  # type: ignore[arg-type]
    return [t for s in sentences for t in s.tokens if t.latin is not None]


def test_fixture_has_60_code_switched_sentences_in_four_domains() -> None:
    rows = _fixture()
    assert len(rows) >= 60
    assert set(Counter(str(r["domain"]) for r in rows)) == {"customer service", "product", "tech", "media"}
    classes = Counter(run[1] for r in rows for run in r["runs"])  # type: ignore[attr-defined]
    assert set(classes) == {"word", "acronym", "mixed", "chinese", "unit"}


def test_classification_accuracy_on_the_fixture_is_at_least_95_percent() -> None:
    table = LatinTable.load()
    right = total = 0
    for row in _fixture():
        expected = [tuple(run) for run in row["runs"]]  # type: ignore[attr-defined]
        got = classify_text(str(row["text"]), table)
        assert [run for run, _ in expected] == [run for run, _, _ in got], row["text"]  # the same runs found
        total += len(expected)
        right += sum(e[1] == g[1] for e, g in zip(expected, got, strict=True))
    assert total >= 80
    assert right / total >= 0.95, f"{right}/{total}"


@pytest.mark.parametrize(
    ("piece", "kind", "reason"),
    [
        ("A", "acronym", "one letter"),
        ("CEO", "acronym", "all capitals"),
        ("www", "acronym", "no vowel letter"),
        ("Hz", "acronym", "no vowel letter"),
        ("iPhone", "word", "letters of a word"),
        ("McDonald's", "word", "letters of a word"),
        ("email", "word", "letters of a word"),
    ],
)
def test_piece_rules(piece: str, kind: str, reason: str) -> None:
    assert piece_rule(piece) == (kind, reason)


def test_table_says_acronyms_as_words_and_keeps_chinese_letters() -> None:
    table = LatinTable.load()
    assert table.piece("NASA").info == LatinInfo("word", "table", english="NASA")
    assert table.piece("T", before="这件", after="恤是").info.kind == "chinese"
    assert table.piece("OK", before="卡拉", after="吧").info.kind == "chinese"
    assert table.piece("OK", before="我们", after="了").info == LatinInfo("word", "table", english="OK")
    assert table.piece("T", before="", after="").info.kind == "acronym"  # a lone T is a letter


def test_words_with_a_chinese_name_give_it_to_voices_without_english() -> None:
    google = G2P().read("用Google搜索")[1]
    assert google.latin == LatinInfo("word", "table", english="Google")  # Kokoro: English
    assert google.syllables == ("gu3", "ge1")  # Baker: 谷歌, not six letter names
    assert google.source == "latin"


def test_table_pinyin_must_be_valid_and_only_for_words() -> None:
    with pytest.raises(AssetError, match="line 1"):
        parse_table(["Google @word gu9"], source="t")
    with pytest.raises(AssetError, match="line 1"):
        parse_table(["CEO @letters shou3 xi2"], source="t")


def test_run_classes() -> None:
    table = LatinTable.load()
    classes = {run: kind for run, kind, _ in classify_text("iPhone15和5G，16GB的U盘，COVID-19，Wi-Fi，100km/h", table)}
    assert classes == {
        "iPhone15": "mixed", "5G": "mixed", "16GB": "unit", "U": "chinese", "COVID-19": "mixed", "Wi-Fi": "mixed",
        "100km/h": "unit",
    }  # fmt: skip


def test_bad_table_line_names_the_line() -> None:
    with pytest.raises(AssetError, match="line 2"):
        parse_table(["NASA @word", "NASA word"], source="t")


def test_user_lexicon_gives_pinyin_phonemes_or_a_class() -> None:
    lexicon = parse_lexicon(
        ["Excel ai4 ke4 sai1 er3", "Hifigan /hˈIfiɡæn/", "ASAP @word", "iPad @letters", "B站 @chinese"], source="u"
    )
    table = LatinTable.load(lexicon)
    excel = table.piece("excel")
    assert excel.pinyin == ("ai4", "ke4", "sai1", "er3")
    assert excel.info == LatinInfo("word", "lexicon")
    assert table.piece("Hifigan").info == LatinInfo("word", "lexicon", english="Hifigan", phonemes="hˈIfiɡæn")
    assert table.piece("ASAP").info == LatinInfo("word", "lexicon", english="ASAP")  # overrides the table
    assert table.piece("iPad").info == LatinInfo("acronym", "lexicon")
    assert table.piece("B", before="看", after="站").info.kind == "chinese"


@pytest.mark.parametrize(
    ("line", "message"),
    [("Excel /ɪksˈɛl", "two slashes"), ("Excel @spell", "must be one of"), ("B站 @word", "@chinese")],
)
def test_bad_latin_lexicon_lines_are_refused(line: str, message: str) -> None:
    with pytest.raises(AssetError, match=message):
        parse_lexicon([line], source="u")


def test_g2p_marks_words_for_english_and_spells_acronyms() -> None:
    readings = G2P().read("用Excel给CEO发email")
    latin = [(r.latin.kind, r.latin.english, r.source, r.syllables) for r in readings if r.latin is not None]
    assert latin == [
        ("word", "Excel", "latin", tuple(spell_latin("Excel"))),
        ("acronym", "", "latin", tuple(spell_latin("CEO"))),
        ("word", "email", "latin", tuple(spell_latin("email"))),
    ]


def test_hyphenated_pieces_are_one_word_or_split() -> None:
    readings = G2P().read("Wi-Fi和USB-C和Type-C")
    pieces = [("Wi-Fi和USB-C和Type-C"[r.start : r.end], r.latin.kind) for r in readings if r.latin is not None]
    assert pieces == [("Wi-Fi", "word"), ("USB", "acronym"), ("C", "acronym"), ("Type", "word"), ("C", "acronym")]


def test_english_ranges_force_words() -> None:
    readings = G2P().read("CEO和CEO", english=[(4, 7)])
    assert [r.latin.kind for r in readings if r.latin is not None] == ["acronym", "word"]


def test_frontend_tokens_carry_the_latin_info(text_frontend: TextFrontend) -> None:
    tokens = _latin_tokens(text_frontend, "她买了一台新的iPhone15，还有一件T恤。")
    assert [(t.text, t.latin.kind if t.latin else "") for t in tokens] == [("iPhone", "word"), ("T", "chinese")]
    assert tokens[0].syllables == tuple(spell_latin("iPhone"))  # what voices without English read


def test_ssml_lang_makes_letters_english_and_say_as_characters_spells(text_frontend: TextFrontend) -> None:
    segments = parse_ssml(
        '<speak>他是<lang xml:lang="en-US">CEO</lang>，会用<say-as interpret-as="characters">Google</say-as>。</speak>',
        max_chars=1000,
    )
    sentences = list(text_frontend.sentences(segments, budget=_UNLIMITED))
    tokens = {t.text: t for s in sentences for t in s.tokens}
    ceo = tokens["CEO"]
    assert ceo.source == "markup"
    assert ceo.latin == LatinInfo("word", "markup", english="CEO")
    google = tokens["Google"]
    assert google.source == "markup"
    assert google.latin is None
    assert google.syllables == tuple(spell_latin("Google"))


def test_ssml_lang_needs_a_language_tag() -> None:
    with pytest.raises(InvalidMarkup, match="xml:lang"):
        parse_ssml("<speak><lang>CEO</lang></speak>", max_chars=100)
    with pytest.raises(InvalidMarkup, match="not a language tag"):
        parse_ssml('<speak><lang xml:lang="english!">CEO</lang></speak>', max_chars=100)


def test_units_the_grammar_misread_are_written_out() -> None:
    assert prefix_for_grammar("电池5000mAh，频率50Hz，主频3GHz") == "电池5000毫安时，频率50赫兹，主频3吉赫"


def test_explain_shows_class_and_reason(text_frontend: TextFrontend) -> None:
    rows = [r for r in text_frontend.explain("NASA的CEO用iPhone") if r.latin]
    assert [(r.text, r.latin, r.english) for r in rows] == [
        ("NASA", "word: table", "NASA"),
        ("CEO", "acronym: all capitals", ""),
        ("iPhone", "word: letters of a word", "iPhone"),
    ]
    assert text_frontend.latin_runs("ＧＰＵ和iPhone15") == [
        ("GPU", "acronym", "all capitals"),
        ("iPhone15", "mixed", "letters and digits"),
    ]
