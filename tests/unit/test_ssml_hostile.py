"""Hostile SSML: whatever comes in, the parser answers with segments or a TextError (InvalidMarkup, TextTooLong),
never another exception, never a hang, never entity expansion or file access.

The property tests run with a 5 s per-example deadline and the attack tests under pytest-timeout: both only
catch hangs and blow-ups; speed is measured by bench/ssml_parse.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttsd.errors import InvalidMarkup, TextError, TextTooLong
from ttsd.text.ssml import is_ssml, parse_ssml
from ttsd.text.types import Segment

PROPERTY = settings(max_examples=300, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
MAX_CHARS = 2000

ELEMENTS = ("p", "s", "break", "prosody", "say-as", "phoneme", "sub", "voice", "emphasis", "audio", "mark", "speak")
ATTRIBUTES = {
    "time": ("500ms", "1s", "0.05s", "-1s", "1e9s", "abc", ""),
    "strength": ("none", "weak", "x-strong", "bogus"),
    "rate": ("fast", "+10%", "-90%", "0.5", "0", "1e308", "nan", "inf", "-5", "%"),
    "pitch": ("+2st", "-24st", "+25st", "x-high", "-300Hz", "1e400Hz", "+10%", "st"),
    "volume": ("loud", "+6dB", "-1000dB", "+1000dB", "50", "101", "+10", "-200%", "dB"),
    "interpret-as": ("digits", "date", "time", "cardinal", "x"),
    "format": ("ymd", "hms24", "zz"),
    "alphabet": ("py", "ipa", "pinyin"),
    "ph": ("zhong1", "chong2 qing4", "xx9", "ni3 hao3", "", "zhōng"),
    "alias": ("世界", "", " "),
    "name": ("fake", "nobody", ""),
}
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12) | st.sampled_from(
    ["重庆", "你好", "2024-05-01", "12:30", "¥12.5", "WHO", "  ", "\n", "。", "&", "<"]
)


def check(markup: str, **kwargs: object) -> list[Segment] | TextError:
    """Parse; return the segments, or the TextError raised (anything else fails the test)."""
    error: TextError | None = None
    try:
        segments = parse_ssml(markup, max_chars=MAX_CHARS, voices=["fake"], **kwargs)  # type: ignore[arg-type]
    except TextError as exc:
        error = exc
    if error is not None:
        assert error.message
        if isinstance(error, InvalidMarkup):
            assert error.line >= 1
            assert error.column >= 1
            assert len(error.message) < 600  # a huge value is never echoed whole
        return error
    assert all(isinstance(s, Segment) for s in segments)
    for segment in segments:
        assert segment.text or segment.break_after_s is not None  # nothing empty but a pure pause
        assert "  " not in segment.text  # whitespace runs are collapsed
        assert not any(c in segment.text for c in "\t\n\r")
        assert 0.25**32 <= segment.prosody.rate <= 4.0**32
        assert segment.break_after_s is None or 0.0 <= segment.break_after_s <= 300.0
    return segments


def _element(children: list[str]) -> st.SearchStrategy[str]:
    @st.composite
    def build(draw: st.DrawFn) -> str:
        tag = draw(st.sampled_from(ELEMENTS))
        names = draw(st.lists(st.sampled_from(sorted(ATTRIBUTES)), max_size=3, unique=True))
        attrs = "".join(f" {n}={quoteattr(draw(st.sampled_from(ATTRIBUTES[n])))}" for n in names)
        if draw(st.booleans()) and not children:
            return f"<{tag}{attrs}/>"
        return f"<{tag}{attrs}>{''.join(children)}</{tag}>"

    return build()


NODES = st.recursive(
    TEXT.map(escape),
    lambda inner: st.lists(inner, max_size=4).flatmap(_element),
    max_leaves=25,
)


@PROPERTY
@given(st.text(max_size=300))
def test_arbitrary_strings(text: str) -> None:
    check(text)
    check(f"<speak>{text}</speak>")


@pytest.mark.slow
@PROPERTY
@given(st.lists(NODES, max_size=5))
def test_generated_trees(nodes: list[str]) -> None:
    check(f"<speak>{''.join(nodes)}</speak>")


@pytest.mark.slow
@PROPERTY
@given(NODES, st.data())
def test_mutated_trees(node: str, data: st.DataObject) -> None:
    markup = list(f'<speak xml:lang="zh-CN">{node}</speak>')
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(markup)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        char = data.draw(st.sampled_from(list("<>/&;\"'= \x00\x01\ufeff中a#!?[]-")))
        if action == "insert":
            markup.insert(at, char)
        elif at < len(markup):
            markup[at : at + 1] = [] if action == "delete" else [char]
    check("".join(markup))


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<speak>&lol9;</speak>"""


@pytest.mark.timeout(30)
def test_billion_laughs_is_refused() -> None:
    error = check(BILLION_LAUGHS)
    assert isinstance(error, InvalidMarkup)
    assert "DTDs and entity declarations" in error.message


