"""The request plan: what a request will do, decided once, as data, before any work; and the one per-sentence
step every entry point runs (the server's :mod:`ttsd.pipeline.job` and the Python API's
:mod:`ttsd.pipeline.local` alike).

Two stages, each made once and only read afterwards:

* :func:`plan_request` (admission, on the event loop, arithmetic only): the input type (markup is detected
  here and nowhere else), the request's own voice as a :class:`Section` (family, speaker, controls validated
  once), the cost estimate (audio seconds, at the controls' one speed) and the deadline.
* :func:`read_script` (the front-end pool's first hop, because parsing SSML is real work): the source (the
  text, or the parsed SSML segments) and one :class:`Section` per voice name the document uses, each resolved
  and validated once, each with its own family's budget (a ``<voice>`` switch to Kokoro is cut to Kokoro's
  500 ids, not to Baker's 96).

:func:`prepare` is the per-sentence step: sentence -> :class:`Prepared` (the family's ids, the controls with
the sentence's SSML prosody folded in, its volume gain, its cache key). The joining step is
:class:`ttsd.pipeline.timeline.Timeline`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from ttsd.controls import Controls, with_prosody
from ttsd.errors import InvalidControl, TextTooLong, UnknownVoice
from ttsd.pipeline.cache import CacheKey, cache_key
from ttsd.pipeline.request import SynthesisRequest
from ttsd.text.types import Budget, Segment, Sentence
from ttsd.voices.base import Utterance, Voice, budget_for

# Audio seconds a character of input is priced at before its text is processed (Mandarin is read at about
# 4-5 characters a second; markup and Latin text overestimate, which errs on the safe side).
AUDIO_S_PER_CHAR = 0.25
# OpenAI's voice names: accepted as "voice" and mapped to the default voice.
OPENAI_VOICES = (
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage", "shimmer", "verse"
)  # fmt: skip
# An SSML document may be this many times longer than the text limit (tags and attributes); its text may not.
MARKUP_ALLOWANCE = 10


class VoiceTable:
    """Voice names -> (voice, speaker): family names and every family's speakers; the default voice. Read-only
    once built (the engine's front-end pool reads it from several threads)."""

    def __init__(self, voices: Sequence[Voice], *, default: str | None = None) -> None:
        self.families: dict[str, Voice] = {}
        self._names: dict[str, tuple[Voice, str | None]] = {}
        for voice in voices:
            self.add(voice)
        if default is not None and default not in self._names:
            raise UnknownVoice(f"default voice {default!r} is not loaded; loaded: {', '.join(self.families)}")
        self.default = default if default is not None else next(iter(self.families), "")

    def add(self, voice: Voice) -> None:
        self.families[voice.info.name] = voice
        self._names[voice.info.name] = (voice, None)
        for speaker in voice.info.speakers:
            self._names.setdefault(speaker, (voice, speaker))

    def names(self) -> list[str]:
        return sorted(self._names)

    def resolve(self, name: str | None) -> tuple[Voice, str | None]:
        """A voice name -> (voice, speaker). Blends (``a:0.6,b:0.4``) go to the family of their first voice."""
        key = self.default if name in (None, "", "default") or name.lower() in OPENAI_VOICES else name
        found = self._names.get(key)
        if found is None and (":" in key or "," in key):
            first = self._names.get(key.split(",")[0].split(":")[0].strip())
            found = (first[0], key) if first is not None else None
        if found is None:
            names = ", ".join(self.names())
            raise UnknownVoice(f"unknown voice {name!r}; available: {names} (or an OpenAI voice name)")
        return found


@dataclass(frozen=True, slots=True)
class Section:
    """Where a stretch of the request runs: its voice (family) and its controls (speaker set, validated)."""

    voice: Voice
    controls: Controls

    @property
    def family(self) -> str:
        return self.voice.info.name

    @property
    def budget(self) -> Budget:
        """The family's budget at this section's speed (Kokoro cuts slower speech into shorter pieces: one
        model call's memory grows with the audio it makes)."""
        return budget_for(self.voice, self.controls.speed)

    def budget_at_rate(self, rate: float) -> Budget:
        """The budget for sentences whose markup multiplies this section's speed by ``rate`` (the slowest
        ``<prosody rate>`` the section's text uses), clamped to the speeds the voice takes."""
        return budget_for(self.voice, max(self.voice.info.speed_range[0], self.controls.speed * rate))


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPlan:
    """A request as admitted: decided once, read by every later stage.

    * ``markup``: the text is SSML (``input_type`` ssml, or auto and it starts like markup);
    * ``main``: the request's own voice; its family's rate is the response's rate;
    * ``cost_s``: the estimated audio seconds (admission's price and the whole-file size check);
    * ``deadline`` (loop time; ``inf`` for the Python API) and ``timeout_s`` (a stream's progress bound);
    * ``max_chars``: the spoken-text limit markup is parsed against;
    * ``background``: a long-form job's sentence (:mod:`ttsd.jobs`): its items run only when no interactive item
      is queued, and it is admitted against its lane's background budget."""

    text: str
    markup: bool
    main: Section
    cost_s: float
    deadline: float
    timeout_s: float
    stream: bool
    max_chars: int
    background: bool = False


def plan_request(
    request: SynthesisRequest,
    table: VoiceTable,
    *,
    max_text_chars: int | None,
    timeout_s: float = math.inf,
    now: float = 0.0,
    stream: bool = False,
) -> RequestPlan:
    """Every check that needs no text processing, in order: length, timeout, voice, controls; then the cost.
    ``max_text_chars=None``: no length limit (the Python API)."""
    markup = is_markup(request)
    length = len(request.text)
    limit = max_text_chars if max_text_chars is not None else length
    allowed = limit * (MARKUP_ALLOWANCE if markup else 1)
    if length > allowed:
        what = "SSML document" if markup else "text"
        raise TextTooLong(f"{what} is {length} characters long; the limit is {allowed}", limit=allowed, length=length)
    if request.timeout_s is not None and not request.timeout_s > 0:
        raise InvalidControl("timeout must be a positive number of seconds", param="timeout")
    voice, speaker = table.resolve(request.voice)
    main = _section(voice, request.controls if speaker is None else replace(request.controls, speaker=speaker))
    timeout = min(request.timeout_s or timeout_s, timeout_s)
    return RequestPlan(
        text=request.text,
        markup=markup,
        main=main,
        cost_s=length * AUDIO_S_PER_CHAR / main.controls.speed,
        deadline=now + timeout,
        timeout_s=timeout,
        stream=stream,
        max_chars=limit,
        background=request.background,
    )


def is_markup(request: SynthesisRequest) -> bool:
    """The one markup decision: ``ssml``, or ``auto`` and the text starts like markup (``<speak``, ``<?xml``,
    ``<!DOCTYPE``; :func:`ttsd.text.ssml.is_ssml`)."""
    if request.input_type == "text":
        return False
    from ttsd.text.ssml import is_ssml

    return request.input_type == "ssml" or is_ssml(request.text)


@dataclass(frozen=True, slots=True)
class Script:
    """What the front end reads (the text, or the parsed segments) and the section of every voice name in it
    (``None``: the request's own voice)."""

    source: str | tuple[Segment, ...]
    sections: Mapping[str | None, Section]

    @property
    def budgets(self) -> dict[str | None, Budget]:
        """Each section's family budget, by voice name: the front end cuts every sentence to its own (for markup,
        at the slowest ``<prosody rate>`` that section's text uses)."""
        if isinstance(self.source, str):
            return {name: s.budget for name, s in self.sections.items()}
        slowest: dict[str | None, float] = {}
        for segment in self.source:
            slowest[segment.voice] = min(slowest.get(segment.voice, 1.0), segment.prosody.rate)
        return {name: s.budget_at_rate(slowest.get(name, 1.0)) for name, s in self.sections.items()}


def read_script(plan: RequestPlan, table: VoiceTable) -> Script:
    """Parse the markup (if any) and resolve every ``<voice>`` once (a name ``table`` does not know is refused
    with its line). Thread-safe: the engine runs it on the front-end pool."""
    if not plan.markup:
        return Script(source=plan.text, sections={None: plan.main})
    return script_of(parse_markup(plan, table.names()), plan.main, table)


def parse_markup(plan: RequestPlan, voices: Collection[str] | None) -> list[Segment]:
    """The plan's SSML as segments, its spoken text held to ``plan.max_chars``; ``voices``: the names
    ``<voice>`` may use (``None``: any, resolved later)."""
    from ttsd.text.ssml import parse_ssml

    return parse_ssml(plan.text, max_chars=plan.max_chars, voices=voices)


def script_of(segments: Sequence[Segment], main: Section, table: VoiceTable) -> Script:
    """The script of already-parsed segments: one section per distinct voice name."""
    sections: dict[str | None, Section] = {None: main}
    for segment in segments:
        if segment.voice not in sections:
            sections[segment.voice] = switch_to(segment.voice, main, table)
    return Script(source=tuple(segments), sections=sections)


def switch_to(name: str | None, main: Section, table: VoiceTable) -> Section:
    """The section a ``<voice name>`` switches to: the request's controls with that voice's speaker (the
    request's own speaker is kept only when the name is its own family with no speaker of its own)."""
    voice, speaker = table.resolve(name)
    if voice is main.voice and speaker is None:
        return main
    return _section(voice, replace(main.controls, speaker=speaker))


def _section(voice: Voice, controls: Controls) -> Section:
    voice.validate(controls)
    return Section(voice=voice, controls=controls)


@dataclass(frozen=True, slots=True)
class Prepared:
    """One sentence ready to synthesize: its section, ids, controls (prosody folded in), gain and cache key
    (``None`` for a pure pause, which has no ids and is not synthesized)."""

    utterance: Utterance
    section: Section
    controls: Controls
    gain: float
    key: CacheKey | None

    @property
    def voice(self) -> Voice:
        return self.section.voice


def prepare(sentence: Sentence, script: Script, *, variant: str = "") -> Prepared:
    """The per-sentence step: encode to the section's ids, fold the SSML prosody (rate, pitch in the voice's
    semitone unit) into the controls, keep the volume as the joining gain, and key the sentence's audio."""
    section = script.sections[sentence.voice]
    voice = section.voice
    utterance = voice.encode(sentence)
    unit = voice.info.pitch_semitones
    shift = sentence.prosody.pitch_st / unit if unit > 0 else 0.0
    controls = with_prosody(section.controls, rate=sentence.prosody.rate, pitch_shift=shift)
    key = cache_key(voice.info, utterance, controls, variant=variant) if utterance.ids else None
    return Prepared(utterance=utterance, section=section, controls=controls, gain=sentence.prosody.volume, key=key)
