"""Explicit context rules for the particles the model and the dictionary read badly: 得, 地, 不.

* 得 **dei3** ("must") after a subject or an adverb and before a verb: 我得去, 你得好好休息, 就得走.
  Not before the verb 得's own objects (得到, 得了, 得分, 得知...), which are de2.
* 得 **de5**, the complement marker, after a verb or adjective (跑得很快, 长得高) when 得 is not part of a
  dictionary word (获得 huo4 de2, 觉得 jue2 de5 stay as the dictionary writes them).
* 地 **de5**, the adverbial particle: jieba tags a standalone 地 ``uv``, and a word ending in 地 after a
  reduplication (慢慢地, 轻轻地) or tagged ``z`` is adverbial.
* sentence-final particles 吧 吗 呢 啊 (before punctuation or the end) are **neutral** (看电影吧 ba5;
  the model, trained on written encyclopedia text, reads 吧 ba1).
* 不 **bu2** before a fourth tone (不要, 不去); the reference front end writes it the same way.

一 keeps the reference convention: only the tone pypinyin's phrase dictionary writes (一个 yi2, 一起 yi4).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ttsd.text.words import jieba_tokenizer

# Characters after which 得 + verb means "must".
_MUST_AFTER = frozenset("我你他她它您们就也还都总可非真又才却便必")
# The verb 得 (to get) takes these: 得到, 得了, 得知, 得分...
_GET_OBJECTS = frozenset("到了知分益罪奖票胜失病逞意手出益体当宜力救")


def de_reading(text: str, index: int, *, in_phrase: bool) -> str | None:
    """Reading of 得 at ``text[index]`` by rule, or ``None`` when no rule applies."""
    before = text[index - 1] if index > 0 else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    if in_phrase:
        return None
    if before in _MUST_AFTER and after and after not in _GET_OBJECTS:
        return "dei3"
    if after in _GET_OBJECTS:
        return "de2"
    if before and _is_han(before):
        return "de5"
    return None


_FINAL_PARTICLES = {"吧": "ba5", "吗": "ma5", "呢": "ne5", "啊": "a5"}


def final_particle(text: str, index: int) -> str | None:
    """Neutral reading of a sentence-final particle at ``text[index]`` (last Han character of its run)."""
    reading = _FINAL_PARTICLES.get(text[index])
    if reading is None or index == 0:
        return None
    return reading if index + 1 == len(text) or not _is_han(text[index + 1]) else None


def is_adverbial_de(word: str, flag: str, *, previous: str = "") -> bool:
    """Whether a jieba word ending in 地 (with its dictionary tag and the word before it) is the adverbial
    particle: a standalone 地 tagged ``uv`` or after a reduplication (慢慢 地), 轻轻地, or a ``z`` word."""
    if word == "地":
        return flag == "uv" or reduplicated(previous)
    return reduplicated(word[:-1]) or flag == "z"


def reduplicated(stem: str) -> bool:
    """慢慢, 轻轻, 高高兴兴: the last two characters are the same."""
    return len(stem) >= 2 and stem[-1] == stem[-2]


def bu_sandhi(text: str, syllables: list[str], *, frozen: Sequence[bool]) -> list[int]:
    """Indices where 不 (bu4) becomes bu2 before a fourth tone (``syllables`` changed in place)."""
    changed = []
    for i, ch in enumerate(text):
        if ch != "不" or frozen[i] or syllables[i] != "bu4":
            continue
        following = next((s for s in syllables[i + 1 :] if s), "")
        if following.endswith("4"):
            syllables[i] = "bu2"
            changed.append(i)
    return changed


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


class ParticleCutter:
    """jieba's word cut plus the dictionary tags of the words that end in 地 (all :func:`is_adverbial_de` reads).

    The plain tokenizer (frequency dictionary + its small B/M/E/S HMM for unknown words) replaces
    ``jieba.posseg``: importing posseg loads its POS-HMM tables (about 60 MB) that only tag unknown words, and
    those tags never decide 地 (a standalone 地 is tagged from the dictionary, ``uv``; an unknown word ending in
    地 is judged by reduplication). The full word -> tag table (349k entries, about 43 MB) is never built either.
    """

    def __init__(self, cache_dir: Path | None) -> None:
        self._tokenizer = jieba_tokenizer(cache_dir)
        with self._tokenizer.get_dict_file() as lines:
            self._tags = _particle_tags(lines)

    def cut(self, text: str) -> list[tuple[str, str]]:
        return [(word, self._tags.get(word, "x")) for word in self._tokenizer.cut(text, HMM=True)]


def _particle_tags(lines: Iterable[bytes]) -> dict[str, str]:
    """``word -> tag`` from jieba's dictionary lines (``word freq tag``), for the words ending in 地."""
    tags: dict[str, str] = {}
    for raw in lines:
        fields = raw.decode("utf-8").split()
        if len(fields) == 3 and fields[0].endswith("地"):
            tags[fields[0]] = fields[2]
    return tags