@pytest.mark.parametrize(
    "markup",
    [
        "<!DOCTYPE speak><speak>你好</speak>",
        '<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY a "你好">]><speak>&a;</speak>',
        "\ufeff  <!doctype speak><speak>你好</speak>",
        '<!ENTITY a "你好">',
        BILLION_LAUGHS,
    ],
)
def test_a_declaration_at_the_start_is_markup_and_its_dtd_is_refused(markup: str) -> None:
    """An XML declaration or a DOCTYPE makes the input markup (never read aloud as text), and the DTD is refused
    with a message that says so; nothing is expanded."""
    assert is_ssml(markup)
    error = check(markup)
    assert isinstance(error, InvalidMarkup)
    if "<!DOCTYPE" in markup:
        assert "DTDs and entity declarations" in error.message
    assert "你好你好" not in error.message


def test_an_xml_declaration_alone_is_markup() -> None:
    assert is_ssml('<?xml version="1.0" encoding="UTF-8"?>\n<speak>你好</speak>')
    assert is_ssml('<?xml version="1.0"?>你好')  # then refused: not a <speak> document
    assert isinstance(check('<?xml version="1.0"?>你好'), InvalidMarkup)
    assert not is_ssml("你好<speak>")


@pytest.mark.timeout(30)
def test_external_entities_are_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET", encoding="utf-8")
    uri = secret.as_uri()
    for markup in (
        f'<!DOCTYPE speak [<!ENTITY xxe SYSTEM "{uri}">]><speak>&xxe;</speak>',
        f'<!DOCTYPE speak SYSTEM "{uri}"><speak>x</speak>',
        f'<!DOCTYPE speak [<!ENTITY % p SYSTEM "{uri}"> %p;]><speak>x</speak>',
        '<!DOCTYPE speak [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/x">]><speak>&xxe;</speak>',
    ):
        error = check(markup)
        assert isinstance(error, InvalidMarkup)
        assert "TOPSECRET" not in error.message


@pytest.mark.timeout(30)
def test_undeclared_entities_and_xinclude_are_not_expanded(tmp_path: Path) -> None:
    assert isinstance(check("<speak>&xxe;</speak>"), InvalidMarkup)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET", encoding="utf-8")
    markup = (
        '<speak xmlns:xi="http://www.w3.org/2001/XInclude">前<xi:include href="'
        + secret.as_uri()
        + '" parse="text"/>后</speak>'
    )
    segments = check(markup)
    assert isinstance(segments, list)
    assert "".join(s.text for s in segments) == "前后"


@pytest.mark.timeout(30)
def test_ten_thousand_deep_nesting() -> None:
    markup = "<speak>" + "<prosody>" * 10_000 + "深" + "</prosody>" * 10_000 + "</speak>"
    assert isinstance(check(markup), TextTooLong)  # 190 kB of markup is over the size limit first
    error = parse_error(markup, max_chars=100_000)  # with a limit that lets it through, depth stops it
    assert "nested more than 32 deep" in error.message
    unclosed = parse_error("<speak>" + "<p>" * 10_000, max_chars=100_000)
    assert "nested more than 32 deep" in unclosed.message


def parse_error(markup: str, **kwargs: object) -> InvalidMarkup:
    with pytest.raises(InvalidMarkup) as caught:
        parse_ssml(markup, **kwargs)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.timeout(30)
def test_huge_attributes_and_documents() -> None:
    huge = "9" * 1_000_000
    error = parse_error(f'<speak><prosody rate="{huge}">x</prosody></speak>', max_chars=200_000)
    assert len(error.message) < 400
    assert "…" in error.message
    alias = parse_ssml(f'<speak><sub alias="{"字" * 5000}">x</sub></speak>', max_chars=6000)
    assert alias[0].alias == "字" * 5000
    with pytest.raises(TextTooLong):
        parse_ssml(f'<speak><sub alias="{"字" * 5000}">x</sub></speak>', max_chars=1000)
    with pytest.raises(TextTooLong):
        parse_ssml("<speak>" + "字" * 1_000_000 + "</speak>", max_chars=5000)


@pytest.mark.timeout(30)
def test_many_elements_and_breaks() -> None:
    segments = parse_ssml("<speak>" + '字<break time="1ms"/>' * 4000 + "</speak>", max_chars=10_000)
    assert len(segments) == 4000
    assert sum(s.break_after_s or 0 for s in segments) == pytest.approx(4.0)
    with pytest.raises(TextError, match="breaks add up to"):
        parse_ssml("<speak>" + '<break time="10s"/>' * 31 + "</speak>", max_chars=5000)


@pytest.mark.parametrize(
    "markup",
    [
        "<speak>\x00</speak>",
        "<speak>a\x00b",
        "\x00<speak/>",
        "<speak attr='\x00'/>",
        "<speak",
        "<speak>",
        "<speak><p>",
        "<speak><p></s></speak>",
        "<speak><p><s></p></s></speak>",
        "<speak></speak></speak>",
        "<speak><![CDATA[unclosed</speak>",
        "<speak><!-- unclosed </speak>",
        "<speak>&#0;</speak>",
        "<speak>&#xD800;</speak>",
        "<speak>&#99999999;</speak>",
        '<speak xmlns:a="x" a:b="1" a:b="2"/>',
        "<a:speak>x</a:speak>",
        "<speak>\ud83d</speak>",
        "",
        " ",
    ],
)
def test_malformed_markup_is_invalid_markup(markup: str) -> None:
    assert isinstance(check(markup), InvalidMarkup)
