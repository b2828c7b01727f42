"""Text normalization (numbers, dates, money... -> Chinese words) and how Latin letters are read.

Normalization uses WeTextProcessing's Chinese grammar (``tn.chinese.normalizer.Normalizer``). Its
FSTs are built once with our options (erhua, interjections and full-width punctuation kept, so that
sentence splitting and pinyin see the original text) and cached on disk under ``cache_dir``; later
processes only read the cache (about 0.25 s instead of about 9 s). Sentences without digits or
number-like symbols skip the FST entirely.

Before the grammar, :mod:`ttsd.text.rewrite` reads codes, phone numbers, money with a symbol, scores...
the way customer-service speech reads them. Around the grammar we also fix a few inputs it reads badly
(``1,000``, ``¥12.5元``, ``10%-20%``, ``1990-2000``,
full-width ``～``/``—`` ranges, control characters) and, as a safety net, read any digit it leaves
behind one by one.

Latin letters are not dropped: :func:`spell_latin` reads each letter the way Mandarin speakers name it
(``GPU`` -> ji4 pi1 you1). Which Latin words are spelled and which are English words is decided later, by
:mod:`ttsd.text.latin`; voices without English phonemes (Baker) spell every one of them.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path

from ttsd.text.rewrite import rewrite
from ttsd.text.split import split_to_budget

log = logging.getLogger(__name__)

# Mandarin names of the Latin letters, as TONE3 pinyin (each maps onto Baker symbols).
LETTER_PINYIN: dict[str, tuple[str, ...]] = {
    "a": ("ei1",),
    "b": ("bi4",),
    "c": ("xi1",),
    "d": ("di4",),
    "e": ("yi4",),
    "f": ("ai4", "fu5"),
    "g": ("ji4",),
    "h": ("ei1", "qi1"),
    "i": ("ai4",),
    "j": ("zhei4",),
    "k": ("kei4",),
    "l": ("ai4", "le5"),
    "m": ("ai4", "mu5"),
    "n": ("en1",),
    "o": ("ou1",),
    "p": ("pi1",),
    "q": ("qiu1",),
    "r": ("a4", "er5"),
    "s": ("ai4", "si5"),
    "t": ("ti4",),
    "u": ("you1",),
    "v": ("wei1",),
    "w": ("da2", "bu5", "liu5"),
    "x": ("ai4", "ke4", "si5"),
    "y": ("wai1",),
    "z": ("zei4",),
}
DIGIT_CHARS = "零一二三四五六七八九"
# Symbols read aloud when they survive normalization.
_SYMBOL_WORDS = {"@": "艾特", "&": "和", "+": "加", "=": "等于", "%": "百分号"}

# Characters that make a sentence worth running through the FST grammar.
_NEEDS_TN = re.compile(r"[0-9%‰℃℉°$¥￥€£/:~+=×÷]")
_FULLWIDTH = {c: chr(c - 0xFEE0) for c in range(0xFF10, 0xFF5B) if chr(c - 0xFEE0).isalnum()}
# Control and format characters, and lone surrogates (they cannot even be encoded for the grammar).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_THOUSANDS = re.compile(r"(?<![\d,])(\d{1,3}(?:,\d{3})+)(?![\d,])")
_CURRENCY_BEFORE_YUAN = re.compile(r"[￥¥]\s*(?=[\d.,]+\s*元)")
_WIDE_RANGE = re.compile(r"(?<=\d|%)\s*[～〜—–－]+\s*(?=[\d])")
_PERCENT_RANGE = re.compile(r"(?<=\d%)\s*-\s*(?=\d)")
_YEAR_RANGE = re.compile(r"(?<![\d-])([12]\d{3})\s*-\s*([12]\d{3})(?![\d-])")
_LETTER_DASH_DIGIT = re.compile(r"(?<=[A-Za-z])-(?=\d)")
# Units the grammar misreads (5000mAh -> 五千米Ah, 50Hz stays letters): written out before it runs.
_UNIT_WORDS = re.compile(r"(?<=\d)\s*(mAh|[kMG]?Hz)(?![A-Za-z])")
_UNIT_NAMES = {"mAh": "毫安时", "Hz": "赫兹", "kHz": "千赫", "MHz": "兆赫", "GHz": "吉赫"}
_DIGIT = re.compile(r"[0-9]")
_FST_FILES = ("zh_tn_verbalizer.fst", "zh_tn_tagger.fst")
# The grammar runs per clause, and only on clauses with digits or symbols: its cost grows faster than the
# length, and a full-width clause mark never belongs to a number (the rewrites read "382915，5" already).
_CLAUSE_END = re.compile(r"(?<=[，、；。！？])")
_NON_HAN = re.compile(r"[^\u4e00-\u9fff，、；。！？]+")
ISLAND_CONTEXT = 4  # Han characters of context kept on each side of a number for the grammar
_FST_CHUNK = 400  # characters per grammar call: bounds the FST composition size on long sentences


def spell_latin(word: str) -> list[str]:
    """TONE3 pinyin syllables for a run of Latin letters, read letter by letter (case-insensitive)."""
    syllables: list[str] = []
    for ch in word:
        base = unicodedata.normalize("NFKD", ch)[:1].lower()
        syllables.extend(LETTER_PINYIN.get(base, ()))
    return syllables


def clean(text: str) -> str:
    """Full-width letters/digits to ASCII, ①/²/½/Ⅻ to plain digits and letters, control characters to
    spaces, runs of spaces to one."""
    text = "".join(_plain_number(ch) for ch in text.translate(_FULLWIDTH))
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _SPACES.sub(" ", text)


def _plain_number(ch: str) -> str:
    if ch.isascii() or unicodedata.category(ch) not in ("No", "Nl"):
        return ch
    return unicodedata.normalize("NFKC", ch).replace("\u2044", "/")


def prefix_for_grammar(text: str) -> str:
    """Rewrite inputs the grammar misreads into forms it reads well."""
    text = _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _CURRENCY_BEFORE_YUAN.sub("", text)
    text = _WIDE_RANGE.sub("~", text)
    text = _PERCENT_RANGE.sub("~", text)
    text = _YEAR_RANGE.sub(r"\1~\2", text)
    text = _UNIT_WORDS.sub(lambda m: _UNIT_NAMES[m.group(1)], text)
    return _LETTER_DASH_DIGIT.sub(" ", text)


def read_leftovers(text: str) -> str:
    """Safety net after the grammar: digits one by one, a few symbols as words."""
    text = _DIGIT.sub(lambda m: DIGIT_CHARS[int(m.group())], text)
    return "".join(_SYMBOL_WORDS.get(ch, ch) for ch in text)


class TextNormalizer:
    """Chinese text normalization with WeTextProcessing, FSTs cached in ``cache_dir``.

    ``cache_dir=None`` uses the user cache dir (``platformdirs.user_cache_dir("ttsd")``). The grammar is
    loaded (or built and cached) on first use or by :meth:`load`; calls are serialized by a lock because
    the pynini objects are not documented as thread-safe. If the grammar cannot be loaded or fails on an
    input, the text goes on un-normalized (digits still read one by one) and a warning is logged.
    """

    def __init__(self, *, cache_dir: Path | None = None) -> None:
        self._cache_dir = cache_dir
        self._lock = threading.Lock()
        self._fst: Callable[[str], str] | None = None
        self._failed = False

    @property
    def cache_dir(self) -> Path:
        """Directory holding the FST files for this WeTextProcessing version and our options."""
        root = self._cache_dir if self._cache_dir is not None else _default_cache_root()
        return Path(root) / f"wetext-{_wetext_version()}-keep-erhua-punct"

    def load(self) -> None:
        """Load (or build and cache) the grammar now instead of on the first :meth:`normalize`."""
        with self._lock:
            self._ensure_loaded()

    def normalize(self, text: str) -> str:
        """Normalized text: numbers, dates, times, money, units... spelled in Chinese characters."""
        text = clean(text)
        if _NEEDS_TN.search(text):
            text = rewrite(prefix_for_grammar(text))
        if _NEEDS_TN.search(text):
            text = self._run_grammar(text)
        return read_leftovers(text)

    def _run_grammar(self, text: str) -> str:
        with self._lock:
            fst = self._ensure_loaded()
            if fst is None:
                return text
            out: list[str] = []
            for clause in _CLAUSE_END.split(text):
                if len(clause) > _FST_CHUNK:
                    out.extend(_apply(fst, piece) for piece, _ in split_to_budget(clause, cost=len, budget=_FST_CHUNK))
                else:
                    out.append(_apply(fst, clause))
            return "".join(out)

    def _ensure_loaded(self) -> Callable[[str], str] | None:
        if self._fst is None and not self._failed:
            try:
                self._fst = _load_grammar(self.cache_dir)
            except Exception:  # a broken install must not take the service down: degrade, loudly
                log.exception("WeTextProcessing grammar unavailable; numbers will be read digit by digit")
                self._failed = True
        return self._fst


def _apply(fst: Callable[[str], str], text: str) -> str:
    """The grammar on the islands of ``text`` around digits and symbols; Han text far from them is kept."""
    if not _NEEDS_TN.search(text):
        return text
    out: list[str] = []
    done = 0
    for start, end in islands(text):
        out.append(text[done:start])
        out.append(_apply_once(fst, text[start:end]))
        done = end
    out.append(text[done:])
    return "".join(out)


def islands(text: str, *, context: int = ISLAND_CONTEXT) -> list[tuple[int, int]]:
    """Spans to normalize: each run of non-Han characters holding a digit or number symbol, with up to
    ``context`` Han characters on each side (units, 年月日, 第, 个...); overlapping spans merged."""
    spans: list[tuple[int, int]] = []
    for match in _NON_HAN.finditer(text):
        if not _NEEDS_TN.search(match.group()):
            continue
        start, end = match.start(), match.end()
        lo, hi = start, end
        while lo > 0 and start - lo < context and _is_han(text[lo - 1]):
            lo -= 1
        while hi < len(text) and hi - end < context and _is_han(text[hi]):
            hi += 1
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return spans


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _apply_once(fst: Callable[[str], str], text: str) -> str:
    try:
        return fst(text)
    except Exception:  # pynini raises plain exceptions on odd input; keep the text rather than fail the request
        log.warning("text normalization failed on %r; reading it unnormalized", text[:80], exc_info=True)
        return text


def _load_grammar(cache_dir: Path) -> Callable[[str], str]:
    """Read the cached FSTs; build them (and publish them atomically) when missing or unreadable."""
    if all((cache_dir / name).is_file() for name in _FST_FILES):
        try:
            return _wetext(cache_dir, rebuild=False)
        except Exception:
            log.warning("cached grammar in %s is unreadable; rebuilding it", cache_dir, exc_info=True)
    log.info("building the text normalization grammar into %s (once, about 10 s)", cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Build in a private dir, then move the files in: concurrent processes never read a half-written FST.
    with tempfile.TemporaryDirectory(prefix=".build-", dir=cache_dir) as tmp:
        fn = _wetext(Path(tmp), rebuild=True)
        for name in _FST_FILES:  # verbalizer first: a reader that sees the tagger sees both complete
            os.replace(Path(tmp) / name, cache_dir / name)
    return fn


def _wetext(cache_dir: Path, *, rebuild: bool) -> Callable[[str], str]:
    from tn.chinese.normalizer import Normalizer

    normalizer = Normalizer(
        cache_dir=str(cache_dir),
        overwrite_cache=rebuild,
        remove_erhua=False,
        remove_interjections=False,
        full_to_half=False,
        traditional_to_simple=True,
    )
    fn: Callable[[str], str] = normalizer.normalize
    return fn


def _default_cache_root() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("ttsd"))


def _wetext_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("WeTextProcessing")
    except PackageNotFoundError:
        return "unknown"
