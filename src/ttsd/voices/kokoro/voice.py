"""The Kokoro-82M v1.0 Mandarin voices: one loaded model serving 8 speakers (and blends of them).

:func:`load` is the registry entry (``"kokoro": "ttsd.voices.kokoro.voice:load"``). ``Controls.speaker`` picks
a voice (``zm_yunjian``) or a blend (``zf_xiaobei:0.6,zf_xiaoyi:0.4``); ``None`` is the default speaker.
Honoured controls: ``speaker`` and ``speed`` (:data:`SPEED_RANGE`: 0.25 to 2, where the model's audio length
really follows it). ``pitch``, ``intonation``, ``energy``, ``variation`` and
``emotion`` are refused by :meth:`KokoroVoice.validate` (the model has no such input). In a batch, controls
other than speed/speaker are ignored: the serving layer validates the request's controls before queueing, and
markup (SSML ``<prosody pitch>``) that shifts pitch on top of them has nothing to act on here.

Backends (``VoiceOptions.kokoro.backend``, :func:`resolve_backend`): ``onnxruntime``, the int8 ONNX graph on the
CPU (:class:`OnnxSynthesizer`; items of a batch run one at a time, the graph takes one utterance), the default
there; ``torch``, the PyTorch port of the same weights (:mod:`ttsd.voices.kokoro.torch_model`) running padded
batches, the default on CUDA and available on the CPU in fp32.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from ttsd.controls import Controls
from ttsd.errors import BackendUnavailable, InvalidControl, TextError
from ttsd.paths import cache_dirs
from ttsd.precision import resolve_precision
from ttsd.text.types import Budget, Sentence, Token
from ttsd.voices.base import BatchItem, BatchOutput, FloatArray, IntArray, Utterance, VoiceInfo
from ttsd.voices.kokoro import assets
from ttsd.voices.kokoro.english import english_reader
from ttsd.voices.kokoro.phonemizer import JiebaCutter, Phonemizer, load_vocab
from ttsd.voices.kokoro.session import SAMPLE_RATE, SAMPLES_PER_FRAME, Item, OnnxSynthesizer, Runner
from ttsd.voices.kokoro.styles import FEMALE, SPEAKERS, Blend, StyleBank, parse_speaker
from ttsd.voices.options import VoiceOptions

# The model's context is 512 positions (its BERT); style tables have 510 rows. Ids per piece, pads included.
MAX_IDS = 510
# Headroom for the word spaces the budget's per-token cost cannot see exactly.
BUDGET_MARGIN = 10
# Mean duration frames (600 samples) per id at speed 1 is about 3.8 on Mandarin text; round up.
FRAMES_PER_ID = 4.0
# Duration frames one model call may produce (12.8 s of audio). The call's working memory grows with them (about
# 0.55 MB a frame on the CPU: 1269 frames, 100 ids at speed 0.25, took 610 MB), so the ids of one piece are
# capped by speed: FRAMES_PER_ID * ids / speed <= MAX_CALL_FRAMES (128 ids at speed 1, 32 at 0.25).
MAX_CALL_FRAMES = 512
# The speeds the model really speaks at: past 2 its per-token floor of one frame takes over (speed 4 gave 2.35x
# shorter audio than speed 1, 3 gave 2.23x). Requests outside it get a 422 naming it; markup that composes past
# it (<prosody rate>) saturates at its ends, as it does at the global range.
SPEED_RANGE = (0.25, 2.0)
DEFAULT_SPEAKER = "zf_xiaobei"
BACKENDS = ("onnxruntime", "torch")
_DEFAULTS = Controls()
_UNSUPPORTED = ("pitch", "intonation", "energy", "variation", "emotion")
WARMUP_SYLLABLES = ("ni3", "hao3", "shi4", "jie4")


class KokoroVoice:
    """See the module docstring. Build it with :func:`load`; the constructor takes already-built parts."""

    def __init__(
        self,
        *,
        synthesizer: Runner | None,
        styles: StyleBank,
        phonemizer: Phonemizer,
        default_speaker: str = DEFAULT_SPEAKER,
        model_version: str = "kokoro-v1.0-int8",
        device: str = "cpu",
        precision: str = "int8",
        backend: str = "onnxruntime",
    ) -> None:
        self._synthesizer = synthesizer
        self._styles = styles
        self._phonemizer = phonemizer
        self._speakers = styles.names
        self._default = parse_speaker(default_speaker, self._speakers)
        genders = tuple("female" if name in FEMALE else "male" for name in self._speakers)
        self._info = VoiceInfo(
            name="kokoro",
            sample_rate=SAMPLE_RATE,
            model_version=model_version,
            device=device,
            precision=precision,
            # onnxruntime takes one utterance per call: a batch would only queue its items behind each other.
            batchable=backend != "onnxruntime",
            speakers=self._speakers,
            language="zh-CN",
            description="Kokoro-82M v1.0, Mandarin voices (speaker: a voice name or a blend 'a:0.6,b:0.4').",
            gender="female" if self._default.parts[0][0] in FEMALE else "male",
            licence="Apache-2.0",
            backend=backend,
            speaker_genders=genders,
            speed_range=SPEED_RANGE,
        )
        self._budgets: dict[float, Budget] = {}
        self._budget = self.budget_at(SPEED_RANGE[0])

    @property
    def info(self) -> VoiceInfo:
        return self._info

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def budget(self) -> Budget:
        """The budget at the slowest speed (safe for any speed)."""
        return self._budget

    def budget_at(self, speed: float) -> Budget:
        """Ids per piece for text spoken at ``speed``: one call's audio stays under :data:`MAX_CALL_FRAMES`."""
        speed = min(SPEED_RANGE[1], max(SPEED_RANGE[0], speed))
        budget = self._budgets.get(speed)
        if budget is None:
            limit = min(MAX_IDS - BUDGET_MARGIN, int(MAX_CALL_FRAMES * speed / FRAMES_PER_ID))
            budget = self._budgets[speed] = Budget(limit=limit, per_token=self._token_cost, overhead=2)
        return budget

    def validate(self, controls: Controls) -> None:
        low, high = SPEED_RANGE
        if not low <= controls.speed <= high:
            raise InvalidControl(
                f"the Kokoro voice speaks at speed {low} to {high} (its model cannot go faster), got {controls.speed}",
                param="speed",
            )
        for name in _UNSUPPORTED:
            if getattr(controls, name) != getattr(_DEFAULTS, name):
                raise InvalidControl(
                    f"the Kokoro voice has no {name} control (it supports speaker and speed)", param=name
                )
        self._blend(controls)

    def encode(self, sentence: Sentence) -> Utterance:
        """The sentence's phoneme string and ids (:class:`Phonemizer`); :class:`TextError` for a syllable that
        is not pinyin or a piece longer than the model takes."""
        out = self._phonemizer(sentence)
        if len(out.ids) > MAX_IDS:
            raise TextError(f"sentence piece has {len(out.ids)} Kokoro ids, more than {MAX_IDS}: cut it to the budget")
        return Utterance(
            text=sentence.text,
            phonemes=tuple(out.phonemes),
            ids=out.ids,
            pause_after_s=sentence.pause_after_s,
            spans=out.spans,
            sentence=sentence,
        )

    def estimate_frames(self, utterance: Utterance, controls: Controls) -> int:
        """Duration frames (600 samples each) the utterance is expected to take at ``controls.speed``."""
        return max(1, round(len(utterance.ids) * FRAMES_PER_ID / controls.speed))

    def run_batch(self, items: Sequence[BatchItem]) -> BatchOutput:
        start = time.perf_counter()
        batch = [
            Item(
                ids=item.utterance.ids,
                style=self._styles.style(self._blend(item.controls), len(item.utterance.ids) - 2),
                speed=min(SPEED_RANGE[1], max(SPEED_RANGE[0], float(item.controls.speed))),
            )
            for item in items
        ]
        if self._synthesizer is None:
            raise BackendUnavailable("this Kokoro voice was loaded without its model (text side only)")
        results = self._synthesizer(batch)
        waves: list[FloatArray] = [out.audio for out in results]
        durations: list[IntArray] = [out.durations for out in results]
        lengths = [int(d.sum()) // SAMPLES_PER_FRAME for d in durations]
        frames = sum(lengths)
        padded = max(lengths, default=0) * len(lengths) if self._info.batchable else frames
        # The model runs its acoustic and vocoder parts in one call: the time is reported as acoustic.
        return BatchOutput(
            waveforms=waves,
            acoustic_seconds=time.perf_counter() - start,
            vocoder_seconds=0.0,
            padded_frames=padded,
            frames=frames,
            durations=durations,
        )

    def warmup(self) -> None:
        sentence = Sentence(tuple(Token("字", (s,), "dictionary") for s in WARMUP_SYLLABLES))
        # No word cutter: a model worker warms its model up without loading jieba (its server encodes).
        out = Phonemizer(vocab=load_vocab())(sentence)
        self.run_batch([BatchItem(Utterance(text=sentence.text, phonemes=tuple(out.phonemes), ids=out.ids))])

    def _blend(self, controls: Controls) -> Blend:
        if controls.speaker is None:
            return self._default
        return parse_speaker(controls.speaker, self._speakers)

    def _token_cost(self, token: Token) -> int:
        return self._phonemizer.token_cost(token)


def load(options: VoiceOptions) -> KokoroVoice:
    """Load the Kokoro voices (joining the model parts into ``options.model_dir`` on first use).

    ``options.kokoro``: ``voices_dir`` (where the ``z*_*.bin`` style files are; default
    ``<model dir>/kokoro/voices``), ``speakers`` (narrowing the 8 voices), ``default_speaker`` (default
    ``zf_xiaobei``), ``backend`` (:func:`resolve_backend`). Raises :class:`~ttsd.errors.AssetError` for
    missing/different files and :class:`BackendUnavailable` for a device the backend cannot use.
    """
    backend = resolve_backend(options.kokoro.backend, options.device)
    precision = resolve_precision(options.precision, options.device)  # fp16 off CUDA: InvalidControl, as for Baker
    prepared = assets.prepare(model_dir=options.model_dir, voices_dir=options.kokoro.voices_dir)
    names = _speakers(options.kokoro.speakers)
    styles = StyleBank.from_files({name: assets.voice_path(prepared.voices_dir, name) for name in names})
    cutter = JiebaCutter(cache_dir=cache_dirs(options.model_dir).jieba)
    phonemizer = Phonemizer(vocab=load_vocab(), cutter=cutter, english=english_reader())
    default = options.kokoro.default_speaker or (DEFAULT_SPEAKER if DEFAULT_SPEAKER in names else names[0])
    if options.load_model:
        synthesizer, precision, version = _synthesizer(backend, precision, options, prepared)
    else:  # the text side only: what the synthesizer would report, without loading it
        synthesizer, version = None, "text-only"
        precision = "int8" if backend == "onnxruntime" else precision
    return KokoroVoice(
        synthesizer=synthesizer,
        styles=styles,
        phonemizer=phonemizer,
        default_speaker=default,
        model_version=version,
        device=options.device,
        precision=precision,
        backend=backend,
    )


def _synthesizer(
    backend: str, precision: str, options: VoiceOptions, prepared: assets.KokoroAssets
) -> tuple[Runner, str, str]:
    """The backend's synthesizer, the precision it runs (onnxruntime: the graph's int8) and the model version."""
    threads = options.threads or len(os.sched_getaffinity(0))
    version = f"kokoro-v1.0-int8+{assets.MODEL_SHA256[:12]}"
    if backend == "onnxruntime":
        synth = OnnxSynthesizer(model_path=prepared.timed_model_path, threads=threads)
        return synth, "int8", f"{version}.g{assets.GRAPH_VERSION}"
    import torch

    from ttsd.voices.kokoro.torch_session import PORT_VERSION, TorchSynthesizer, load_model

    if options.device == "cpu":
        torch.set_num_threads(threads)
    model = load_model(prepared.model_path)
    return (
        TorchSynthesizer(model=model, device=options.device, precision=precision),
        precision,
        f"{version}.torch-p{PORT_VERSION}",
    )


def resolve_backend(requested: str, device: str) -> str:
    """``auto``: onnxruntime (int8) on the CPU, torch on CUDA. onnxruntime on CUDA is refused (no such build)."""
    if requested == "auto":
        return "onnxruntime" if device == "cpu" else "torch"
    if requested not in BACKENDS:
        raise InvalidControl(f"Kokoro backend must be auto, onnxruntime or torch, got {requested!r}", param="backend")
    if requested == "onnxruntime" and device != "cpu":
        raise BackendUnavailable(
            f"the Kokoro onnxruntime backend runs on the CPU only; got device {device!r} (use backend auto or torch)"
        )
    return requested


def _speakers(names: tuple[str, ...]) -> tuple[str, ...]:
    if not names:
        return SPEAKERS
    unknown = [name for name in names if name not in SPEAKERS]
    if unknown:
        raise InvalidControl(f"unknown Kokoro speakers {unknown}; known: {', '.join(SPEAKERS)}", param="speakers")
    return names
