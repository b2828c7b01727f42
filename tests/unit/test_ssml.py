"""SSML -> Segments: each supported element, value mappings, whitespace, and the errors a user sees."""

from __future__ import annotations

import logging
import math

import pytest

from ttsd.errors import InvalidMarkup, TextError, TextTooLong
from ttsd.text.ssml import is_ssml, parse_ssml
from ttsd.text.types import Prosody, Segment


def parse(markup: str, **kwargs: object) -> list[Segment]:
    return parse_ssml(markup, max_chars=500, **kwargs)  # type: ignore[arg-type]


def error_of(markup: str, **kwargs: object) -> InvalidMarkup:
    with pytest.raises(InvalidMarkup) as caught:
        parse(markup, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<speak>你好</speak>", True),
        ("  \n\ufeff<speak version='1.0'>", True),
        ('<?xml version="1.0" encoding="utf-8"?>\n<speak>', True),
        ("<speak/>", True),
        ("<speaker>你好</speaker>", False),
        ("你好<speak>", False),
        ("<p>你好</p>", False),
        ("", False),
    ],
)
def test_is_ssml(text: str, expected: bool) -> None:
    assert is_ssml(text) is expected


def test_plain_document_is_one_sentence_segment() -> None:
    markup = '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="zh-CN">你好，世界。</speak>'
    assert parse(markup) == [Segment("你好，世界。", sentence_end=True)]


def test_paragraphs_and_sentences_end_sentences() -> None:
    segments = parse("<speak><p><s>第一句</s><s>第二句</s></p><p>第三段</p></speak>")
    assert segments == [
        Segment("第一句", sentence_end=True),
        Segment("第二句", sentence_end=True),
        Segment("第三段", sentence_end=True),
    ]


def test_text_before_a_block_ends_its_sentence() -> None:
    segments = parse("<speak>引言<p>正文</p>结尾<s>一句</s></speak>")
    assert [(s.text, s.sentence_end) for s in segments] == [
        ("引言", True),
        ("正文", True),
        ("结尾", True),
        ("一句", True),
    ]


def test_whitespace_collapses_like_a_browser_and_cjk_needs_no_space() -> None:
    markup = "<speak>\n  今天\n  天气很好，\n  we   walk\t in  the park 。\n</speak>"
    assert [s.text for s in parse(markup)] == ["今天天气很好，we walk in the park。"]


def test_space_between_elements_is_kept_once() -> None:
    markup = '<speak>read <sub alias="World Health Organization">WHO</sub> now</speak>'
    assert [s.text for s in parse(markup)] == ["read ", "WHO", " now"]


@pytest.mark.parametrize(
    ("attribute", "seconds"),
    [
        ('time="500ms"', 0.5),
        ('time="1.25s"', 1.25),
        ('time="0ms"', 0.0),
        ('time="10s"', 10.0),
        ('time="15 ms"', 0.015),
        ('strength="none"', 0.0),
        ('strength="x-weak"', 0.25),
        ('strength="weak"', 0.5),
        ('strength="medium"', 0.75),
        ('strength="strong"', 1.0),
        ('strength="x-strong"', 1.25),
        ("", 0.75),
        ('time="300ms" strength="x-strong"', 0.3),  # time wins
    ],
)
def test_break_values(attribute: str, seconds: float) -> None:
    segments = parse(f"<speak>前面<break {attribute}/>后面</speak>")
    assert segments == [Segment("前面", break_after_s=seconds), Segment("后面", sentence_end=True)]


def test_leading_and_consecutive_breaks() -> None:
    segments = parse('<speak><break time="200ms"/>开始<break time="100ms"/><break time="50ms"/></speak>')
    assert segments == [Segment("", break_after_s=0.2), Segment("开始", break_after_s=0.15, sentence_end=True)]


def test_a_document_of_only_a_pause_is_a_pause() -> None:
    assert parse('<speak><break time="1s"/></speak>') == [Segment("", break_after_s=1.0)]


