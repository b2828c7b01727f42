"""Attribute values of SSML elements -> numbers (see docs/ssml.md for the tables).

Every parser here takes the attribute's text and returns a value, or raises :class:`BadValue` with a message
that lists the accepted forms; ``ttsd.text.ssml`` adds the element, the attribute and the position.
"""

from __future__ import annotations

import math
import re
import unicodedata
from importlib import resources

from ttsd.text.types import Prosody

# <break strength>: seconds of silence (the durations Azure documents).
BREAK_STRENGTHS = {
    "none": 0.0,
    "x-weak": 0.25,
    "weak": 0.5,
    "medium": 0.75,
    "strong": 1.0,
    "x-strong": 1.25,
}
DEFAULT_BREAK_S = BREAK_STRENGTHS["medium"]  # <break/> with neither time nor strength
MAX_BREAK_S = 10.0  # one <break>; a document's breaks together are limited by parse_ssml(max_pause_s)

RATE_LEVELS = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "fast": 1.5, "x-fast": 2.0, "default": 1.0}
PITCH_LEVELS = {"x-low": -6.0, "low": -3.0, "medium": 0.0, "high": 3.0, "x-high": 6.0, "default": 0.0}
VOLUME_LEVELS = {
    "silent": 0.0,
    "x-soft": 0.25,
    "soft": 0.5,
    "medium": 1.0,
    "loud": 1.5,
    "x-loud": 2.0,
    "default": 1.0,
}
NOMINAL_PITCH_HZ = 220.0  # Hz values of <prosody pitch> are read relative to this voice pitch
RATE_RANGE = (0.25, 4.0)  # one <prosody rate>, as a multiplier
PITCH_RANGE_ST = (-24.0, 24.0)  # one <prosody pitch>, in semitones
MAX_VOLUME = 4.0  # one <prosody volume>, as a linear gain (+12 dB)

# <say-as interpret-as>: the names the normalizer knows, plus the spellings other engines use for them.
INTERPRET_AS = ("digits", "telephone", "cardinal", "ordinal", "date", "time", "currency", "characters", "spell-out")
INTERPRET_AS_ALIASES = {"number": "cardinal", "number_digit": "digits", "digit": "digits", "spell_out": "spell-out"}
SAY_AS_FORMATS = {
    "date": ("ymd", "mdy", "dmy", "ym", "my", "md", "dm", "y", "m", "d"),
    "time": ("hms24", "hms12", "hm24", "hm12"),
}
PINYIN_ALPHABETS = ("py", "pinyin")
_SYLLABLE_LINES = resources.files("ttsd.text").joinpath("data", "pinyin_syllables.txt").read_text(encoding="utf-8")
SYLLABLES = frozenset(s.strip() for s in _SYLLABLE_LINES.splitlines() if s.strip() and not s.startswith("#"))

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_TIME = re.compile(rf"{_NUMBER}\s*(ms|s)", re.IGNORECASE)
_UNSIGNED = re.compile(rf"{_NUMBER}(%?)")
_SIGNED = re.compile(rf"([+-]){_NUMBER}(%|st|hz|db)?", re.IGNORECASE)
_HZ_OR_DB = re.compile(rf"{_NUMBER}(hz|db)", re.IGNORECASE)
_SYLLABLE = re.compile(r"([a-zê]+)([0-9]?)")
_TONE_MARKS = re.compile(r"[āáǎàōóǒòēéěèīíǐìūúǔùǖǘǚǜ]")

RATE_FORMS = "x-slow, slow, medium, fast, x-fast, default; a multiplier (0.8, 1.5); 80%; +10% or -20%"
PITCH_FORMS = "x-low, low, medium, high, x-high, default; +2st or -1.5st; +10% or -5%; +20Hz or -20Hz; 180Hz"
VOLUME_FORMS = (
    "silent, x-soft, soft, medium, loud, x-loud, default; +6dB or -3dB; 0-100 (100 = as requested); "
    "+10 or -20; +10% or -20%"
)
BREAK_FORMS = f"a time like 500ms or 1.5s (0 to {MAX_BREAK_S:g}s), or strength={'/'.join(BREAK_STRENGTHS)}"


