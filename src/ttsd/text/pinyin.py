"""One pinyin syllable (TONE3 style, e.g. ``zhong1``, ``nv3``, ``nar3``) -> Baker phone symbols.

Baker conventions (the ones the model was trained with):

* every syllable is an initial plus a toned final; syllables without a consonant get the zero initial ``^``
  (``an4`` -> ``^ an4``, ``wo3`` -> ``^ uo3``, ``yu2`` -> ``^ v2``);
* finals are written in their underlying form: ``iu`` -> ``iou``, ``ui`` -> ``uei``, ``un`` -> ``uen``,
  ``ü`` -> ``v`` (``ju`` -> ``j v``), ``zi/ci/si`` -> ``ii``, ``zhi/chi/shi/ri`` -> ``iii``;
* the neutral tone is 5; a syllable written without a tone digit is neutral;
* erhua (``nar3``) is the base syllable followed by ``er5`` (no ``#0`` inside);
* the syllabic nasals of 嗯/呣 (``n``, ``ng``, ``m``) become ``^ en``; ``hm``/``hng`` become
  ``h en``/``h eng``.
"""

from __future__ import annotations

import re

from ttsd.errors import TextError

_FINALS_TEXT = "a ai an ang ao e ei en eng er i ia ian iang iao ie ii iii in ing iong iou o ong ou u ua uai uan uang"
FINALS = frozenset(f"{_FINALS_TEXT} uei uen ueng uo v van ve vn".split(" "))
# Two-letter initials first so that "zh" is not read as "z" + "h...".
_INITIALS: tuple[str, ...] = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j")
_INITIALS += ("q", "x", "r", "z", "c", "s")
_SPECIAL = {
    "n": ("^", "en"),
    "ng": ("^", "en"),
    "m": ("^", "en"),
    "hm": ("h", "en"),
    "hng": ("h", "eng"),
    "wong": ("^", "ueng"),
}
_Y_FINALS = {"yo": "iou", "you": "iou", "yong": "iong"}
_SYLLABLE = re.compile(r"^([a-zü:ê]+)([1-5]?)$")


def syllable_to_phones(syllable: str) -> tuple[str, ...]:
    """Baker phones of one TONE3 syllable; raises :class:`TextError` if it is not valid pinyin."""
    match = _SYLLABLE.match(syllable.strip().lower())
    if match is None:
        raise TextError(f"{syllable!r} is not a pinyin syllable (expected letters and a tone digit 1-5)")
    body, tone = match.group(1), match.group(2) or "5"
    erhua = body.endswith("r") and body != "er" and len(body) > 1
    if erhua:
        body = body[:-1]
    initial, final = split_syllable(body)
    phones: tuple[str, ...] = (initial, final + tone)
    return (*phones, "er5") if erhua else phones


def split_syllable(body: str) -> tuple[str, str]:
    """``(initial, final)`` of a toneless syllable in Baker notation; raises :class:`TextError`."""
    body = body.replace("ü", "v").replace("u:", "v").replace("ê", "e")
    if body in _SPECIAL:
        return _SPECIAL[body]
    if body.startswith("y"):
        initial, final = "^", _y_final(body)
    elif body.startswith("w"):
        initial, final = "^", body[1:] if body == "wu" else "u" + body[1:]
    else:
        initial = next((i for i in _INITIALS if body.startswith(i)), "^")
        final = body[len(initial) :] if initial != "^" else body
        final = _underlying_final(initial, final)
    if final not in FINALS:
        raise TextError(f"{body!r} is not a pinyin syllable")
    return initial, final


def _y_final(body: str) -> str:
    if body in _Y_FINALS:
        return _Y_FINALS[body]
    rest = body[1:]
    if rest.startswith("u"):  # yu, yue, yuan, yun: the u is ü
        return "v" + rest[1:]
    return rest if rest.startswith("i") else "i" + rest


def _underlying_final(initial: str, final: str) -> str:
    if initial in ("j", "q", "x") and final.startswith("u"):
        return "v" + final[1:]
    if final == "i" and initial in ("z", "c", "s"):
        return "ii"
    if final == "i" and initial in ("zh", "ch", "sh", "r"):
        return "iii"
    if final == "ue":  # nue/lue spelled without the umlaut
        return "ve"
    return {"iu": "iou", "ui": "uei", "un": "uen"}.get(final, final)