def test_prosody_splits_a_sentence_and_nested_prosody_composes() -> None:
    markup = (
        '<speak>慢慢<prosody rate="+50%" pitch="+2st" volume="+6dB">快<prosody rate="0.5" pitch="-1st" '
        'volume="50">中</prosody>快</prosody>完。</speak>'
    )
    segments = parse(markup)
    outer = Prosody(rate=1.5, pitch_st=2.0, volume=round(10 ** (6 / 20), 6))
    inner = Prosody(rate=0.75, pitch_st=1.0, volume=round(10 ** (6 / 20) * 0.5, 6))
    assert [(s.text, s.prosody) for s in segments] == [
        ("慢慢", Prosody()),
        ("快", outer),
        ("中", inner),
        ("快", outer),
        ("完。", Prosody()),
    ]
    assert [s.sentence_end for s in segments] == [False, False, False, False, True]


def test_same_prosody_runs_merge() -> None:
    assert parse('<speak>一<prosody rate="1">二</prosody>三</speak>') == [Segment("一二三", sentence_end=True)]


@pytest.mark.parametrize(
    ("value", "rate"),
    [
        ("x-slow", 0.5),
        ("slow", 0.75),
        ("medium", 1.0),
        ("fast", 1.5),
        ("x-fast", 2.0),
        ("default", 1.0),
        ("+10%", 1.1),
        ("-20%", 0.8),
        ("80%", 0.8),
        ("0.8", 0.8),
        ("2", 2.0),
    ],
)
def test_rate_values(value: str, rate: float) -> None:
    (segment,) = parse(f'<speak><prosody rate="{value}">字</prosody></speak>')
    assert segment.prosody.rate == pytest.approx(rate)


@pytest.mark.parametrize(
    ("value", "semitones"),
    [
        ("x-low", -6.0),
        ("low", -3.0),
        ("medium", 0.0),
        ("high", 3.0),
        ("x-high", 6.0),
        ("+2st", 2.0),
        ("-1.5st", -1.5),
        ("+100%", 12.0),
        ("-50%", -12.0),
        ("+220Hz", 12.0),  # relative to the nominal 220 Hz
        ("110Hz", -12.0),
        ("-22Hz", 12 * math.log2(198 / 220)),
    ],
)
def test_pitch_values(value: str, semitones: float) -> None:
    (segment,) = parse(f'<speak><prosody pitch="{value}">字</prosody></speak>')
    assert segment.prosody.pitch_st == pytest.approx(semitones, abs=1e-6)


@pytest.mark.parametrize(
    ("value", "gain"),
    [
        ("silent", 0.0),
        ("x-soft", 0.25),
        ("soft", 0.5),
        ("medium", 1.0),
        ("loud", 1.5),
        ("x-loud", 2.0),
        ("+6dB", 10 ** (6 / 20)),
        ("-6dB", 10 ** (-6 / 20)),
        ("0dB", 1.0),
        ("50", 0.5),
        ("100", 1.0),
        ("+10", 1.1),
        ("-20%", 0.8),
    ],
)
def test_volume_values(value: str, gain: float) -> None:
    (segment,) = parse(f'<speak><prosody volume="{value}">字</prosody></speak>')
    assert segment.prosody.volume == pytest.approx(gain, abs=1e-6)


def test_say_as_phoneme_and_sub_are_units() -> None:
    markup = (
        '<speak>电话<say-as interpret-as="telephone">010-12345678</say-as>，'
        '<say-as interpret-as="date" format="ymd">2024-05-01</say-as>，'
        '我在<phoneme alphabet="py" ph="chong2 qing4">重庆</phoneme>，'
        '<sub alias="世界卫生组织">WHO</sub>。</speak>'
    )
    segments = parse(markup)
    assert segments == [
        Segment("电话"),
        Segment("010-12345678", say_as="telephone"),
        Segment("，"),
        Segment("2024-05-01", say_as="date", say_as_format="ymd"),
        Segment("，我在"),
        Segment("重庆", pinyin=("chong2", "qing4")),
        Segment("，"),
        Segment("WHO", alias="世界卫生组织"),
        Segment("。", sentence_end=True),
    ]


@pytest.mark.parametrize(
    ("interpret_as", "canonical"),
    [
        ("digits", "digits"),
        ("cardinal", "cardinal"),
        ("number", "cardinal"),
        ("ordinal", "ordinal"),
        ("currency", "currency"),
        ("characters", "characters"),
        ("spell-out", "spell-out"),
        ("number_digit", "digits"),
        ("TIME", "time"),
    ],
)
def test_say_as_kinds(interpret_as: str, canonical: str) -> None:
    (segment,) = parse(f'<speak><say-as interpret-as="{interpret_as}">12</say-as></speak>')
    assert segment.say_as == canonical


