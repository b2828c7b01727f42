"""An English word -> Kokoro's English phonemes, the way misaki's English G2P reads a word, offline.

1. The word is cut into misaki's sub-tokens (``iPhone`` -> ``i`` + ``Phone``, ``Wi-Fi`` -> ``Wi`` ``-`` ``Fi``)
   and looked up greedily, longest span first, in misaki's lexicon (:mod:`.english_lexicon`): ``Wi-Fi`` is a
   dictionary entry as a whole, ``iPhone`` is ``i`` + ``Phone`` with the second stress demoted (misaki's
   ``resolve_tokens``).
2. A word with any sub-token the lexicon does not know is read whole by eSpeak NG (:mod:`.espeak`), rewritten
   into misaki's phoneme set (misaki's ``EspeakFallback``).
3. Kokoro v1.0's convention: flap ``ɾ`` is written ``T``, glottal stop ``t``.

Readings are cached per word (a bounded dict). Thread-safe. Assets are checked by :meth:`EnglishG2P.check`
(the voice's load calls it: a missing package is one :class:`~ttsd.errors.AssetError` naming the fix) and
loaded on first use (0.2 s, about 40 MB: the two JSON dictionaries) or by :meth:`EnglishG2P.warmup`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from importlib.util import find_spec

from ttsd.errors import AssetError
from ttsd.voices.kokoro.english_lexicon import FIX_COMMAND, PRIMARY, Lexicon, apply_stress, load_dictionaries
from ttsd.voices.kokoro.espeak import Espeak, to_misaki

_LU, _LL, _L = "[A-Z\u00c0-\u00de]", "[a-z\u00df-\u00ff]", "[A-Za-z\u00c0-\u024f]"
_Q = "['\u2018\u2019]"
# misaki 0.9.4's SUBTOKEN_REGEX with \p{Lu}, \p{Ll}, \p{L} spelled out for Latin letters (all a piece can hold).
SUBTOKEN = re.compile(
    rf"^{_Q}+|{_LU}(?={_LU}{_LL})|(?:^-)?(?:\d?[,.]?\d)+|[-_]+|{_Q}{{2,}}|{_L}*?(?:{_Q}{_L})*?{_LL}(?={_LU})"
    rf"|{_L}+(?:{_Q}{_L})*|[^-_A-Za-z\u00c0-\u024f'\u2018\u2019\d]|{_Q}+$"
)
_JUNK = frozenset("',-._\u2018\u2019/")
_DIPHTHONGS = frozenset("AIOQWYʤʧ")
CACHE_SIZE = 4096
LEXICON_SOURCE = "misaki lexicon"
ESPEAK_SOURCE = "eSpeak NG"


@dataclass(frozen=True, slots=True)
class EnglishReading:
    phonemes: str  # misaki's American phonemes, Kokoro v1.0 conventions
    source: str  # LEXICON_SOURCE or ESPEAK_SOURCE


class EnglishG2P:
    """English words -> phonemes. ``lexicon``/``espeak`` factories are called once, on first use."""

    def __init__(
        self,
        *,
        lexicon: Callable[[], Lexicon] | None = None,
        espeak: Callable[[], Espeak] | None = None,
    ) -> None:
        self._make_lexicon = lexicon or (lambda: Lexicon(*load_dictionaries()))
        self._make_espeak = espeak or Espeak.from_package
        self._lock = threading.Lock()
        self._lexicon: Lexicon | None = None
        self._espeak: Espeak | None = None
        self._cache: dict[str, EnglishReading] = {}

    @staticmethod
    def check() -> None:
        """Raise :class:`AssetError` naming the fix if misaki's lexicon or eSpeak NG is not installed."""
        if find_spec("misaki") is None or not (resources.files("misaki") / "data" / "us_gold.json").is_file():
            raise AssetError(f"misaki's English lexicon is not installed: {FIX_COMMAND}")
        Espeak.from_package()

    def warmup(self) -> None:
        """Load the lexicon and eSpeak now rather than on the first English word."""
        self.read("Google")
        self.read("Hifigan")

    def read(self, word: str) -> EnglishReading:
        """The phonemes of one English word (letters, with ``-`` or ``'`` inside)."""
        with self._lock:
            found = self._cache.get(word)
            if found is None:
                found = self._read(word)
                if len(self._cache) >= CACHE_SIZE:
                    self._cache.clear()
                self._cache[word] = found
            return found

    def _read(self, word: str) -> EnglishReading:
        if self._lexicon is None:
            self._lexicon = self._make_lexicon()
        phonemes = lexicon_phonemes(self._lexicon, word)
        source = LEXICON_SOURCE
        if phonemes is None:
            if self._espeak is None:
                self._espeak = self._make_espeak()
            phonemes, source = to_misaki(self._espeak.ipa(word)), ESPEAK_SOURCE
        return EnglishReading(phonemes.replace("ɾ", "T").replace("ʔ", "t"), source)


def lexicon_phonemes(lexicon: Lexicon, word: str) -> str | None:
    """misaki's reading of ``word`` from its lexicon alone (sub-tokens, greedy), or ``None`` (use eSpeak)."""
    parts: list[str] = SUBTOKEN.findall(word)
    if len(parts) <= 1:
        return lexicon(word)
    found: list[str | None] = [None] * len(parts)
    left, right = 0, len(parts)
    while left < right:
        ps = lexicon("".join(parts[left:right]))
        if ps is not None:
            found[left:right] = [ps] + [""] * (right - left - 1)
            right, left = left, 0
        elif left + 1 < right:
            left += 1
        else:
            right -= 1
            if found[right] is None:
                if not all(c in _JUNK for c in parts[right]):
                    return None
                found[right] = ""
            left = 0
    return _resolve_stress(parts, [p or "" for p in found])


def _resolve_stress(parts: list[str], phonemes: list[str]) -> str:
    """misaki's ``resolve_tokens`` for sub-tokens of one word with no space: demote the weaker stresses."""
    indices = sorted(
        (PRIMARY in ps, sum(2 if c in _DIPHTHONGS else 1 for c in ps), i) for i, ps in enumerate(phonemes) if ps
    )
    by_position = sorted(indices, key=lambda t: t[2])
    if len(by_position) == 2 and len(parts[by_position[0][2]]) == 1:
        i = by_position[1][2]
        phonemes[i] = apply_stress(phonemes[i], -0.5) or ""
    elif len(indices) >= 2 and sum(b for b, _, _ in indices) > (len(indices) + 1) // 2:
        for _, _, i in indices[: len(indices) // 2]:
            phonemes[i] = apply_stress(phonemes[i], -0.5) or ""
    return "".join(phonemes)


def english_reader() -> Callable[[str], str]:
    """The Kokoro voice's reader (``word -> phonemes``): assets checked now, loaded on the first English word."""
    EnglishG2P.check()
    g2p = EnglishG2P()
    return lambda word: g2p.read(word).phonemes
