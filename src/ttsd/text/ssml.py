"""SSML (the subset in docs/ssml.md) -> :class:`~ttsd.text.types.Segment` objects for the front end.

Safe by construction: defusedxml's expat parser with DTDs, entity declarations and external references
forbidden (so no entity expansion at all), a size limit checked before parsing and a depth limit checked while
parsing. Every problem is an :class:`~ttsd.errors.InvalidMarkup` naming the line, the column and the fix; the
markup never reaches anything but expat and this module.

The walk keeps reading state (prosody, voice) per element, emits text runs, units (``<say-as>``,
``<phoneme>``, ``<sub>``), breaks and block ends, collapses whitespace across them like a browser does for
text (runs become one space; none between two CJK characters or next to CJK punctuation), then merges runs
with the same state into segments. A segment boundary is made at every prosody or voice change, so no
sentence spans two prosodies.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import TypeVar

from ttsd.errors import InvalidMarkup, TextError, TextTooLong
from ttsd.text import ssml_values as values
from ttsd.text.ssml_tree import Element, build_tree
from ttsd.text.types import Prosody, Segment

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DEFAULT_MAX_DEPTH = 32
MARKUP_FACTOR = 10  # the markup may be this many times max_chars (tags and attributes are not read)
DEFAULT_MAX_PAUSE_S = 300.0  # all <break>s of one document together
# An XML declaration or a markup declaration (<!DOCTYPE, <!ENTITY) at the start also means markup: such a
# document is parsed (and its DTD refused), never read aloud character by character.
_SSML_START = re.compile(r"\A[\s\ufeff]*(?:<\?xml[\s?]|<!(?i:doctype|entity|element|attlist)|<speak[\s>/])")
_BLOCKS = ("speak", "p", "s")
_UNITS = ("say-as", "phoneme", "sub")
_KNOWN_ATTRIBUTES = {
    "speak": {"version", "lang"},
    "p": {"lang"},
    "s": {"lang"},
    "break": {"time", "strength"},
    "prosody": {"rate", "pitch", "volume"},
    "say-as": {"interpret-as", "format", "detail"},
    "phoneme": {"alphabet", "ph"},
    "sub": {"alias"},
    "voice": {"name", "lang"},
    "lang": {"lang"},
}
_LANG_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_WHITESPACE = re.compile(r"[ \t\r\n]+")


def is_ssml(text: str) -> bool:
    """Whether ``text`` is markup: it starts (after whitespace or a BOM) with ``<speak``, an XML declaration
    (``<?xml …?>``) or a markup declaration (``<!DOCTYPE``, ``<!ENTITY`` …; refused by :func:`parse_ssml`)."""
    return _SSML_START.match(text) is not None


def parse_ssml(
    markup: str,
    *,
    max_chars: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
    voices: Collection[str] | None = None,
    max_pause_s: float = DEFAULT_MAX_PAUSE_S,
) -> list[Segment]:
    """Parse a ``<speak>`` document into segments; raises :class:`InvalidMarkup` or :class:`TextError`.

    ``max_chars`` limits the text read (the written text of every element); the markup itself may be
    ``MARKUP_FACTOR`` times longer. ``voices``, when given, are the names ``<voice name>`` may use.
    """
    limit = max_chars * MARKUP_FACTOR
    if len(markup) > limit:
        message = (f"the SSML document is {len(markup)} characters; at most {limit} are accepted "
                   f"({MARKUP_FACTOR}x the {max_chars}-character text limit)")  # fmt: skip
        raise TextTooLong(message, limit=limit, length=len(markup))
    root = build_tree(markup, max_depth=max_depth)
    if root.tag != "speak":
        raise _error(root, f"the document must be a <speak> element, not <{root.tag}>: wrap it in <speak>…</speak>")
    walker = _Walker(voices=voices)
    walker.walk(root, _State(), top=True)
    segments = _segments(_collapse_whitespace(walker.events))
    _check_totals(segments, max_chars=max_chars, max_pause_s=max_pause_s)
    return segments


@dataclass(frozen=True, slots=True)
class _State:
    prosody: Prosody = field(default_factory=Prosody)
    voice: str | None = None
    lang: str | None = None  # <lang xml:lang>: "en-US" makes the letters inside English words


@dataclass(slots=True)
class _Text:
    text: str
    state: _State


@dataclass(frozen=True, slots=True)
class _Unit:
    segment: Segment  # text, say-as/pinyin/alias, prosody, voice; already whitespace-collapsed


@dataclass(frozen=True, slots=True)
class _Break:
    seconds: float


@dataclass(frozen=True, slots=True)
class _BlockEdge:
    end: bool  # a </p>, </s> or </speak>: the text before it ends a sentence


_Event = _Text | _Unit | _Break | _BlockEdge


class _Walker:
    """Turns the element tree into a flat list of events, applying each element's reading instructions."""

    def __init__(self, *, voices: Collection[str] | None) -> None:
        self.voices = voices
        self.events: list[_Event] = []
        self._warned: set[str] = set()

    def walk(self, element: Element, state: _State, *, top: bool = False) -> None:
        tag = element.tag
        if tag == "speak" and not top:
            raise _error(element, "<speak> may only be the outermost element; remove the inner <speak>")
        self._check_attributes(element)
        if tag == "break":
            if element.children:
                raise _error(element, '<break> must be empty: write it <break time="500ms"/>')
            time, strength = element.attrs.get("time"), element.attrs.get("strength")
            self.events.append(_Break(_value(element, "time" if time is not None else "strength",
                                             lambda: values.break_seconds(time, strength))))  # fmt: skip
            return
        if tag in _UNITS:
            self.events.append(_Unit(self._unit(element, state)))
            return
        if tag == "prosody":
            state = replace(state, prosody=self._prosody(element, state.prosody))
        elif tag == "voice":
            state = replace(state, voice=self._voice(element))
        elif tag == "lang":
            state = replace(state, lang=self._lang(element))
        elif tag not in _BLOCKS:
            self._warn_unknown(element)
        if tag in _BLOCKS:
            self.events.append(_BlockEdge(end=False))
        for child in element.children:
            if isinstance(child, str):
                self.events.append(_Text(child, state))
            else:
                self.walk(child, state)
        if tag in _BLOCKS:
            self.events.append(_BlockEdge(end=True))

    def _unit(self, element: Element, state: _State) -> Segment:
        if any(not isinstance(c, str) for c in element.children):
            raise _error(element, f"<{element.tag}> may contain only text, not other elements")
        text = _WHITESPACE.sub(" ", "".join(c for c in element.children if isinstance(c, str))).strip()
        if not text:
            raise _error(element, f"<{element.tag}> needs the written text between its tags")
        base = Segment(text, prosody=state.prosody, voice=state.voice, lang=state.lang)
        attrs = element.attrs
        if element.tag == "sub":
            alias = _required(element, "alias").strip()
            if not alias:
                raise _error(element, '<sub alias="…"> needs the text to read in alias')
            return replace(base, alias=alias)
        if element.tag == "phoneme":
            _value(element, "alphabet", lambda: values.pinyin_alphabet(attrs.get("alphabet")))
            ph = _required(element, "ph")
            return replace(base, pinyin=_value(element, "ph", lambda: values.pinyin_syllables(ph, text)))
        kind = _value(element, "interpret-as", lambda: values.interpret_as(_required(element, "interpret-as")))
        fmt = _value(element, "format", lambda: values.say_as_format(kind, attrs.get("format")))
        return replace(base, say_as=kind, say_as_format=fmt)

    def _prosody(self, element: Element, outer: Prosody) -> Prosody:
        attrs = element.attrs
        rate = _value(element, "rate", lambda: values.rate_multiplier(attrs["rate"])) if "rate" in attrs else 1.0
        pitch = _value(element, "pitch", lambda: values.pitch_semitones(attrs["pitch"])) if "pitch" in attrs else 0.0
        volume = _value(element, "volume", lambda: values.volume_gain(attrs["volume"])) if "volume" in attrs else 1.0
        try:
            return values.compose(outer, rate=rate, pitch_st=pitch, volume=volume)
        except values.BadValue as exc:
            raise _error(element, f"<prosody> inside <prosody>: {exc}") from None

    def _voice(self, element: Element) -> str:
        name = _required(element, "name").strip()
        if self.voices is not None and name not in self.voices:
            known = ", ".join(sorted(self.voices)) or "(none)"
            raise _error(element, f"<voice name={_quoted(name)}> is not a voice of this server; known voices: {known}")
        return name

    def _lang(self, element: Element) -> str:
        lang = element.attrs.get("lang", "").strip()
        if not lang:
            raise _error(element, '<lang> needs the attribute xml:lang, e.g. <lang xml:lang="en-US">')
        if not _LANG_TAG.fullmatch(lang):
            raise _error(element, f'<lang xml:lang={_quoted(lang)}>: not a language tag; write e.g. xml:lang="en-US"')
        return lang

    def _check_attributes(self, element: Element) -> None:
        known = _KNOWN_ATTRIBUTES.get(element.tag)
        if known is None:
            return
        for name in element.attrs:
            if name not in known and f"{element.tag}@{name}" not in self._warned:
                self._warned.add(f"{element.tag}@{name}")
                log.warning("SSML line %d, column %d: attribute %s of <%s> is not supported and is ignored",
                            element.line, element.column, name, element.tag)  # fmt: skip

    def _warn_unknown(self, element: Element) -> None:
        if element.tag not in self._warned:
            self._warned.add(element.tag)
            log.warning("SSML line %d, column %d: element <%s> is not supported: its text is read, the element "
                        "is ignored", element.line, element.column, element.tag)  # fmt: skip