class BadValue(ValueError):
    """An attribute value that does not parse; the message says what is accepted."""


def break_seconds(time: str | None, strength: str | None) -> float:
    """``<break time strength>`` -> seconds (time wins over strength, as in SSML 1.1)."""
    if time is not None:
        match = _TIME.fullmatch(time.strip())
        if match is None:
            raise BadValue(f"accepted: {BREAK_FORMS}")
        seconds = float(match.group(1)) / (1000.0 if match.group(2).lower() == "ms" else 1.0)
        if seconds > MAX_BREAK_S:
            raise BadValue(f"a break is at most {MAX_BREAK_S:g}s; use several sentences for longer silence")
        return round(seconds, 3)
    if strength is None:
        return DEFAULT_BREAK_S
    if strength.strip() not in BREAK_STRENGTHS:
        raise BadValue(f"accepted strengths: {', '.join(BREAK_STRENGTHS)}")
    return BREAK_STRENGTHS[strength.strip()]


def rate_multiplier(value: str) -> float:
    """``<prosody rate>`` -> a speed multiplier."""
    text = value.strip().lower()
    if text in RATE_LEVELS:
        return RATE_LEVELS[text]
    rate = _signed_percent(text)
    if rate is None:
        match = _UNSIGNED.fullmatch(text)
        if match is None:
            raise BadValue(f"accepted: {RATE_FORMS}")
        rate = float(match.group(1)) / (100.0 if match.group(2) else 1.0)
    return _within(rate, RATE_RANGE, "a rate multiplier")


def pitch_semitones(value: str) -> float:
    """``<prosody pitch>`` -> semitones relative to the voice's own pitch."""
    text = value.strip().lower()
    if text in PITCH_LEVELS:
        return PITCH_LEVELS[text]
    semitones: float | None = None
    signed = _SIGNED.fullmatch(text)
    if signed is not None:
        amount = float(signed.group(2)) * (-1.0 if signed.group(1) == "-" else 1.0)
        unit = (signed.group(3) or "").lower()
        if unit == "st":
            semitones = amount
        elif unit == "%":
            semitones = _ratio_semitones(1.0 + amount / 100.0)
        elif unit == "hz":
            semitones = _ratio_semitones((NOMINAL_PITCH_HZ + amount) / NOMINAL_PITCH_HZ)
    else:
        match = _HZ_OR_DB.fullmatch(text)
        if match is not None and match.group(2).lower() == "hz":
            semitones = _ratio_semitones(float(match.group(1)) / NOMINAL_PITCH_HZ)
    if semitones is None:
        raise BadValue(f"accepted: {PITCH_FORMS}")
    return _within(semitones, PITCH_RANGE_ST, "a pitch shift in semitones")


def volume_gain(value: str) -> float:
    """``<prosody volume>`` -> a linear gain on the requested volume."""
    text = value.strip().lower()
    if text in VOLUME_LEVELS:
        return VOLUME_LEVELS[text]
    gain: float | None = None
    signed = _SIGNED.fullmatch(text)
    absolute = _HZ_OR_DB.fullmatch(text) or _UNSIGNED.fullmatch(text)
    if signed is not None:
        amount = float(signed.group(2)) * (-1.0 if signed.group(1) == "-" else 1.0)
        unit = (signed.group(3) or "").lower()
        if unit == "db":
            gain = 10.0 ** (amount / 20.0)
        elif unit in ("", "%"):
            gain = max(0.0, 1.0 + amount / 100.0)
    elif absolute is not None and absolute.group(2).lower() == "db":
        gain = 10.0 ** (float(absolute.group(1)) / 20.0)
    elif absolute is not None:
        gain = float(absolute.group(1)) / 100.0
        if gain > 1.0 and not absolute.group(2):
            raise BadValue(f"an absolute volume is 0 to 100; accepted: {VOLUME_FORMS}")
    if gain is None:
        raise BadValue(f"accepted: {VOLUME_FORMS}")
    return _within(gain, (0.0, MAX_VOLUME), "a volume gain")


