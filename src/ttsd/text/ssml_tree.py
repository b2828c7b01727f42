"""The SSML element tree, parsed safely, with the line and column of every element.

defusedxml's expat parser, with a DOCTYPE (and so any entity declaration) forbidden and external references
refused: there is no entity expansion, no file or network access. Nesting deeper than ``max_depth`` stops the
parse at once. Expat's errors become :class:`~ttsd.errors.InvalidMarkup` with a message that says how to fix
the markup (which element is left open, which characters must be escaped...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from ttsd.errors import InvalidMarkup

SSML_NAMESPACE = "http://www.w3.org/2001/10/synthesis"
_READ_AS_SSML = ("", SSML_NAMESPACE)  # elements in other namespaces (mstts:...) are unknown elements
_HINTS = {
    "no element found": "the document is empty or ends too early",
    "not well-formed (invalid token)": "unexpected character: write a literal < as &lt; and & as &amp;; NUL and "
    "control characters are not allowed",
    "undefined entity": "unknown entity: only &lt; &gt; &amp; &quot; &apos; and numeric references such as "
    "&#160; are allowed (or write the character itself)",
    "junk after document element": "text or elements after </speak>: everything must be inside <speak>…</speak>",
    "unbound prefix": 'a namespace prefix is not declared: add xmlns:prefix="…" to <speak> or drop the prefix',
    "duplicate attribute": "an attribute is given twice in one element",
    "unclosed token": "a tag, comment or attribute value is not closed",
    "syntax error": "not XML: the document must start with <speak>",
}


@dataclass(slots=True)
class Element:
    tag: str  # the local name (``prosody``); ``{uri}name`` for elements of other namespaces
    attrs: dict[str, str]  # local names: ``xml:lang`` is ``lang``
    line: int  # from 1
    column: int  # from 1, in characters
    children: list[Element | str] = field(default_factory=list)


def build_tree(markup: str, *, max_depth: int) -> Element:
    """Parse ``markup``; raises :class:`InvalidMarkup` for anything that is not a safe, well-formed document."""
    try:
        encoded = markup.encode("utf-8")
    except UnicodeEncodeError as exc:
        line, column = _line_column(markup, exc.start)
        raise InvalidMarkup("the text contains an unpaired surrogate code point", line=line, column=column) from None
    builder = _Builder(markup=markup, encoded=encoded, max_depth=max_depth)
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    builder.expat = parser.parser
    try:
        parser.feed(markup)
        parser.close()
    except ParseError as exc:
        raise builder.parse_error(exc) from None
    except DefusedXmlException:
        message = "DTDs and entity declarations (<!DOCTYPE …>, <!ENTITY …>) are not accepted: remove them"
        raise builder.error_here(message) from None
    assert builder.root is not None  # expat raised "no element found" otherwise
    return builder.root


class _Builder:
    """An ElementTree parser target that records positions and enforces the depth limit."""

    def __init__(self, *, markup: str, encoded: bytes, max_depth: int) -> None:
        self.markup = markup
        self.encoded = encoded
        self.max_depth = max_depth
        self.expat: Any = None  # the pyexpat parser, set once the DefusedXMLParser exists
        self.root: Element | None = None
        self.stack: list[Element] = []
        self._byte = self._char = 0  # the last position asked for: positions mostly grow, so go on from there
        self._line, self._line_start = 1, 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        line, column = self._position(self.expat.CurrentByteIndex)
        if len(self.stack) >= self.max_depth:
            message = f"elements are nested more than {self.max_depth} deep; flatten the markup"
            raise InvalidMarkup(message, line=line, column=column)
        attrs = {_local(name): value for name, value in attrib.items()}
        element = Element(_element_name(tag), attrs, line, column)
        if self.stack:
            self.stack[-1].children.append(element)
        else:
            self.root = element
        self.stack.append(element)

    def end(self, tag: str) -> None:
        self.stack.pop()

    def data(self, text: str) -> None:
        if not self.stack:
            return  # whitespace around the root element
        children = self.stack[-1].children
        if children and isinstance(children[-1], str):
            children[-1] += text
        else:
            children.append(text)

    def close(self) -> Element | None:
        return self.root

    def parse_error(self, exc: ParseError) -> InvalidMarkup:
        line, column = self._position(self.expat.ErrorByteIndex)
        reason = expat.ErrorString(exc.code) if isinstance(exc.code, int) else str(exc)
        if reason == "mismatched tag" and self.stack:
            open_ = self.stack[-1]
            message = (f"this closing tag does not match <{open_.tag}> opened at line {open_.line}, column "
                       f"{open_.column}: close <{open_.tag}> first (elements may not overlap)")  # fmt: skip
        elif reason == "no element found" and self.stack:
            open_ = self.stack[-1]
            message = (f"the document ends inside <{open_.tag}> opened at line {open_.line}, column "
                       f"{open_.column}: add </{open_.tag}>")  # fmt: skip
        else:
            message = _HINTS.get(reason, reason)
        return InvalidMarkup(message, line=line, column=column)

    def error_here(self, message: str) -> InvalidMarkup:
        line, column = self._position(self.expat.CurrentByteIndex)
        return InvalidMarkup(message, line=line, column=column)

    def _position(self, byte_index: int) -> tuple[int, int]:
        """(line, column) of a byte offset of the UTF-8 input, in O(distance from the last one asked)."""
        byte_index = max(byte_index, 0)
        if byte_index < self._byte:
            self._byte = self._char = self._line_start = 0
            self._line = 1
        char = self._char + len(self.encoded[self._byte : byte_index].decode("utf-8", errors="ignore"))
        self._line += self.markup.count("\n", self._char, char)
        newline = self.markup.rfind("\n", self._char, char)
        if newline >= 0:
            self._line_start = newline + 1
        self._byte, self._char = byte_index, char
        return self._line, char - self._line_start + 1


def _line_column(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    line = before.count("\n") + 1
    return line, offset - (before.rfind("\n") + 1) + 1


def _local(name: str) -> str:
    return name.rpartition("}")[2]


def _element_name(tag: str) -> str:
    namespace, _, local = tag[1:].rpartition("}") if tag.startswith("{") else ("", "", tag)
    return local if namespace in _READ_AS_SSML else tag
