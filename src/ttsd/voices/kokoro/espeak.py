"""eSpeak NG for English words outside misaki's lexicon, as misaki's ``EspeakFallback`` uses it (offline).

The library and its data come from the PyPI package ``espeakng-loader`` (0.2.4: ``libespeak-ng.so`` 1.52 and
``espeak-ng-data`` inside the wheel); nothing is downloaded. It is called through ``ctypes`` directly (misaki goes
through the ``phonemizer-fork`` package, which adds nothing we need): US English voice, IPA output with stress
marks and ``^`` tying the letters of one phoneme, then misaki's own rewrite of eSpeak's IPA into the
phoneme set Kokoro was trained on (``E2M`` below and :func:`to_misaki`, copied from misaki 0.9.4's
``espeak.py``, Apache-2.0, for American English and Kokoro v1.0: flap ``ɾ`` -> ``T``, glottal stop -> ``t``).

eSpeak keeps global state, so one lock serializes every call (a word takes well under a millisecond).
"""

from __future__ import annotations

import ctypes
import re
import threading
from pathlib import Path

from ttsd.errors import AssetError

FIX_COMMAND = "pip install espeakng-loader==0.2.4 (or scripts/install.sh --kokoro-only)"
_SYNCHRONOUS = 0x02  # espeak_AUDIO_OUTPUT: AUDIO_OUTPUT_SYNCHRONOUS (no audio device is opened)
_UTF8 = 1  # espeakCHARS_UTF8
_IPA_TIED = 0x02 | 0x80 | (ord("^") << 8)  # IPA, and "^" between the letters of one phoneme
# misaki 0.9.4 espeak.py, EspeakFallback.E2M: longest first.
E2M = sorted(
    {
        "ʔˌn\u0329": "ʔn", "ʔn\u0329": "ʔn", "a^ɪ": "I", "a^ʊ": "W", "d^ʒ": "ʤ", "e^ɪ": "A", "e": "A",
        "t^ʃ": "ʧ", "ɔ^ɪ": "Y", "ə^l": "ᵊl", "ʲo": "jo", "ʲə": "jə", "ʲ": "", "ɚ": "əɹ", "r": "ɹ",
        "x": "k", "ç": "k", "ɐ": "ə", "ɬ": "l", "\u0303": "",
    }.items(),
    key=lambda kv: -len(kv[0]),
)  # fmt: skip
_SYLLABIC = re.compile(r"(\S)\u0329")


def to_misaki(ipa: str) -> str:
    """eSpeak's US IPA (stress marks, ``^`` ties) -> misaki's American phonemes, as misaki 0.9.4 rewrites them."""
    ps = ipa.strip()
    for old, new in E2M:
        ps = ps.replace(old, new)
    ps = _SYLLABIC.sub(r"ᵊ\1", ps).replace(chr(809), "")
    ps = ps.replace("o^ʊ", "O").replace("ɜːɹ", "ɜɹ").replace("ɜː", "ɜɹ").replace("ɪə", "iə").replace("ː", "")
    ps = ps.replace("o", "ɔ")  # for espeak < 1.52, as misaki does
    ps = ps.replace("ɾ", "T").replace("ʔ", "t")  # Kokoro v1.0 (misaki's version != "2.0")
    return ps.replace("^", "")


class Espeak:
    """US English text -> eSpeak IPA (stress marked). Thread-safe (one lock); loaded on first use."""

    def __init__(self, library: Path, data: Path) -> None:
        self._library = library
        self._data = data
        self._lock = threading.Lock()
        self._lib: ctypes.CDLL | None = None

    @classmethod
    def from_package(cls) -> Espeak:
        """The library and data shipped in ``espeakng-loader``; :class:`AssetError` naming the fix if absent."""
        try:
            import espeakng_loader  # type: ignore[import-untyped]

            library, data = Path(espeakng_loader.get_library_path()), Path(espeakng_loader.get_data_path())
        except (ImportError, RuntimeError) as exc:
            raise AssetError(f"eSpeak NG (English words outside the lexicon) is not installed: {FIX_COMMAND}") from exc
        if not library.is_file() or not (data / "en_dict").is_file():
            raise AssetError(f"eSpeak NG's library or English data is missing under {library.parent}: {FIX_COMMAND}")
        return cls(library, data)

    def ipa(self, text: str) -> str:
        """eSpeak's IPA for ``text`` (clauses joined by a space)."""
        with self._lock:
            lib = self._load()
            buffer = ctypes.create_string_buffer(text.encode("utf-8"))
            pointer = ctypes.c_void_p(ctypes.addressof(buffer))
            out: list[str] = []
            while pointer.value:
                result = lib.espeak_TextToPhonemes(ctypes.byref(pointer), _UTF8, _IPA_TIED)
                if result:
                    out.append(result.decode("utf-8", errors="ignore"))
            return " ".join(p.strip() for p in out if p.strip())

    def _load(self) -> ctypes.CDLL:
        if self._lib is None:
            try:
                lib = ctypes.CDLL(str(self._library))
            except OSError as exc:
                raise AssetError(f"cannot load eSpeak NG from {self._library}: {exc}; {FIX_COMMAND}") from exc
            lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
            lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
            if lib.espeak_Initialize(_SYNCHRONOUS, 0, str(self._data).encode(), 0) <= 0:
                raise AssetError(f"eSpeak NG could not read its data in {self._data}; {FIX_COMMAND}")
            if lib.espeak_SetVoiceByName(b"en-us") != 0:
                raise AssetError(f"eSpeak NG has no en-us voice in {self._data}; {FIX_COMMAND}")
            self._lib = lib
        return self._lib
