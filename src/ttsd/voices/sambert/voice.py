"""Optional voice: ModelScope's Sambert-HifiGan pipeline (``damo/speech_sambert-hifigan_tts_zh-cn_16k``).

The pipeline synthesizes one whole text per call and does not batch, so this voice reports
``batchable=False`` and runs the items of a batch one after another. Its own front end (ttsfrd) normalizes
and phonemizes; ours only splits the text into sentences. The pipeline's input is text, so
:attr:`Utterance.ids` are the sentence's code points (the engine keys its sentence cache and picks length
buckets by ids) and :meth:`SambertVoice.estimate_frames` estimates from the character count.

ModelScope's documented contract, the only one this module relies on (see docs/modelscope.md)::

    p = modelscope.pipelines.pipeline(task=Tasks.text_to_speech, model=<model id or local dir>)
    p(input=text, voice="zhitian_emo") -> {"output_wav": <bytes of a 16 kHz mono WAV>}

plus, for discovering speakers, the model's ``get_voices()`` (or its ``voices/voices.json``). Emotions are
requested with an SSML ``<emotion>`` element around the sentence; whether ttsfrd honours it is NOT verified.
Where the pipeline comes from (this process or a Python 3.10 worker) is :mod:`ttsd.voices.sambert.pipeline`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf
import soxr

from ttsd.controls import Controls
from ttsd.errors import BackendError, BackendUnavailable, InvalidControl, UnknownVoice
from ttsd.text.types import Budget, Sentence, Token
from ttsd.voices.base import BatchItem, BatchOutput, FloatArray, Utterance, VoiceInfo
from ttsd.voices.options import VoiceOptions
from ttsd.voices.sambert.pipeline import (
    DEFAULT_MODEL,
    SAMPLE_RATE,
    PipelineFactory,
    SambertConfig,
    TTSPipeline,
    modelscope_pipeline,
)

log = logging.getLogger(__name__)

# KAN-TTS' 16 kHz configs use a 200-sample hop (12.5 ms): the frame unit of estimate_frames and BatchOutput.
FRAME_HOP = 200
# Mandarin runs at about 4-5 syllables (characters) a second: ~0.25 s = 20 frames of 12.5 ms per character.
FRAMES_PER_CHAR = 20
NEUTRAL = "neutral"
# Emotions of the multi-emotion speakers, as Alibaba Cloud documents them for the same voices. NOT verified
# against the open model (it does not list them); override with the ``emotions`` option.
KNOWN_EMOTIONS: Mapping[str, tuple[str, ...]] = {
    "zhitian_emo": ("neutral", "happy", "angry", "sad", "fear", "hate", "surprise"),
    "zhiyan_emo": ("neutral", "happy", "angry", "sad", "fear", "hate", "surprise", "arousal"),
    "zhibei_emo": ("neutral", "happy", "angry", "sad", "fear", "hate", "surprise"),
}
_UNSUPPORTED_CONTROLS: tuple[tuple[str, object], ...] = (
    ("speed", 1.0),
    ("pitch", 0.0),
    ("intonation", 1.0),
    ("energy", 1.0),
    ("variation", False),
)


def load(options: VoiceOptions, *, pipeline_factory: PipelineFactory | None = None) -> SambertVoice:
    """Registry entry point. ``pipeline_factory`` is the test seam (default: :func:`modelscope_pipeline`).

    Raises :class:`BackendUnavailable` naming what is missing (packages, model files) and how to install it.
    """
    config = SambertConfig.from_options(options)
    pipeline = (pipeline_factory or modelscope_pipeline)(config)
    speakers = config.speakers or discover_speakers(pipeline)
    if config.default_speaker is not None and speakers and config.default_speaker not in speakers:
        available = ", ".join(speakers)
        raise BackendUnavailable(
            f"default speaker {config.default_speaker!r} is not in the model; available: {available}"
        )
    emotions = {name: _emotions_for(name, config.emotions) for name in speakers}
    log.info("sambert voice loaded from %s: speakers %s", config.model, ", ".join(speakers) or "(model default)")
    return SambertVoice(pipeline=pipeline, config=config, speakers=speakers, emotions=emotions)


class SambertVoice:
    """The Voice protocol over a ModelScope TTS pipeline. Blocking and not thread-safe (as every voice)."""

    def __init__(
        self,
        *,
        pipeline: TTSPipeline,
        config: SambertConfig,
        speakers: Sequence[str],
        emotions: Mapping[str, tuple[str, ...]],
    ) -> None:
        self._pipeline = pipeline
        self._config = config
        self._speakers = tuple(speakers)
        self._emotions = dict(emotions)
        self._default_speaker = config.default_speaker or (self._speakers[0] if self._speakers else None)
        offered = [self._allowed_emotions(name) for name in self._speakers] or [self._allowed_emotions(None)]
        all_emotions = dict.fromkeys(e for emotions in offered for e in emotions)
        self._info = VoiceInfo(
            name="sambert",
            sample_rate=config.sample_rate,
            model_version=f"modelscope:{config.model}",
            device=config.device,
            precision="fp32",
            batchable=False,
            speakers=self._speakers,
            emotions=tuple(all_emotions),
            description="ModelScope Sambert-HifiGan (multi-speaker, multi-emotion Mandarin)",
            backend="modelscope",
            licence="see the ModelScope model card of the configured model",
        )

    @property
    def info(self) -> VoiceInfo:
        return self._info

    @property
    def sample_rate(self) -> int:
        return self._config.sample_rate

    @property
    def budget(self) -> Budget:
        """Sentences are cut (at ，、) to ``max_chars`` characters: ttsfrd does the rest in the pipeline."""
        return Budget(limit=self._config.max_chars, per_token=_token_chars)

    def encode(self, sentence: Sentence) -> Utterance:
        """The sentence's own characters (ttsfrd normalizes and phonemizes); nothing to say -> a pure pause."""
        text = sentence.text
        utterance = _utterance(text if _pronounceable(text) else "", sentence.pause_after_s)
        return dataclasses.replace(utterance, sentence=sentence)

    def estimate_frames(self, utterance: Utterance, controls: Controls) -> int:
        """About :data:`FRAMES_PER_CHAR` frames (of :data:`FRAME_HOP` samples) per pronounceable character."""
        return max(1, FRAMES_PER_CHAR * sum(ch.isalnum() for ch in utterance.text))

    def validate(self, controls: Controls) -> None:
        """Raise before queueing what this backend cannot honour.

        Unknown speaker or emotion: :class:`UnknownVoice` (HTTP 422). Speed, pitch, intonation, energy and
        variation other than their defaults: :class:`InvalidControl` (the pipeline has no such parameters).
        """
        for name, default in _UNSUPPORTED_CONTROLS:
            if getattr(controls, name) != default:
                raise InvalidControl(f"the sambert voice does not support {name}", param=name)
        speaker = self._speaker_for(controls)
        if controls.emotion is None or controls.emotion == NEUTRAL:
            return
        allowed = self._allowed_emotions(speaker)
        if controls.emotion not in allowed:
            offered = ", ".join(allowed) if allowed else "none"
            who = speaker or "(default)"
            raise UnknownVoice(f"speaker {who} has no emotion {controls.emotion!r}; available: {offered}")

    def run_batch(self, items: Sequence[BatchItem]) -> BatchOutput:
        """One pipeline call per item, in order. All the time counts as acoustic (no separate vocoder)."""
        start = time.perf_counter()
        waveforms = [self._synthesize(item) for item in items]
        elapsed = time.perf_counter() - start
        frames = sum(-(-len(w) // FRAME_HOP) for w in waveforms)
        return BatchOutput(
            waveforms=waveforms,
            acoustic_seconds=elapsed,
            vocoder_seconds=0.0,
            padded_frames=frames,
            frames=frames,
        )

    def warmup(self) -> None:
        """One short sentence through the pipeline (loads ttsfrd resources and the networks lazily built)."""
        self._synthesize(BatchItem(utterance=_utterance("你好。", 0.0)))

    def _allowed_emotions(self, speaker: str | None) -> tuple[str, ...]:
        if speaker is None:  # the model exposes no speakers: only an explicit override is known
            return self._config.emotions if self._config.emotions is not None else (NEUTRAL,)
        return self._emotions.get(speaker) or _emotions_for(speaker, self._config.emotions)

    def _speaker_for(self, controls: Controls) -> str | None:
        if controls.speaker is None:
            return self._default_speaker
        if controls.speaker not in self._speakers:
            offered = ", ".join(self._speakers) if self._speakers else "none (model default only)"
            raise UnknownVoice(f"the sambert voice has no speaker {controls.speaker!r}; available: {offered}")
        return controls.speaker

    def _synthesize(self, item: BatchItem) -> FloatArray:
        self.validate(item.controls)
        speaker = self._speaker_for(item.controls)
        text = emotion_markup(item.utterance.text, item.controls.emotion)
        kwargs = {"voice": speaker} if speaker is not None else {}
        try:
            output = self._pipeline(input=text, **kwargs)
        except Exception as exc:
            # The pipeline's message may quote internals; it goes to the log, the client gets a safe one.
            log.exception("sambert pipeline failed on %r (speaker %s)", item.utterance.text, speaker)
            raise BackendError("the sambert pipeline failed to synthesize a sentence") from exc
        return decode_output(output, sample_rate=self._config.sample_rate)


def emotion_markup(text: str, emotion: str | None) -> str:
    """``text`` as the pipeline input for ``emotion``: plain for none/neutral, else an SSML ``<emotion>``.

    The SSML form is Alibaba Cloud's convention for these voices; that ttsfrd parses it is NOT verified.
    """
    if emotion is None or emotion == NEUTRAL:
        return text
    return f'<speak><emotion category="{escape(emotion)}" intensity="1.0">{escape(text)}</emotion></speak>'


def decode_output(output: Mapping[str, Any], *, sample_rate: int) -> FloatArray:
    """Decode the pipeline's ``{"output_wav": bytes}`` to mono float32 at ``sample_rate`` (resampling).

    Raises :class:`BackendError` when the key is missing or the bytes are not a readable audio file.
    """
    wav = output.get("output_wav") if isinstance(output, Mapping) else None
    if not isinstance(wav, bytes | bytearray | memoryview):
        raise BackendError("the sambert pipeline returned no output_wav bytes")
    try:
        data, rate = sf.read(io.BytesIO(bytes(wav)), dtype="float32", always_2d=True)
    except RuntimeError as exc:  # soundfile.LibsndfileError is a RuntimeError
        raise BackendError("the sambert pipeline returned audio that cannot be decoded") from exc
    mono = np.asarray(data, dtype=np.float32).mean(axis=1)
    if int(rate) != sample_rate and len(mono):
        mono = soxr.resample(mono, int(rate), sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


def discover_speakers(pipeline: object) -> tuple[str, ...]:
    """Speakers the pipeline's model exposes: ``model.get_voices()``, else ``<model_dir>/voices/voices.json``.

    Returns ``()`` when neither is available (the model's default speaker is then the only one).
    """
    model = getattr(pipeline, "model", None)
    get_voices = getattr(model, "get_voices", None)
    if callable(get_voices):
        voices, voice_cfg = get_voices()
        if isinstance(voices, Mapping) and voices:
            return tuple(str(name) for name in voices)
        if isinstance(voice_cfg, Mapping):
            return tuple(str(name) for name in voice_cfg.get("voices", ()))
    model_dir = getattr(model, "model_dir", None)
    if model_dir is not None:
        return _voices_json(Path(model_dir))
    return ()


def _voices_json(model_dir: Path) -> tuple[str, ...]:
    try:
        cfg = json.loads((model_dir / "voices" / "voices.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    voices = cfg.get("voices", ()) if isinstance(cfg, Mapping) else ()
    return tuple(str(name) for name in voices)


def _emotions_for(speaker: str, override: tuple[str, ...] | None) -> tuple[str, ...]:
    return override if override is not None else KNOWN_EMOTIONS.get(speaker, (NEUTRAL,))


def _utterance(text: str, pause_after_s: float) -> Utterance:
    """Code points as ids: they identify the pipeline's input exactly (cache keys, dedup, length buckets)."""
    return Utterance(text=text, phonemes=(), ids=tuple(ord(ch) for ch in text), pause_after_s=pause_after_s)


def _token_chars(token: Token) -> int:
    return len(token.text)


def _pronounceable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


__all__ = [
    "DEFAULT_MODEL",
    "SAMPLE_RATE",
    "SambertConfig",
    "SambertVoice",
    "TTSPipeline",
    "decode_output",
    "discover_speakers",
    "emotion_markup",
    "load",
]
