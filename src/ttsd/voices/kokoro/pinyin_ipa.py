"""One TONE3 pinyin syllable -> Kokoro v1.0's Mandarin phoneme string.

Kokoro-82M v1.0 was trained on the strings of misaki's ``ZHG2P()`` (its v1.0 path), which reads each pinyin
syllable with the first IPA variant of the pinyin-to-ipa tables, turns the tone letters into arrows and drops
the non-syllabic diacritic. This module writes that mapping as plain tables (initial, final = glide + nucleus +
coda, tone arrow after the nucleus); tests/unit/kokoro/test_pinyin_ipa.py checks it against misaki's own output
(tests/fixtures/kokoro/misaki_zh.json). What it adds: erhua syllables (``nar3``: misaki's tables have no such
final) are read as the base syllable followed by a toneless ``ɚ``, like a neutral-tone 儿; ``yo`` is read
as misaki reads it (``wo``: pinyin-to-ipa takes its final to be ``o``).
"""

from __future__ import annotations

from ttsd.errors import TextError

TONE_ARROWS = {"1": "→", "2": "↗", "3": "↓", "4": "↘", "5": "", "0": ""}
INITIALS = {
    "b": "p", "p": "pʰ", "m": "m", "f": "f", "d": "t", "t": "tʰ", "n": "n", "l": "l",
    "g": "k", "k": "kʰ", "h": "x", "j": "ʨ", "q": "ʨʰ", "x": "ɕ",
    "zh": "ꭧ", "ch": "ꭧʰ", "sh": "ʂ", "r": "ɻ", "z": "ʦ", "c": "ʦʰ", "s": "s",
}  # fmt: skip
# Final -> (glide, nucleus, coda): the tone arrow goes right after the nucleus.
FINALS: dict[str, tuple[str, str, str]] = {
    "a": ("", "a", ""), "ai": ("", "ai", ""), "an": ("", "a", "n"), "ang": ("", "a", "ŋ"), "ao": ("", "au", ""),
    "e": ("", "ɤ", ""), "ei": ("", "ei", ""), "en": ("", "ə", "n"), "eng": ("", "ə", "ŋ"),
    "i": ("", "i", ""), "ia": ("j", "a", ""), "ian": ("j", "ɛ", "n"), "iang": ("j", "a", "ŋ"),
    "iao": ("j", "au", ""), "ie": ("j", "e", ""), "in": ("", "i", "n"), "iou": ("j", "ou", ""),
    "ing": ("", "i", "ŋ"), "iong": ("j", "ʊ", "ŋ"), "ong": ("", "ʊ", "ŋ"), "ou": ("", "ou", ""),
    "u": ("", "u", ""), "ua": ("w", "a", ""), "uai": ("w", "ai", ""), "uan": ("w", "a", "n"),
    "uang": ("w", "a", "ŋ"), "uei": ("w", "ei", ""), "uen": ("w", "ə", "n"), "ueng": ("w", "ə", "ŋ"),
    "uo": ("w", "o", ""), "o": ("w", "o", ""),
    "ü": ("", "y", ""), "üe": ("ɥ", "e", ""), "üan": ("ɥ", "ɛ", "n"), "ün": ("", "y", "n"),
}  # fmt: skip
# Whole syllables read without the initial/final split (interjections and syllabic nasals).
WHOLE = {
    "er": ("", "ɚ", ""), "o": ("", "ɔ", ""), "io": ("j", "ɔ", ""), "ê": ("", "ɛ", ""),
    "m": ("", "m", ""), "n": ("", "n", ""), "ng": ("", "ŋ", ""), "hm": ("h", "m", ""), "hng": ("h", "ŋ", ""),
}  # fmt: skip
# Zero-initial spellings (y-, w-) -> the final they write.
_Y_W = {
    "yi": "i", "ya": "ia", "yan": "ian", "yang": "iang", "yao": "iao", "ye": "ie", "yin": "in", "ying": "ing",
    "yo": "o", "yong": "iong", "you": "iou", "yu": "ü", "yue": "üe", "yuan": "üan", "yun": "ün",
    "wu": "u", "wa": "ua", "wo": "uo", "wai": "uai", "wei": "uei", "wan": "uan", "wen": "uen", "wang": "uang",
    "weng": "ueng", "wong": "ong",
}  # fmt: skip
_ABBREVIATED = {"iu": "iou", "ui": "uei", "un": "uen"}
_J_Q_X_U = {"u": "ü", "ue": "üe", "uan": "üan", "un": "ün"}
ERHUA = "ɚ"


def syllable_to_ipa(syllable: str) -> str:
    """``zhong1`` -> ``ꭧʊ→ŋ``; raises :class:`TextError` for something that is not a pinyin syllable."""
    body, tone = _split_tone(syllable)
    erhua = body.endswith("r") and body != "er" and len(body) > 1
    if erhua:
        body = body[:-1]
    glide, nucleus, coda, initial = _parse(body, syllable)
    return f"{initial}{glide}{nucleus}{TONE_ARROWS[tone]}{coda}{ERHUA if erhua else ''}"


def _split_tone(syllable: str) -> tuple[str, str]:
    text = syllable.strip().lower().replace("v", "ü").replace("u:", "ü")
    if text and text[-1] in TONE_ARROWS:
        return text[:-1], text[-1]
    return text, "5"


def _parse(body: str, original: str) -> tuple[str, str, str, str]:
    """(glide, nucleus, coda, initial IPA) of a toneless syllable."""
    if body in WHOLE:
        return (*WHOLE[body], "")
    if body in _Y_W:
        return (*FINALS[_Y_W[body]], "")
    initial = body[:2] if body[:2] in INITIALS else body[:1]
    if initial not in INITIALS:
        return (*_final(body, original), "")
    final = body[len(initial) :]
    if initial in ("zh", "ch", "sh", "r", "z", "c", "s") and final == "i":
        return "", "ɨ", "", INITIALS[initial]
    if initial in ("j", "q", "x"):
        final = _J_Q_X_U.get(final, final)
    elif final.startswith("ü") and initial not in ("n", "l"):
        raise TextError(f"{original!r} is not a pinyin syllable the Kokoro voice can read")
    return (*_final(final, original), INITIALS[initial])


def _final(final: str, original: str) -> tuple[str, str, str]:
    final = _ABBREVIATED.get(final, final)
    if final not in FINALS:
        raise TextError(f"{original!r} is not a pinyin syllable the Kokoro voice can read")
    return FINALS[final]