def compose(outer: Prosody, *, rate: float, pitch_st: float, volume: float) -> Prosody:
    """Nested ``<prosody>``: rates and gains multiply, semitones add; the result keeps one element's bounds."""
    return Prosody(
        rate=_within(outer.rate * rate, RATE_RANGE, "the combined rate"),
        pitch_st=_within(outer.pitch_st + pitch_st, PITCH_RANGE_ST, "the combined pitch shift in semitones"),
        volume=_within(outer.volume * volume, (0.0, MAX_VOLUME), "the combined volume gain"),
    )


def interpret_as(value: str) -> str:
    name = value.strip().lower()
    name = INTERPRET_AS_ALIASES.get(name, name)
    if name not in INTERPRET_AS:
        raise BadValue(f"accepted: {', '.join(INTERPRET_AS)}")
    return name


def say_as_format(kind: str, value: str | None) -> str | None:
    """The ``format`` of a ``<say-as>`` of ``kind`` (only date and time have one)."""
    if value is None:
        return None
    accepted = SAY_AS_FORMATS.get(kind)
    if accepted is None:
        raise BadValue(f"interpret-as={kind} takes no format; only date ({'/'.join(SAY_AS_FORMATS['date'])}) "
                       f"and time ({'/'.join(SAY_AS_FORMATS['time'])}) do")  # fmt: skip
    text = value.strip().lower()
    if text not in accepted:
        raise BadValue(f"accepted formats for interpret-as={kind}: {', '.join(accepted)}")
    return text


def pinyin_alphabet(value: str | None) -> None:
    if value is not None and value.strip().lower() not in PINYIN_ALPHABETS:
        raise BadValue('only alphabet=py (or pinyin) is supported: tone-numbered pinyin such as ph="chong2 qing4"')


def pinyin_syllables(ph: str, text: str) -> tuple[str, ...]:
    """``ph`` (tone-numbered pinyin, one syllable per Han character of ``text``) -> TONE3 syllables."""
    if _TONE_MARKS.search(ph):
        raise BadValue('write tones as numbers 1-5 (5 = neutral), e.g. ph="chong2 qing4", not tone marks')
    syllables = tuple(_syllable(s) for s in ph.replace("-", " ").split())
    han = sum(1 for c in text if is_han(c))
    if han == 0:
        raise BadValue('<phoneme alphabet="py"> needs Han characters between its tags')
    if len(syllables) != han:
        raise BadValue(f"{len(syllables)} syllable(s) for {han} Han character(s) in {text!r}: "
                       "give one tone-numbered syllable per character (write 儿 as er5)")  # fmt: skip
    return syllables


def is_han(char: str) -> bool:
    return unicodedata.name(char, "").startswith("CJK UNIFIED IDEOGRAPH") or "\uf900" <= char <= "\ufaff"


def _syllable(raw: str) -> str:
    lowered = raw.lower().replace("ü", "v").replace("u:", "v")
    match = _SYLLABLE.fullmatch(lowered)
    if match is None:
        raise BadValue(f"{_short(raw)} is not tone-numbered pinyin (letters, then a tone digit 1-5)")
    body, tone = match.group(1), match.group(2)
    body = {"lue": "lve", "nue": "nve"}.get(body, body)
    if body not in SYLLABLES:
        raise BadValue(f"{_short(raw)} is not a Mandarin pinyin syllable")
    if tone not in ("1", "2", "3", "4", "5"):
        raise BadValue(f"{_short(raw)} needs a tone number 1-5 (5 = neutral): {body}1 … {body}5")
    return body + tone


def _signed_percent(text: str) -> float | None:
    match = _SIGNED.fullmatch(text)
    if match is None or match.group(3) != "%":
        return None
    amount = float(match.group(2)) * (-1.0 if match.group(1) == "-" else 1.0)
    return 1.0 + amount / 100.0


def _ratio_semitones(ratio: float) -> float:
    if ratio <= 0.0:
        raise BadValue("the pitch would be at or below 0 Hz")
    return 12.0 * math.log2(ratio)


def _within(value: float, bounds: tuple[float, float], what: str) -> float:
    low, high = bounds
    if not (low <= value <= high):  # also rejects nan
        raise BadValue(f"{what} must be within {low:g} to {high:g} (got {value:.4g})")
    return round(value, 6)


def _short(text: str, limit: int = 24) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")
