"""A long text -> the parts a job synthesizes one by one (its checkpoints), grouped into chapters.

* Parts are sentences (:func:`ttsd.text.split.split_open`, the front end's own rule), so a restart never
  redoes a finished sentence; a sentence longer than :data:`MAX_PART_CHARS` is cut at clause marks, then
  anywhere. Each part carries the pause that follows it (the sentence's own, or :data:`CHAPTER_PAUSE_S` at a
  chapter's end).
* Chapters: when the text has heading lines (``# Title``, ``第一章 ...``, ``Chapter 1 ...``) each heading starts
  one; otherwise each block of lines separated by a blank line does. A chapter's title is its first line.
* Markup (SSML) is one part: a document cannot be cut without parsing it, and its length is held to the
  engine's limit at submission.

Pure and deterministic: the plan is stored with the job, so a resumed job continues exactly the same plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ttsd.text.split import PAUSE_SENTENCE, split_open, split_to_budget

MAX_PART_CHARS = 300
CHAPTER_PAUSE_S = 1.5
TITLE_CHARS = 60
_HEADING = re.compile(
    r"^\s*(#{1,6}\s+\S|第[0-9零〇一二三四五六七八九十百千两]+[章节回卷部篇]|(chapter|part)\s+[0-9ivxlc]+\b)",
    re.IGNORECASE,
)
_BLANK_LINE = re.compile(r"\n[ \t\u3000]*\n")


@dataclass(frozen=True, slots=True)
class Part:
    text: str
    pause_after_s: float
    chapter: int


@dataclass(frozen=True, slots=True)
class Plan:
    parts: tuple[Part, ...]
    titles: tuple[str, ...]  # one per chapter

    def to_json(self) -> dict[str, object]:
        return {"parts": [[p.text, p.pause_after_s, p.chapter] for p in self.parts], "titles": list(self.titles)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        parts = tuple(Part(str(text), float(pause), int(chapter)) for text, pause, chapter in data["parts"])
        return cls(parts=parts, titles=tuple(str(title) for title in data["titles"]))


def plan_text(text: str, *, markup: bool, max_part_chars: int = MAX_PART_CHARS) -> Plan:
    """The plan of ``text`` (see the module docstring)."""
    if markup:
        return Plan(parts=(Part(text, 0.0, 0),), titles=("",))
    parts: list[Part] = []
    titles: list[str] = []
    for block in chapters(text):
        sentences = [piece for sentence, pause in _sentences(block) for piece in _cut(sentence, pause, max_part_chars)]
        if not sentences:
            continue
        chapter = len(titles)
        titles.append(_title(block))
        parts.extend(Part(piece, pause, chapter) for piece, pause in sentences)
        parts[-1] = Part(parts[-1].text, CHAPTER_PAUSE_S, chapter)
    if parts:
        parts[-1] = Part(parts[-1].text, 0.0, parts[-1].chapter)
    return Plan(parts=tuple(parts), titles=tuple(titles))


def chapters(text: str) -> list[str]:
    """The text's chapters: at heading lines if it has any, else at blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if any(_HEADING.match(line) for line in lines):
        blocks: list[list[str]] = [[]]
        for line in lines:
            if _HEADING.match(line) and any(s.strip() for s in blocks[-1]):
                blocks.append([])
            blocks[-1].append(line)
        found = ["\n".join(block) for block in blocks]
    else:
        found = _BLANK_LINE.split(text)
    return [block for block in found if block.strip()]


def _sentences(block: str) -> list[tuple[str, float]]:
    """``(sentence, pause_after_s)`` pairs; the text after the last terminator is a sentence too."""
    found, tail = split_open(block)
    if tail.strip():
        found.append((tail.strip(), PAUSE_SENTENCE))
    return found


def _title(block: str) -> str:
    first = next(line for line in block.split("\n") if line.strip()).strip().lstrip("#").strip()
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1] + "…"


def _cut(sentence: str, pause: float, limit: int) -> list[tuple[str, float]]:
    """``sentence`` in pieces of at most ``limit`` characters; the last one gets the sentence's pause."""
    pieces = split_to_budget(sentence, cost=len, budget=limit)
    return [(piece, pause if i == len(pieces) - 1 else after) for i, (piece, after) in enumerate(pieces)]