def _collapse_whitespace(events: list[_Event]) -> list[_Event]:
    """Browser-like whitespace: one space for a run, none at block edges or around breaks, none between CJK."""
    pieces: list[tuple[str, int]] = []  # (one character or a unit's text, event index); "" marks a barrier
    for index, event in enumerate(events):
        if isinstance(event, _Text):
            pieces.extend((" " if c in " \t\r\n" else c, index) for c in event.text)
        elif isinstance(event, _Unit):
            pieces.append((event.segment.text, index))
        else:
            pieces.append(("", index))
    kept: list[tuple[str, int]] = []
    for piece in pieces:
        if piece[0] == " " and (not kept or kept[-1][0] in (" ", "")):
            continue
        if piece[0] == "" and kept and kept[-1][0] == " ":
            kept.pop()
        kept.append(piece)
    while kept and kept[-1][0] == " ":
        kept.pop()
    texts: dict[int, list[str]] = {}
    for position, (text, index) in enumerate(kept):
        if text == " " and _no_space_between(kept[position - 1][0][-1:], kept[position + 1][0][:1]):
            continue  # kept[0] and kept[-1] are never spaces
        texts.setdefault(index, []).append(text)
    out: list[_Event] = []
    for index, event in enumerate(events):
        if isinstance(event, _Text):
            if index in texts:
                out.append(_Text("".join(texts[index]), event.state))
        else:
            out.append(event)
    return out


