"""Subtitle cues from timestamps, and their exact SRT and WebVTT text."""

from __future__ import annotations

import pytest

from ttsd.subtitles import Cue, Timestamp, build_cues, to_srt, to_vtt

PUNCTUATION = set("。，！？；：、“”「」（）,.!?;:")


def stamps(text: str, *, step: float = 0.25, start: float = 0.0) -> list[Timestamp]:
    """One timestamp per character, ``step`` seconds each; punctuation zero-length, as the engine sends it."""
    out: list[Timestamp] = []
    t = start
    for char in text:
        if char in PUNCTUATION:
            out.append(Timestamp(char, t, t))
        else:
            out.append(Timestamp(char, t, t + step))
            t += step
    return out


def texts(cues: list[Cue]) -> list[str]:
    return [c.text for c in cues]


def test_sentences_and_clauses() -> None:
    cues = build_cues(stamps("欢迎使用中文语音合成服务。今天天气很好，我们一起去公园散步吧！"), max_chars=20)
    assert cues == [
        Cue(0.0, 3.0, "欢迎使用中文语音合成服务"),
        Cue(3.0, 7.0, "今天天气很好，我们一起去公园散步吧！"),
    ]


def test_clauses_break_when_the_line_would_be_too_long() -> None:
    cues = build_cues(stamps("今天天气很好，我们一起去公园散步吧，然后回家吃饭。"), max_chars=10)
    assert texts(cues) == ["今天天气很好", "我们一起去公园散步吧", "然后回家吃饭"]
    assert [(c.start, c.end) for c in cues] == [(0.0, 1.5), (1.5, 4.0), (4.0, 5.5)]


def test_a_long_clause_is_cut_into_even_lines_between_tokens() -> None:
    cues = build_cues(stamps("中华人民共和国国务院新闻办公室举行发布会。"), max_chars=8)
    assert texts(cues) == ["中华人民共和国", "国务院新闻办公", "室举行发布会"]
    assert all(len(c.text) <= 8 for c in cues)


def test_quotes_and_brackets_stay_with_their_clause() -> None:
    cues = build_cues(stamps("他说：“你好。”然后（笑）走了。"), max_chars=8)
    assert texts(cues) == ["他说：“你好。”", "然后（笑）走了"]


def test_latin_words_get_spaces_and_are_never_split() -> None:
    words = [
        Timestamp("Hello", 0.0, 0.4),
        Timestamp(",", 0.4, 0.4),
        Timestamp("world", 0.5, 0.9),
        Timestamp(".", 0.9, 0.9),
        Timestamp("GPU", 1.0, 1.5),
        Timestamp("加速", 1.5, 2.0),
        Timestamp("supercalifragilistic", 2.0, 3.0),
    ]
    cues = build_cues(words, max_chars=8)
    assert texts(cues) == ["Hello", "world", "GPU加速", "supercalifragilistic"]
    assert cues[-1] == Cue(2.0, 3.0, "supercalifragilistic")


def test_max_duration_breaks_a_slow_line() -> None:
    cues = build_cues(stamps("一二三四五六", step=1.0), max_chars=20, max_duration_s=3.0)
    assert cues == [Cue(0.0, 3.0, "一二三"), Cue(3.0, 6.0, "四五六")]


def test_punctuation_only_content_is_dropped_and_times_are_the_spoken_ones() -> None:
    ts = [Timestamp("，", 0.0, 0.0), *stamps("好。", start=0.5), Timestamp("。", 2.0, 2.0)]
    assert build_cues(ts) == [Cue(0.5, 0.75, "好")]
    assert build_cues([*stamps("好"), Timestamp("……", 0.25, 0.25)]) == [Cue(0.0, 0.25, "好……")]  # kept: it means
    assert build_cues([Timestamp("。", 0.0, 0.0)]) == []
    assert build_cues([]) == []


def test_sub_and_say_as_units_are_one_token() -> None:
    ts = [Timestamp("电话", 0.0, 0.5), Timestamp("13800138000", 0.5, 3.5), Timestamp("。", 3.5, 3.5)]
    assert build_cues(ts, max_chars=6) == [Cue(0.0, 0.5, "电话"), Cue(0.5, 3.5, "13800138000")]


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        build_cues([], max_chars=0)


CUES = [Cue(0.0, 1.5, "欢迎使用"), Cue(1.5, 3723.0456, "a < b & c"), Cue(3723.1, 3725.0, "两行\n文字")]


def test_srt() -> None:
    assert to_srt(CUES) == (
        "1\n00:00:00,000 --> 00:00:01,500\n欢迎使用\n\n"
        "2\n00:00:01,500 --> 01:02:03,046\na < b & c\n\n"
        "3\n01:02:03,100 --> 01:02:05,000\n两行 文字\n"
    )


def test_vtt() -> None:
    assert to_vtt(CUES) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:01.500\n欢迎使用\n\n"
        "00:00:01.500 --> 01:02:03.046\na &lt; b &amp; c\n\n"
        "01:02:03.100 --> 01:02:05.000\n两行 文字\n"
    )


def test_empty_subtitles() -> None:
    assert to_srt([]) == ""
    assert to_vtt([]) == "WEBVTT\n"


def test_round_trip_from_timestamps() -> None:
    srt = to_srt(build_cues(stamps("你好，世界。再见！"), max_chars=4))
    assert srt == (
        "1\n00:00:00,000 --> 00:00:00,500\n你好\n\n"
        "2\n00:00:00,500 --> 00:00:01,000\n世界\n\n"
        "3\n00:00:01,000 --> 00:00:01,500\n再见！\n"
    )
