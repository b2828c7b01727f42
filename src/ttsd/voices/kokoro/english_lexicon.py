"""misaki's American English lexicon lookup for one word, without spaCy (a port of misaki 0.9.4 ``en.Lexicon``).

Kokoro-82M was trained on misaki's English phonemes. misaki looks a word up in two JSON dictionaries shipped in
its wheel (``misaki/data/us_gold.json``, ``us_silver.json``; Apache-2.0), with case rules (an ALL-CAPS word not
in the dictionary is read as its lower-case word, else letter by letter), stress rules (a Capitalized word gets
secondary stress at least, an ALL-CAPS one primary) and the suffixes -s, -ed, -ing on a known stem. This module
is that logic for a word seen alone: no part-of-speech tag (the word is taken as a noun, ``NN``, the usual case
for an English word inside Mandarin text), no sentence context. Only the two US JSON files are read; misaki's
Python code is never imported (its English G2P pulls in spaCy and a model downloaded at run time).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from importlib import resources

from ttsd.errors import AssetError

FIX_COMMAND = "pip install misaki==0.9.4 (or scripts/install.sh --kokoro-only)"
PRIMARY, SECONDARY = "ˈ", "ˌ"
STRESSES = SECONDARY + PRIMARY
VOWELS = frozenset("AIOQWYaiuæɑɒɔəɛɜɪʊʌᵻ")
US_TAUS = frozenset("AIOWYiuæɑəɛɪɹʊʌ")
_LEXICON_CHARS = frozenset("'-" + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
TAG = "NN"
Entry = str | Mapping[str, str | None]


def load_dictionaries() -> tuple[dict[str, Entry], dict[str, Entry]]:
    """misaki's gold and silver US dictionaries, grown with the case variants misaki adds."""
    out: list[dict[str, Entry]] = []
    for name in ("us_gold.json", "us_silver.json"):
        try:
            raw = (resources.files("misaki") / "data" / name).read_text(encoding="utf-8")
            out.append(_grow(json.loads(raw)))
        except (ModuleNotFoundError, OSError, ValueError) as exc:
            raise AssetError(f"misaki's English lexicon ({name}) is missing or unreadable: {FIX_COMMAND}") from exc
    return out[0], out[1]


def _grow(entries: dict[str, Entry]) -> dict[str, Entry]:
    extra: dict[str, Entry] = {}
    for key, value in entries.items():
        if len(key) < 2:
            continue
        if key == key.lower():
            if key != key.capitalize():
                extra[key.capitalize()] = value
        elif key == key.lower().capitalize():
            extra[key.lower()] = value
    return {**extra, **entries}


def apply_stress(ps: str | None, stress: float | None) -> str | None:
    """misaki's ``apply_stress``: demote, remove or add stress marks."""
    if ps is None or stress is None:
        return ps
    if stress < -1:
        return ps.replace(PRIMARY, "").replace(SECONDARY, "")
    if stress == -1 or (stress in (0, -0.5) and PRIMARY in ps):
        return ps.replace(SECONDARY, "").replace(PRIMARY, SECONDARY)
    if stress in (0, 0.5, 1) and all(s not in ps for s in STRESSES):
        return ps if all(v not in ps for v in VOWELS) else _restress(SECONDARY + ps)
    if stress >= 1 and PRIMARY not in ps and SECONDARY in ps:
        return ps.replace(SECONDARY, PRIMARY)
    if stress > 1 and all(s not in ps for s in STRESSES):
        return ps if all(v not in ps for v in VOWELS) else _restress(PRIMARY + ps)
    return ps


def _restress(ps: str) -> str:
    """Move each stress mark to just before the next vowel."""
    order = [(float(i), c) for i, c in enumerate(ps)]
    for i, c in enumerate(ps):
        if c in STRESSES:
            vowel = next((j for j in range(i, len(ps)) if ps[j] in VOWELS), i)
            order[i] = (vowel - 0.5, c)
    return "".join(c for _, c in sorted(order))