def _no_space_between(before: str, after: str) -> bool:
    """Chinese needs no spaces: none between two wide characters, none next to wide punctuation (，。)."""
    wide = [bool(c) and unicodedata.east_asian_width(c) in ("W", "F") for c in (before, after)]
    punctuation = [w and unicodedata.category(c).startswith("P") for w, c in zip(wide, (before, after), strict=True)]
    return all(wide) or any(punctuation)


def _segments(events: list[_Event]) -> list[Segment]:
    """Merge text runs with the same state; breaks and sentence ends close the segment before them."""
    segments: list[Segment] = []
    open_ = False  # whether the last segment may still grow with more text of the same state
    starts: list[int] = []  # per open block: how many segments there were before it
    for event in events:
        if isinstance(event, _Text):
            last = segments[-1] if segments else None
            state = event.state
            if (
                open_
                and last is not None
                and (last.prosody, last.voice, last.lang) == (state.prosody, state.voice, state.lang)
            ):
                segments[-1] = replace(last, text=last.text + event.text)
            else:
                segments.append(Segment(event.text, prosody=state.prosody, voice=state.voice, lang=state.lang))
            open_ = True
        elif isinstance(event, _Unit):
            segments.append(event.segment)
            open_ = False
        elif isinstance(event, _Break):
            if segments:
                last = segments[-1]
                segments[-1] = replace(last, break_after_s=round((last.break_after_s or 0.0) + event.seconds, 3))
            else:
                segments.append(Segment("", break_after_s=event.seconds))
            open_ = False
        elif not event.end:  # text before a <p> or <s> ends its sentence too
            if segments and segments[-1].text:
                segments[-1] = replace(segments[-1], sentence_end=True)
            starts.append(len(segments))
            open_ = False
        else:
            if len(segments) > (starts.pop() if starts else 0) and segments[-1].text:
                segments[-1] = replace(segments[-1], sentence_end=True)
            open_ = False
    return segments


def _check_totals(segments: list[Segment], *, max_chars: int, max_pause_s: float) -> None:
    length = sum(len(s.text) + len(s.alias or "") for s in segments)
    if length > max_chars:
        raise TextTooLong(f"the SSML document has {length} characters of text; the limit is {max_chars}",
                          limit=max_chars, length=length)  # fmt: skip
    pause = sum(s.break_after_s or 0.0 for s in segments)
    if pause > max_pause_s:
        raise TextError(f"the SSML document's breaks add up to {pause:g}s; at most {max_pause_s:g}s are allowed")
    if not any(s.text.strip() or s.break_after_s for s in segments):
        raise TextError("nothing to synthesize: the <speak> document has no text")


def _value(element: Element, attribute: str, parse: Callable[[], _T]) -> _T:
    try:
        return parse()
    except values.BadValue as exc:
        given = element.attrs.get(attribute)
        shown = f" {attribute}={_quoted(given)}" if given is not None else f" {attribute}"
        raise _error(element, f"<{element.tag}{shown}>: invalid {attribute}; {exc}") from None


def _required(element: Element, attribute: str) -> str:
    value = element.attrs.get(attribute)
    if value is None:
        raise _error(element, f"<{element.tag}> needs the attribute {attribute}")
    return value


def _quoted(value: str, limit: int = 40) -> str:
    shown = value if len(value) <= limit else value[:limit] + "…"
    return '"' + shown.replace('"', "&quot;") + '"'


def _error(element: Element, message: str) -> InvalidMarkup:
    return InvalidMarkup(message, line=element.line, column=element.column)
