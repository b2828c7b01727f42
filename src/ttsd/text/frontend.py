"""The Mandarin text front end: text or SSML segments -> :class:`Sentence` objects, lazily, one at a time.

Pipeline (docs/frontend.md has the full description):

1. :func:`ttsd.text.plan.plan` cuts the input into sentence units (string work only, up front).
2. Per unit, when the caller asks for the next sentence: normalize each plain part (customer-service
   rewrites, then WeTextProcessing's grammar only if the part has digits or symbols), read ``say-as`` and
   ``sub`` parts, and run G2P **once** over the unit's whole spoken text (model, rules, lexicons).
3. Tokens keep the original text (:mod:`ttsd.text.tokens`); ``<phoneme>`` parts get their forced syllables.
4. Sentences over the voice's budget are cut on those tokens (:mod:`ttsd.text.cutting`), never read again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from ttsd.errors import TextError
from ttsd.text.cutting import unit_sentences
from ttsd.text.explain import ExplainRow, explain_rows
from ttsd.text.g2p import G2P, Reading
from ttsd.text.latin import classify_text
from ttsd.text.lexicon import builtin_lexicon, load_lexicon
from ttsd.text.normalize import TextNormalizer, clean
from ttsd.text.pinyin import syllable_to_phones
from ttsd.text.plan import Part, Unit, plan
from ttsd.text.polyphone import PolyphoneModel
from ttsd.text.sayas import read_say_as
from ttsd.text.tokens import build_tokens
from ttsd.text.types import Budget, Budgets, Segment, Sentence, Token, budget_of

_NOTHING = (
    "text contains nothing pronounceable after normalization: "
    "send Chinese characters, Latin letters or digits (emoji and symbols are not read)"
)


class TextFrontend:
    """Text -> sentences. Thread-safe; reuse one instance per process.

    * ``lexicon``: optional user lexicon (``word pin1 yin1`` lines); overrides every other reading.
    * ``cache_dir``: where the normalizer's compiled grammar and jieba's dictionary cache live.
    * ``polyphone_model``: use the polyphone model (``False``: dictionary readings, as before issue 9).
    """

    def __init__(
        self,
        *,
        lexicon: Path | None = None,
        cache_dir: Path | None = None,
        polyphone_model: bool = True,
    ) -> None:
        self._normalizer = TextNormalizer(cache_dir=cache_dir)
        self._g2p = G2P(
            lexicon=load_lexicon(lexicon) if lexicon is not None else None,
            builtin=builtin_lexicon(),
            model=PolyphoneModel.load() if polyphone_model else None,
            jieba_cache_dir=Path(cache_dir) / "jieba" if cache_dir is not None else None,
        )

    def warmup(self) -> None:
        """Pay one-time costs now (grammar load or build, jieba dictionary) rather than on a request."""
        self._normalizer.load()
        for _ in self.sentences("2024年3月5日10:43，他耐心地回答了GPU的问题。", budget=_UNLIMITED):
            pass

    def normalize(self, text: str) -> str:
        """The whole text normalized (numbers, dates, units... in Chinese characters)."""
        return self._normalizer.normalize(text)

    def sentences(self, source: str | Sequence[Segment], *, budget: Budgets) -> Iterator[Sentence]:
        """Sentences in reading order, each normalized and read only when asked for.

        Raises :class:`TextError` (on the first ``next()``) when nothing in the input can be spoken.
        """
        units = plan(source)
        if not units:
            raise TextError("text is empty: send at least one Chinese character, letter or digit")
        spoken = False
        held: list[Sentence] = []  # pure pauses before the first spoken sentence
        for unit in units:
            for sentence in self._read_unit(unit, budget):
                if not sentence.syllables:
                    if spoken:
                        yield sentence
                    else:
                        held.append(sentence)
                    continue
                if not spoken:
                    spoken = True
                    yield from held
                yield sentence
        if not spoken:
            raise TextError(_NOTHING)

    def explain(self, text: str) -> list[ExplainRow]:
        """Per token of every sentence: its text, what was read, the pinyin and where the reading came from."""
        return explain_rows(self.sentences(text, budget=_UNLIMITED))

    def latin_runs(self, text: str) -> list[tuple[str, str, str]]:
        """``(run, class, what decided it)`` for each run of Latin letters in ``text`` (:mod:`ttsd.text.latin`)."""
        return classify_text(clean(text), self._g2p.latin_table)

    def phonemes(self, text: str) -> tuple[str, ...]:
        """Phones of already-normalized ``text`` without splitting (may exceed ``max_phonemes``)."""
        return self._g2p.phonemes(text)

    def _read_unit(self, unit: Unit, budget: Budgets) -> Iterator[Sentence]:
        tokens = _trim(self._tokens(unit.parts)) if unit.parts else []
        yield from unit_sentences(
            tokens,
            budget=budget_of(budget, unit.voice),
            pause_after_s=unit.pause_after_s,
            prosody=unit.prosody,
            voice=unit.voice,
        )

    def _tokens(self, parts: Sequence[Part]) -> list[Token]:
        spoken = [self._spoken(part) for part in parts]
        readings = self._g2p.read("".join(spoken), english=_english_ranges(parts, spoken))
        tokens: list[Token] = []
        offset = 0
        for part, said in zip(parts, spoken, strict=True):
            end = offset + len(said)
            own = [r if not offset else _shift(r, -offset) for r in readings if offset <= r.start < end]
            tokens.extend(_part_tokens(part, said, own))
            offset = end
        return tokens

    def _spoken(self, part: Part) -> str:
        segment = part.segment
        if segment.alias is not None:
            return self._normalizer.normalize(segment.alias)
        if segment.say_as is not None:
            said = read_say_as(part.text, segment.say_as, segment.say_as_format)
            return self._normalizer.normalize(part.text if said is None else said)
        if segment.pinyin is not None:
            return part.text
        return self._normalizer.normalize(part.text)


_UNLIMITED = Budget(limit=1 << 30, per_token=lambda token: len(token.syllables))


def _part_tokens(part: Part, spoken: str, readings: list[Reading]) -> list[Token]:
    segment = part.segment
    if part.plain:
        return build_tokens(part.text, spoken, readings)
    if segment.pinyin is not None:
        return _forced_tokens(part.text, segment.pinyin)
    syllables = tuple(s for r in readings for s in r.syllables)
    source = "markup" if syllables else "silent"
    latin = readings[0].latin if len(readings) == 1 and segment.say_as is None else None
    said = spoken if spoken != part.text else ""
    return [Token(text=part.text, syllables=syllables, source=source, spoken=said, latin=latin)]


def _english_ranges(parts: Sequence[Part], spoken: Sequence[str]) -> list[tuple[int, int]]:
    """Ranges of the joined spoken text inside SSML ``<lang xml:lang="en...">``: their letters are English."""
    ranges: list[tuple[int, int]] = []
    offset = 0
    for part, said in zip(parts, spoken, strict=True):
        if part.segment.lang is not None and part.segment.lang.lower().startswith("en"):
            ranges.append((offset, offset + len(said)))
        offset += len(said)
    return ranges


def _forced_tokens(text: str, pinyin: Sequence[str]) -> list[Token]:
    """``<phoneme alphabet="py">``: one TONE3 syllable per Han character, validated."""
    han = [i for i, ch in enumerate(text) if _is_han(ch)]
    if len(han) != len(pinyin):
        raise TextError(
            f"phoneme: {text!r} has {len(han)} Chinese characters but {len(pinyin)} pinyin syllables were given"
        )
    for syllable in pinyin:
        syllable_to_phones(syllable)  # raises TextError naming the bad syllable
    forced = dict(zip(han, (s.lower() for s in pinyin), strict=True))
    return [
        Token(text=ch, syllables=(forced[i],), source="markup") if i in forced else Token(ch, (), "silent")
        for i, ch in enumerate(text)
    ]


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\U00020000" <= ch <= "\U0003134f"


def _shift(reading: Reading, delta: int) -> Reading:
    return Reading(reading.start + delta, reading.end + delta, reading.syllables, reading.source, reading.latin)


def _trim(tokens: list[Token]) -> list[Token]:
    """Drop whitespace-only silent tokens at both ends (sentence text is stripped, as before)."""
    start, end = 0, len(tokens)
    while start < end and tokens[start].silent and not tokens[start].text.strip():
        start += 1
    while end > start and tokens[end - 1].silent and not tokens[end - 1].text.strip():
        end -= 1
    return tokens[start:end]