def test_phoneme_spellings_are_normalized() -> None:
    (segment,) = parse('<speak><phoneme alphabet="pinyin" ph="LÜ4 nu:3 lue4 ma5">绿女略吗</phoneme></speak>')
    assert segment.pinyin == ("lv4", "nv3", "lve4", "ma5")


def test_voice_switches_and_is_checked() -> None:
    segments = parse('<speak>甲<voice name="kokoro">乙</voice>丙</speak>', voices=["baker", "kokoro"])
    assert [(s.text, s.voice) for s in segments] == [("甲", None), ("乙", "kokoro"), ("丙", None)]
    error = error_of('<speak><voice name="nobody">乙</voice></speak>', voices=["kokoro", "baker"])
    assert "known voices: baker, kokoro" in error.message
    assert "nobody" in error.message


def test_prosody_and_voice_carry_into_units() -> None:
    (segment,) = parse('<speak><voice name="v"><prosody rate="fast"><sub alias="甲">A</sub></prosody></voice></speak>')
    assert segment == Segment("A", alias="甲", prosody=Prosody(rate=1.5), voice="v", sentence_end=True)


def test_unknown_elements_are_read_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    markup = (
        '<speak xmlns:mstts="http://www.w3.org/2001/mstts"><mstts:express-as style="cheerful">开心'
        "</mstts:express-as><emphasis>重要</emphasis><emphasis>再说</emphasis></speak>"
    )
    with caplog.at_level(logging.WARNING, logger="ttsd.text.ssml"):
        assert [s.text for s in parse(markup)] == ["开心重要再说"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2  # once per element name
    assert "<emphasis> is not supported" in messages[1]
    assert "line 1, column 107" in messages[1]
    assert "express-as" in messages[0]


def test_unknown_attributes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ttsd.text.ssml"):
        parse('<speak><prosody contour="(0%,+20Hz)" rate="fast">字</prosody></speak>')
    assert ["attribute contour of <prosody> is not supported" in r.getMessage() for r in caplog.records] == [True]


def test_comments_and_processing_instructions_are_ignored() -> None:
    assert [s.text for s in parse("<speak>前<!-- 注释 -->后<?pi x?></speak>")] == ["前后"]


def test_entities_and_character_references() -> None:
    assert [s.text for s in parse("<speak>A &amp; B &lt; C &#x4E2D;&#25991;</speak>")] == ["A & B < C 中文"]


@pytest.mark.parametrize(
    ("markup", "line", "column", "fragment"),
    [
        ("<speak>中文<prosody>abc</speak>", 1, 24, "does not match <prosody> opened at line 1, column 10"),
        ("<speak>\n  <p>未完", 2, 8, "ends inside <p> opened at line 2, column 3: add </p>"),
        ("<speak>a &nbsp; b</speak>", 1, 10, "unknown entity"),
        ("<speak>a < b</speak>", 1, 11, "write a literal < as &lt;"),
        ("<speak>a</speak>b", 1, 17, "after </speak>"),
        ("<speak>\n\n  中文\x00</speak>", 3, 5, "NUL and control characters"),
        ("<speak>中\ud800</speak>", 1, 9, "unpaired surrogate"),
        ("<p>不是speak</p>", 1, 1, "must be a <speak> element, not <p>"),
        ("<speak><speak>x</speak></speak>", 1, 8, "outermost"),
        ('<speak><break time="5 minutes"/></speak>', 1, 8, '<break time="5 minutes">: invalid time; accepted:'),
        ('<speak><break time="11s"/></speak>', 1, 8, "at most 10s"),
        ('<speak><break strength="loud"/></speak>', 1, 8, "accepted strengths: none, x-weak"),
        ("<speak><break>x</break></speak>", 1, 8, "<break> must be empty"),
        ('<speak>x<prosody rate="fastest">y</prosody></speak>', 1, 9, "x-slow, slow, medium, fast, x-fast"),
        ('<speak><prosody rate="10">y</prosody></speak>', 1, 8, "within 0.25 to 4"),
        ('<speak><prosody pitch="+50st">y</prosody></speak>', 1, 8, "within -24 to 24"),
        ('<speak><prosody pitch="-220Hz">y</prosody></speak>', 1, 8, "at or below 0 Hz"),
        ('<speak><prosody volume="150">y</prosody></speak>', 1, 8, "absolute volume is 0 to 100"),
        ('<speak><prosody volume="nan">y</prosody></speak>', 1, 8, "+6dB or -3dB"),
        (
            '<speak><prosody rate="0.4"><prosody rate="x-slow">y</prosody></prosody></speak>',
            1,
            28,
            "<prosody> inside <prosody>: the combined rate must be within 0.25 to 4 (got 0.2)",
        ),
        ('<speak><say-as interpret-as="weird">1</say-as></speak>', 1, 8, "accepted: digits, telephone, cardinal"),
        ('<speak><say-as interpret-as="date" format="yyyy">1</say-as></speak>', 1, 8, "ymd, mdy, dmy"),
        ('<speak><say-as interpret-as="cardinal" format="x">1</say-as></speak>', 1, 8, "takes no format"),
        ("<speak><say-as>1</say-as></speak>", 1, 8, "needs the attribute interpret-as"),
        ('<speak><say-as interpret-as="digits"><b>1</b></say-as></speak>', 1, 8, "may contain only text"),
        ('<speak><sub alias="x"> </sub></speak>', 1, 8, "needs the written text"),
        ('<speak><sub alias="">A</sub></speak>', 1, 8, "needs the text to read in alias"),
        ('<speak><phoneme alphabet="ipa" ph="x">重</phoneme></speak>', 1, 8, "only alphabet=py"),
        ('<speak><phoneme ph="chong qing4">重庆</phoneme></speak>', 1, 8, "'chong' needs a tone number 1-5"),
        ('<speak><phoneme ph="chóng qìng">重庆</phoneme></speak>', 1, 8, "not tone marks"),
        ('<speak><phoneme ph="xx2 qing4">重庆</phoneme></speak>', 1, 8, "'xx2' is not a Mandarin pinyin syllable"),
        ('<speak><phoneme ph="chong2">重庆</phoneme></speak>', 1, 8, "1 syllable(s) for 2 Han character(s)"),
        ('<speak><phoneme ph="a1">ABC</phoneme></speak>', 1, 8, "needs Han characters"),
        ("<speak><voice>x</voice></speak>", 1, 8, "<voice> needs the attribute name"),
        ('<speak a="1" a="2">x</speak>', 1, 14, "given twice"),
    ],
)
def test_errors_name_line_column_and_fix(markup: str, line: int, column: int, fragment: str) -> None:
    error = error_of(markup)
    assert (error.line, error.column) == (line, column)
    assert error.message.startswith(f"SSML line {line}, column {column}: ")
    assert fragment in error.message
    assert error.code == "invalid_markup"


def test_a_doctype_is_refused() -> None:
    error = error_of('<?xml version="1.0"?>\n<!DOCTYPE speak SYSTEM "file:///etc/passwd">\n<speak>x</speak>')
    assert "DTDs and entity declarations" in error.message
    assert error.line == 2


def test_columns_count_characters_not_bytes() -> None:
    error = error_of('<speak>中文中文<prosody rate="?">x</prosody></speak>')
    assert error.column == 12


def test_limits() -> None:
    with pytest.raises(TextTooLong) as text_caught:
        parse_ssml("<speak>" + "字" * 11 + "</speak>", max_chars=10)
    assert (text_caught.value.limit, text_caught.value.length) == (10, 11)
    with pytest.raises(TextTooLong) as markup_caught:
        parse_ssml("<speak>" + "<p/>" * 30 + "字</speak>", max_chars=10)
    assert markup_caught.value.limit == 100
    with pytest.raises(TextError, match="breaks add up to 20s"):
        parse('<speak><break time="10s"/><break time="10s"/></speak>', max_pause_s=15)
    with pytest.raises(TextError, match="nothing to synthesize"):
        parse("<speak>  <p> </p> </speak>")
    error = error_of("<speak>" + "<s>" * 5 + "x" + "</s>" * 5 + "</speak>", max_depth=4)
    assert "nested more than 4 deep" in error.message
    assert error.column == 17  # the fourth <s> is the fifth level


def test_invalid_markup_is_a_text_error() -> None:
    assert issubclass(InvalidMarkup, TextError)


def test_invalid_markup_is_a_422_with_its_own_code() -> None:
    from ttsd.api.errors import status_of

    error = error_of("<speak><p>")
    assert status_of(error) == 422
    assert error.code == "invalid_markup"