class Lexicon:
    """misaki's lexicon lookup (``Lexicon.get_word`` and what it calls), for one word taken as a noun."""

    def __init__(self, golds: dict[str, Entry], silvers: dict[str, Entry]) -> None:
        self.golds = golds
        self.silvers = silvers

    def __call__(self, word: str) -> str | None:
        """misaki's phonemes for ``word`` (before the v1.0 flap/glottal rewrite), or ``None`` if unknown."""
        word = unicodedata.normalize("NFKC", word.replace("\u2018", "'").replace("\u2019", "'"))
        stress = None if word == word.lower() else (2.0 if word == word.upper() else 0.5)
        return self.get_word(word, stress)

    def get_word(self, word: str, stress: float | None) -> str | None:
        special = self._special(word)
        if special is not None:
            return special
        lower = word.lower()
        if (
            len(word) > 1 and word.replace("'", "").isalpha() and word != lower
            and word not in self.golds and word not in self.silvers
            and (word == word.upper() or word[1:] == word[1:].lower())
            and (lower in self.golds or lower in self.silvers or self._any_stem(lower, stress))
        ):  # fmt: skip
            word = lower
        if self.is_known(word):
            return self.lookup(word, stress)
        if word.endswith("s'") and self.is_known(word[:-2] + "'s"):
            return self.lookup(word[:-2] + "'s", stress)
        if word.endswith("'") and self.is_known(word[:-1]):
            return self.lookup(word[:-1], stress)
        return (
            self.stem_s(word, stress)
            or self.stem_ed(word, stress)
            or self.stem_ing(word, 0.5 if stress is None else stress)
        )

    def _any_stem(self, word: str, stress: float | None) -> bool:
        return any(fn(word, stress) for fn in (self.stem_s, self.stem_ed, self.stem_ing))

    def _special(self, word: str) -> str | None:
        if "." in word.strip(".") and word.replace(".", "").isalpha() and len(max(word.split("."), key=len)) < 3:
            return self.get_nnp(word)
        if word in ("a", "A"):
            return "ˈA"
        if word in ("am", "Am", "AM"):
            return self.get_nnp(word)  # a noun (NN): the letters
        if word in ("an", "An", "AN"):
            return self.get_nnp(word) if word == "AN" else "ɐn"
        if word in ("in", "In") or word == "IN":
            return PRIMARY + "ɪn"
        if word in ("the", "The"):
            return "ðə"
        if word in ("to", "To"):
            return _by_tag(self.golds.get("to"))
        if word in ("used", "Used", "USED"):
            entry = self.golds.get("used")
            return entry.get("DEFAULT") if isinstance(entry, Mapping) else entry
        return None

    def get_nnp(self, word: str) -> str | None:
        """Letter by letter with English letter names, the last one primary-stressed."""
        letters = [self.golds.get(c.upper()) for c in word if c.isalpha()]
        if any(not isinstance(p, str) for p in letters):
            return None
        ps = apply_stress("".join(p for p in letters if isinstance(p, str)), 0) or ""
        head, sep, tail = ps.rpartition(SECONDARY)
        return head + PRIMARY + tail if sep else ps

    def is_known(self, word: str) -> bool:
        if word in self.golds or word in self.silvers:
            return True
        if not word.isalpha() or not all(c in _LEXICON_CHARS for c in word):
            return False
        if len(word) == 1:
            return True
        if word == word.upper() and word.lower() in self.golds:
            return True
        return word[1:] == word[1:].upper()

    def lookup(self, word: str, stress: float | None) -> str | None:
        if word == word.upper() and word not in self.golds:
            word = word.lower()
        entry: Entry | None = self.golds.get(word)
        if entry is None:
            entry = self.silvers.get(word)
        ps = _by_tag(entry)
        if ps is None:
            found = self.get_nnp(word)
            if found is not None:
                return found
        return apply_stress(ps, stress)

    def stem_s(self, word: str, stress: float | None) -> str | None:
        if len(word) < 3 or not word.endswith("s"):
            return None
        if not word.endswith("ss") and self.is_known(word[:-1]):
            stem = word[:-1]
        elif (
            word.endswith("'s") or (len(word) > 4 and word.endswith("es") and not word.endswith("ies"))
        ) and self.is_known(word[:-2]):
            stem = word[:-2]
        elif len(word) > 4 and word.endswith("ies") and self.is_known(word[:-3] + "y"):
            stem = word[:-3] + "y"
        else:
            return None
        return plural(self.lookup(stem, stress))

    def stem_ed(self, word: str, stress: float | None) -> str | None:
        if len(word) < 4 or not word.endswith("d"):
            return None
        if not word.endswith("dd") and self.is_known(word[:-1]):
            stem = word[:-1]
        elif len(word) > 4 and word.endswith("ed") and not word.endswith("eed") and self.is_known(word[:-2]):
            stem = word[:-2]
        else:
            return None
        return _past(self.lookup(stem, stress))

    def stem_ing(self, word: str, stress: float | None) -> str | None:
        if len(word) < 5 or not word.endswith("ing"):
            return None
        if len(word) > 5 and self.is_known(word[:-3]):
            stem = word[:-3]
        elif self.is_known(word[:-3] + "e"):
            stem = word[:-3] + "e"
        elif len(word) > 5 and re.search(r"([bcdgklmnprstvxz])\1ing$|cking$", word) and self.is_known(word[:-4]):
            stem = word[:-4]
        else:
            return None
        return _gerund(self.lookup(stem, stress))


def _by_tag(entry: Entry | None) -> str | None:
    if entry is None or isinstance(entry, str):
        return entry
    if "None" in entry:  # misaki's choice when nothing follows the word (its context has no next vowel)
        return entry["None"]
    return entry[TAG] if TAG in entry else entry.get("NOUN", entry.get("DEFAULT"))


def plural(stem: str | None) -> str | None:
    if not stem:
        return None
    if stem[-1] in "ptkfθ":
        return stem + "s"
    if stem[-1] in "szʃʒʧʤ":
        return stem + "ᵻz"
    return stem + "z"


def _past(stem: str | None) -> str | None:
    if not stem:
        return None
    if stem[-1] in "pkfθʃsʧ":
        return stem + "t"
    if stem[-1] == "d":
        return stem + "ᵻd"
    if stem[-1] != "t":
        return stem + "d"
    if len(stem) < 2:
        return stem + "ɪd"
    return stem[:-1] + "ɾᵻd" if stem[-2] in US_TAUS else stem + "ᵻd"


def _gerund(stem: str | None) -> str | None:
    if not stem:
        return None
    if len(stem) > 1 and stem[-1] == "t" and stem[-2] in US_TAUS:
        return stem[:-1] + "ɾɪŋ"
    return stem + "ɪŋ"
