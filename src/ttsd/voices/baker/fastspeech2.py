"""FastSpeech2 acoustic model of the Baker voice, batched with padding masks (spec: design/model-port.md §2).

Input ids ``[B, L]`` are 0-padded; every layer keeps padded positions at zero before each convolution, so
an item's output does not depend on the rest of its batch. Per-item controls are float tensors ``[B]``:

* ``duration_ratio``: frames per token are multiplied by it (``1/speed``; > 1 is slower).
* ``f0_ratio``: multiplies the z-scored token f0 (intonation).
* ``pitch_shift``: added to the z-scored token f0 *after* the ratio (1.0 = one standard deviation of the
  speaker's pitch); it is ours, the original model has no such input.
* ``energy_ratio``: multiplies the z-scored token energy.

``seeds`` switches on, per item, the original model's inference-time dropout on the f0/energy embeddings
(``e * 2 * [U >= 0.5]``), drawn from a CPU ``torch.Generator`` seeded with that item's seed over its own
length only, so the same ids and seed give the same output whatever else is in the batch.

Numeric modes (:meth:`FastSpeech2.set_exact`). The TFLite hybrid kernels quantize the activation to int8
in front of every int8-weight layer (per row for Linear, per batch item over the whole ``[T, C]`` input
for Conv1d) and accumulate in integers. ``exact`` emulates that everywhere, with LayerNorm and attention
summed in TFLite's order (bit-exact up to transcendental functions). ``fast`` emulates it only at token
level (encoder, predictors, f0/energy embeddings: little compute, and durations then match the original),
and runs the frame level (decoder, mel projection, postnet: nearly all the compute) in plain float.

Layout: token-level layers run on the padded ``[B, L]`` batch; frame-level layers run on :class:`Packing`'s
packed rows (every item's frames back to back with zero gaps), so no work is spent on frame padding; only
attention regroups the rows per item.

Precision (:meth:`FastSpeech2.set_frame_dtype`): the token-level half (encoder, predictors) always runs in
float32 so durations do not depend on precision; the frame-level half (decoder, mel projection, postnet),
where nearly all the compute is, may run in bfloat16 or float16.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the conventional alias
from torch import Tensor, nn

from ttsd.voices.baker.tflite import TFLiteModel

VOCAB = 219
HIDDEN = 256
HEADS = 2
HEAD_DIM = 16
FFN = 1024
LAYERS = 3
N_MELS = 80
MAX_POSITIONS = 2048
POSTNET_CHANNELS = 512
POSTNET_LAYERS = 5
LN_EPS = 1e-5
# The hybrid kernels quantize activations symmetrically to [-127, 127].
_QMAX = 127.0
ALIGN = 32
# Zero rows after each item in the packed frame layout: the widest frame-level conv (postnet, k=5) reaches 2.
GAP = 2


def _round_half_away(x: Tensor) -> Tensor:
    # TfLiteRound is std::round (half away from zero), unlike torch.round (half to even).
    return torch.sign(x) * torch.floor(torch.abs(x) + 0.5)


def quantize_symmetric(x: Tensor, amax: Tensor) -> tuple[Tensor, Tensor]:
    """TFLite's ``SymmetricQuantizeFloats``: integer-valued ``q`` in [-127, 127], ``scale`` with x ≈ q·scale.

    ``amax`` is ``max|x|`` over the quantization group, broadcastable to ``x``; a group of zeros gets scale 1.
    Rounding is half away from zero as in TFLite: exact .5 ties do occur here, and rounding them to even
    changed durations in a reference case.
    """
    nonzero = amax > 0
    safe = torch.where(nonzero, amax, torch.ones_like(amax))
    q = torch.clamp(_round_half_away(x * (_QMAX / safe)), -_QMAX, _QMAX)
    return q, torch.where(nonzero, safe / _QMAX, torch.ones_like(amax))


class QLinear(nn.Module):
    """A Linear layer whose weight may come from an int8 tensor (``w_scale`` [out] > 0; 0 = float weight)."""

    w_scale: Tensor
    w_int: Tensor | None

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))  # always loaded
        self.bias = nn.Parameter(torch.empty(out_features))
        self.register_buffer("w_scale", torch.zeros(out_features))
        self.w_int: Tensor | None
        self.register_buffer("w_int", None, persistent=False)

    def set_quantized(self, on: bool) -> None:
        """Emulate the hybrid int8 kernel (True) or run the dequantized weight in plain float (False)."""
        self.w_int = _integer_weight(self.weight, self.w_scale) if on else None

    def forward(self, x: Tensor) -> Tensor:
        if self.w_int is None:
            if self.weight.shape[0] == 1:
                # A GEMV's summation order can depend on the number of rows; a row-wise sum does not.
                return (x * self.weight[0]).sum(dim=-1, keepdim=True) + self.bias
            return F.linear(x, self.weight, self.bias)
        q, s = quantize_symmetric(x, x.abs().amax(dim=-1, keepdim=True))
        return F.linear(q, self.w_int) * (s * self.w_scale) + self.bias


class QConv1d(nn.Module):
    """A 'same'-padded Conv1d on channels-last input ``[B, T, C]`` (the caller zeroes it at padding)."""

    w_scale: Tensor
    w_int: Tensor | None

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size))  # always loaded
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.register_buffer("w_scale", torch.zeros(out_channels))
        self.w_int: Tensor | None
        self.register_buffer("w_int", None, persistent=False)
        self.padding = kernel_size // 2

    def set_quantized(self, on: bool) -> None:
        """Emulate the hybrid int8 kernel (True) or run the dequantized weight in plain float (False)."""
        self.w_int = _integer_weight(self.weight, self.w_scale) if on else None

    def forward(self, x: Tensor, segments: Segments | None = None) -> Tensor:
        """``x`` [B, T, C]; ``segments`` says which item each row belongs to when items are packed in one row
        sequence (B = 1), so that exact mode still quantizes per item."""
        if self.w_int is None:
            y = F.conv1d(x.transpose(1, 2), self.weight, self.bias, padding=self.padding)
            return y.transpose(1, 2)
        # One scale per batch item over its whole [T, C] input; padding is zero so it does not raise the max.
        if segments is None:
            amax = x.abs().amax(dim=(1, 2), keepdim=True)
        else:
            amax = segments.item_max(x.abs().amax(dim=-1)[0])[segments.index].view(1, -1, 1)
        q, s = quantize_symmetric(x, amax)
        acc = F.conv1d(q.transpose(1, 2), self.w_int, padding=self.padding).transpose(1, 2)
        return acc * (s * self.w_scale) + self.bias


def _integer_weight(weight: Tensor, w_scale: Tensor) -> Tensor | None:
    """The int8 values (as floats) behind a dequantized weight, or None for a float weight (scale 0)."""
    nonzero = w_scale != 0
    if not bool(nonzero.any()):
        return None
    shape = (-1,) + (1,) * (weight.dim() - 1)
    inverse = torch.where(nonzero, 1.0 / torch.where(nonzero, w_scale, 1.0), 0.0).reshape(shape)
    # weight = q·scale in float32, so weight·(1/scale) is within far less than 0.5 of the integer q.
    return (weight.float() * inverse).round_()


class LayerNorm(nn.LayerNorm):
    """LayerNorm over the last dim; in exact mode computed like the TFLite graph, bit for bit.

    The converter unrolled LayerNorm into MEAN, SQUARED_DIFFERENCE, MEAN, ADD eps, RSQRT, MUL γ, MUL, MUL,
    SUB β, ADD, and TFLite's MEAN sums 8-float lanes then folds the lanes pairwise. Matching that summation
    order removes most near-tie flips of the int8 activation rounding that follows.
    """

    def __init__(self, dim: int) -> None:
        super().__init__(dim, eps=LN_EPS)
        self.exact = False

    def forward(self, x: Tensor) -> Tensor:
        if not self.exact:
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        mean = _lane_mean(x)
        scale = torch.rsqrt(_lane_mean((x - mean) ** 2) + self.eps) * self.weight
        return x * scale + (self.bias - mean * scale)


def _lane_mean(x: Tensor, lanes: int = 8) -> Tensor:
    parts = x.reshape(*x.shape[:-1], -1, lanes)
    acc = parts[..., 0, :]
    for i in range(1, parts.shape[-2]):
        acc = acc + parts[..., i, :]
    while acc.shape[-1] > 1:
        half = acc.shape[-1] // 2
        acc = acc[..., :half] + acc[..., half:]
    return acc / x.shape[-1]


class SelfAttention(nn.Module):
    """2 heads × 16 over a fused q|k|v projection (256 → 96), then 32 → 256."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = QLinear(HIDDEN, 3 * HEADS * HEAD_DIM)
        self.o = QLinear(HEADS * HEAD_DIM, HIDDEN)

        self.exact = False

    def forward(self, x: Tensor, key_bias: Tensor, packing: Packing | None = None) -> Tensor:
        qkv = self.qkv(x)
        if packing is not None:  # packed rows -> one padded row block per item, only for attention itself
            qkv = qkv[0, packing.pad_index]
        b, t, _ = qkv.shape
        q, k, v = qkv.view(b, t, 3, HEADS, HEAD_DIM).permute(2, 0, 3, 1, 4)
        if self.exact:
            ctx = _sequential_attention(q, k, v, key_bias)
        else:
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=key_bias)
        ctx = ctx.transpose(1, 2).reshape(b, t, HEADS * HEAD_DIM)
        if packing is not None:
            ctx = ctx.reshape(b * t, -1)[packing.unpad_index].unsqueeze(0)
        out: Tensor = self.o(ctx)
        return out


def _sequential_attention(q: Tensor, k: Tensor, v: Tensor, key_bias: Tensor) -> Tensor:
    """Attention whose two matmuls add their products one by one, in order, as TFLite's BATCH_MATMUL does
    (bit-exact; rounding differences here otherwise flip later int8 activation roundings)."""
    scores = q[..., 0:1] * k[..., 0].unsqueeze(-2)
    for j in range(1, q.shape[-1]):
        scores = scores + q[..., j : j + 1] * k[..., j].unsqueeze(-2)
    probs = torch.softmax(scores * (1.0 / math.sqrt(q.shape[-1])) + key_bias, dim=-1)
    ctx = probs[..., 0:1] * v[..., 0:1, :]
    for j in range(1, v.shape[-2]):
        ctx = ctx + probs[..., j : j + 1] * v[..., j : j + 1, :]
    return ctx


class FeedForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = QConv1d(HIDDEN, FFN, 3)
        self.conv2 = QConv1d(FFN, HIDDEN, 3)

    def forward(self, x: Tensor, mask: Tensor, segments: Segments | None = None) -> Tensor:
        out: Tensor = self.conv2(F.mish(self.conv1(x, segments)) * mask, segments) * mask
        return out


class FFTBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = SelfAttention()
        self.attn_norm = LayerNorm(HIDDEN)
        self.ffn = FeedForward()
        self.ffn_norm = LayerNorm(HIDDEN)

    def forward(self, x: Tensor, mask: Tensor, key_bias: Tensor, packing: Packing | None = None) -> Tensor:
        a = self.attn_norm(self.attn(x, key_bias, packing) + x) * mask
        segments = packing.segments if packing is not None else None
        out: Tensor = self.ffn_norm(self.ffn(a, mask, segments) + a) * mask
        return out


class FFTStack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(FFTBlock() for _ in range(LAYERS))

    def forward(self, x: Tensor, mask: Tensor, packing: Packing | None = None) -> Tensor:
        """``x`` [B, T, 256] and ``mask`` [B, T, 1] (1 = valid), or packed rows [1, N, 256] with ``packing``."""
        # Additive key mask as in the original (-1e9 in float32; fp16 cannot hold it).
        big = 1e9 if x.dtype == torch.float32 else 1e4
        key_mask = mask if packing is None else packing.key_mask.unsqueeze(-1).to(x.dtype)
        key_bias = ((1.0 - key_mask) * -big).transpose(1, 2).unsqueeze(1)
        for layer in self.layers:
            x = layer(x, mask, key_bias, packing)
        return x


class VariancePredictor(nn.Module):
    """[Conv1d(k3) → ReLU → LayerNorm] ×2 → Linear(256 → 1), masked; returns [B, L]."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(QConv1d(HIDDEN, HIDDEN, 3) for _ in range(2))
        self.norms = nn.ModuleList(LayerNorm(HIDDEN) for _ in range(2))
        self.proj = QLinear(HIDDEN, 1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = norm(torch.relu(conv(x))) * mask
        out: Tensor = (self.proj(x) * mask).squeeze(-1)
        return out


class Postnet(nn.Module):
    """Five Conv1d(k5) with inference BatchNorm folded in; tanh after all but the last."""

    def __init__(self) -> None:
        super().__init__()
        chans = [N_MELS] + [POSTNET_CHANNELS] * (POSTNET_LAYERS - 1) + [N_MELS]
        self.convs = nn.ModuleList(QConv1d(chans[i], chans[i + 1], 5) for i in range(POSTNET_LAYERS))

    def forward(self, x: Tensor, mask: Tensor, segments: Segments | None = None) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x * mask, segments)
            if i < POSTNET_LAYERS - 1:
                x = torch.tanh(x)
        return x * mask


@dataclass(frozen=True, slots=True)
class AcousticOutput:
    """Batched outputs; rows beyond an item's length are padding (zeros or junk)."""

    mel_after: Tensor  # [B, T, 80] float32
    mel_before: Tensor  # [B, T, 80] float32
    mel_lengths: Tensor  # [B] int64
    durations: Tensor  # [B, L] int64
    f0: Tensor  # [B, L] float32, after controls
    energy: Tensor  # [B, L] float32, after controls


class FastSpeech2(nn.Module):
    """The Baker FastSpeech2 (hidden 256, 3+3 FFT blocks, 2×16 heads, mish). See the module docstring."""

    pos_table: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, HIDDEN)
        self.register_buffer("pos_table", torch.zeros(MAX_POSITIONS + 1, HIDDEN))
        self.encoder = FFTStack()
        self.duration_predictor = VariancePredictor()
        self.f0_predictor = VariancePredictor()
        self.energy_predictor = VariancePredictor()
        self.f0_embed = QConv1d(1, HIDDEN, 9)
        self.energy_embed = QConv1d(1, HIDDEN, 9)
        self.decoder = FFTStack()
        self.mel_out = QLinear(HIDDEN, N_MELS)
        self.postnet = Postnet()
        self.exact = False
        self.frame_dtype = torch.float32

    def set_exact(self, exact: bool) -> None:
        """Switch between ``fast`` (False) and ``exact`` (True) numerics; exact needs float32 everywhere.

        Both modes emulate the int8 activation quantization at token level (encoder, predictors, f0/energy
        embeddings: cheap, and it keeps durations equal to the original's); ``exact`` also emulates it at
        frame level and computes LayerNorm and attention in TFLite's summation order.
        """
        if exact and self.frame_dtype != torch.float32:
            raise ValueError("exact mode runs in float32 only")
        self.exact = exact
        token_level = (self.encoder, self.duration_predictor, self.f0_predictor, self.energy_predictor,
                       self.f0_embed, self.energy_embed)  # fmt: skip
        token_ids = {id(m) for part in token_level for m in part.modules()}
        for module in self.modules():
            if isinstance(module, QLinear | QConv1d):
                module.set_quantized(exact or id(module) in token_ids)
            elif isinstance(module, LayerNorm | SelfAttention):
                module.exact = exact

    def set_frame_dtype(self, dtype: torch.dtype) -> None:
        """Run decoder, mel projection and postnet in ``dtype`` (float32, bfloat16 or float16)."""
        if self.exact and dtype != torch.float32:
            raise ValueError("exact mode runs in float32 only")
        for module in (self.decoder, self.mel_out, self.postnet):
            module.to(dtype)
        self.frame_dtype = dtype

    def forward(
        self,
        ids: Tensor,
        *,
        duration_ratio: Tensor,
        f0_ratio: Tensor,
        pitch_shift: Tensor,
        energy_ratio: Tensor,
        seeds: Sequence[int | None] | None = None,
        durations: Tensor | None = None,
    ) -> AcousticOutput:
        """Run the model on ``ids`` [B, L] (0 = padding). ``durations`` [B, L], if given, replaces the
        predicted ones (for analysis and tests); the predicted f0/energy are still used."""
        length = ids.shape[1]
        ids = F.pad(ids, (0, _aligned(length) - length))
        if durations is not None:
            durations = F.pad(durations, (0, ids.shape[1] - length))
        mask = (ids != 0).unsqueeze(-1).to(torch.float32)
        lengths = (ids != 0).sum(dim=1)
        positions = torch.arange(1, ids.shape[1] + 1, device=ids.device)
        x = self.embed(ids) + self._positions(positions).unsqueeze(0)
        enc = self.encoder(x, mask) * mask

        log_d = self.duration_predictor(enc, mask)
        if durations is None:
            frames = torch.relu(torch.exp(log_d) - 1.0) * duration_ratio[:, None]
            durations = torch.round(frames).long() * (ids != 0)
        f0 = (self.f0_predictor(enc, mask) * f0_ratio[:, None] + pitch_shift[:, None]) * mask[..., 0]
        energy = self.energy_predictor(enc, mask) * energy_ratio[:, None]

        f0_emb = self.f0_embed(f0.unsqueeze(-1))
        energy_emb = self.energy_embed(energy.unsqueeze(-1))
        if seeds is not None and any(s is not None for s in seeds):
            keep_f0, keep_energy = _dropout_keep(seeds, lengths.tolist(), ids.shape[1])
            f0_emb = f0_emb * keep_f0.to(f0_emb.device)
            energy_emb = energy_emb * keep_energy.to(energy_emb.device)
        h = enc + (f0_emb + energy_emb)

        packing = Packing.build(durations)
        mel_before, mel_after = self._frames(packing.gather(h), packing)
        t = max(int(packing.lengths.max()), 1)
        index = packing.pad_index[:, :t]
        return AcousticOutput(
            mel_after[0, index],
            mel_before[0, index],
            packing.lengths,
            durations[:, :length],
            f0[:, :length],
            energy[:, :length],
        )

    def _frames(self, h: Tensor, packing: Packing) -> tuple[Tensor, Tensor]:
        """Decoder, mel projection and postnet on packed frame rows [1, N, 256] -> mels [1, N, 80]."""
        mask = packing.row_mask.view(1, -1, 1).to(self.frame_dtype)
        y = (h + self._positions(packing.positions).unsqueeze(0)).to(self.frame_dtype)
        y = self.decoder(y, mask, packing)
        mel_before = self.mel_out(y)
        mel_after = mel_before + self.postnet(mel_before, mask, packing.segments)
        return mel_before.float(), mel_after.float()

    def _positions(self, pos: Tensor) -> Tensor:
        table: Tensor = self.pos_table
        needed = int(pos.max()) + 1 if pos.numel() else 1
        if needed > table.shape[0]:
            # Longer than the trained table: extend with the same (int8-rounded) sinusoid.
            extra = sinusoid_table(needed, table.shape[1])[table.shape[0] :]
            table = torch.cat([table, torch.round(extra * _QMAX).to(table) / _QMAX])
        return table[pos]


def _aligned(n: int) -> int:
    """``n`` rounded up to a multiple of :data:`ALIGN` (at least one multiple).

    Tokens, packed frame rows and attention rows are padded this way inside the model so that an item sees the
    same vector lanes and reduction order alone and in a batch: padded positions then only add exact zeros,
    which keeps results bitwise stable around the int8 rounding ties the hybrid-kernel emulation is sensitive to.
    """
    return max(ALIGN, -(-n // ALIGN) * ALIGN)


@dataclass(frozen=True, slots=True)
class Segments:
    """Which item each packed row belongs to: ``index`` [N] (0..count-1)."""

    index: Tensor
    count: int

    def item_max(self, row_max: Tensor) -> Tensor:
        """Per-row maxima [N] -> per-item maxima [count]."""
        out = torch.zeros(self.count, dtype=row_max.dtype, device=row_max.device)
        return out.scatter_reduce(0, self.index, row_max, reduce="amax", include_self=True)


@dataclass(frozen=True, slots=True)
class Packing:
    """The frame-level layout: every item's frames back to back in one row sequence, each followed by
    :data:`GAP` zero rows, so per-frame layers and convolutions (kernel radius <= GAP) never spend work on
    padding nor mix items; attention alone regroups the rows per item (``pad_index``).

    * ``lengths`` [B]: frames per item; ``row_mask`` [N] (bool) marks real frames, ``positions`` [N] their
      1-based decoder positions (0 on gap rows), ``segments`` their item.
    * ``pad_index`` [B, T]: the packed row of frame t of item b (a gap row past its end); ``key_mask`` [B, T].
    * ``unpad_index`` [N]: the row of ``[B*T]`` that each packed row comes from.
    * ``source`` [N]: the token row of ``[B*L]`` that each frame repeats (length regulation).
    """

    lengths: Tensor
    row_mask: Tensor
    positions: Tensor
    segments: Segments
    pad_index: Tensor
    key_mask: Tensor
    unpad_index: Tensor
    source: Tensor

    @classmethod
    def build(cls, durations: Tensor) -> Packing:
        """The layout for ``durations`` [B, L] (frames per token)."""
        batch, tokens = durations.shape
        device = durations.device
        ends = durations.cumsum(dim=1)
        lengths = ends[:, -1]
        spans = lengths + GAP
        starts = spans.cumsum(0) - spans
        rows = torch.arange(_aligned(int(spans.sum())), device=device)
        item = torch.searchsorted(spans.cumsum(0), rows, right=True).clamp_(max=batch - 1)
        frame = rows - starts[item]
        row_mask = frame < lengths[item]
        token = torch.searchsorted(ends[item], frame.unsqueeze(1), right=True).squeeze(1).clamp_(max=tokens - 1)
        width = _aligned(int(lengths.max()))
        steps = torch.arange(width, device=device)
        key_mask = steps.unsqueeze(0) < lengths.unsqueeze(1)
        gap_row = rows.shape[0] - 1  # always a gap row: every item is followed by GAP >= 1 zero rows
        pad_index = torch.where(key_mask, starts.unsqueeze(1) + steps, gap_row)
        return cls(
            lengths=lengths,
            row_mask=row_mask,
            positions=(frame + 1) * row_mask,
            segments=Segments(item, batch),
            pad_index=pad_index,
            key_mask=key_mask,
            unpad_index=item * width + frame.clamp(max=width - 1),
            source=item * tokens + token,
        )

    def gather(self, h: Tensor) -> Tensor:
        """Length regulation: token states [B, L, C] -> packed frame rows [1, N, C] (zeros on gap rows)."""
        rows = h.reshape(-1, h.shape[-1])[self.source]
        return (rows * self.row_mask.unsqueeze(-1)).unsqueeze(0)


def _dropout_keep(seeds: Sequence[int | None], lengths: Sequence[int], length: int) -> tuple[Tensor, Tensor]:
    """Per-item dropout multipliers (0 or 2) for the f0 and energy embeddings, ones where no seed is given."""
    keep_f0 = torch.ones(len(seeds), length, HIDDEN)
    keep_energy = torch.ones(len(seeds), length, HIDDEN)
    for b, (seed, n) in enumerate(zip(seeds, lengths, strict=True)):
        if seed is None:
            continue
        gen = torch.Generator().manual_seed(seed)
        keep_f0[b, :n] = (torch.rand(n, HIDDEN, generator=gen) >= 0.5) * 2.0
        keep_energy[b, :n] = (torch.rand(n, HIDDEN, generator=gen) >= 0.5) * 2.0
    return keep_f0, keep_energy


def sinusoid_table(rows: int, dim: int) -> Tensor:
    """The sinusoid position table with row 0 zeroed (what the file stores, before its int8 rounding)."""
    pos = np.arange(rows, dtype=np.float64)[:, None]
    i = np.arange(dim)[None, :]
    angle = pos / np.power(10000.0, 2 * (i // 2) / dim)
    table = np.where(i % 2 == 0, np.sin(angle), np.cos(angle))
    table[0] = 0.0
    return torch.from_numpy(table.astype(np.float32))


# --- weights from the pinned fastspeech2_quan.tflite (tensor indices from fs_mapping.tsv) ---

# FFT blocks: name -> (encoder weights, encoder biases, decoder weights, decoder biases), one index per layer.
_FFT_TENSORS: dict[str, tuple[tuple[int, ...], ...]] = {
    "attn.q": ((126, 130, 134), (50, 60, 74), (113, 117, 121), (9, 19, 29)),
    "attn.k": ((125, 129, 133), (49, 59, 72), (112, 116, 120), (8, 18, 28)),
    "attn.v": ((127, 131, 135), (51, 61, 76), (114, 118, 122), (10, 20, 30)),
    "attn.o": ((124, 128, 132), (48, 58, 68), (111, 115, 119), (7, 17, 27)),
    "attn_norm": ((47, 57, 67), (46, 56, 66), (6, 16, 26), (5, 15, 25)),
    "ffn.conv1": ((149, 151, 153), (52, 62, 78), (164, 166, 169), (11, 21, 31)),
    "ffn.conv2": ((150, 152, 154), (53, 63, 79), (165, 167, 171), (12, 22, 32)),
    "ffn_norm": ((55, 65, 81), (54, 64, 80), (14, 24, 34), (13, 23, 33)),
}
# Predictors: (conv weights, conv biases, LN gammas, LN betas, projection weight, projection bias).
_PREDICTOR_TENSORS: dict[str, tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int], int, int]] = {
    "duration_predictor": ((155, 156), (42, 43), (39, 41), (38, 40), 123, 37),
    "f0_predictor": ((160, 161), (97, 98), (93, 96), (92, 94), 137, 91),
    "energy_predictor": ((157, 158), (88, 89), (85, 87), (84, 86), 136, 83),
}
_SINGLE_TENSORS = {"f0_embed": (162, 90), "energy_embed": (159, 82), "mel_out": (138, 100)}
_POSTNET_TENSORS = ((172, 173, 174, 176, 178), (104, 105, 106, 107, 108), (139, 141, 143, 145, 147),
                    (140, 142, 144, 146, 148))  # fmt: skip


class _StateBuilder:
    """Collects torch parameters from tflite tensors, applying the §1 transforms."""

    def __init__(self, model: TFLiteModel) -> None:
        self.model = model
        self.state: dict[str, Tensor] = {}

    def weight_scale(self, index: int, rows: int) -> Tensor:
        scale = self.model.scale(index) if self.model.is_quantized(index) else 0.0
        return torch.full((rows,), scale, dtype=torch.float32)

    def conv_weight(self, index: int) -> Tensor:
        w = self.model.tensor(index)  # CONV_2D [O, 1, K, I] -> Conv1d [O, I, K]
        return torch.from_numpy(np.ascontiguousarray(w[:, 0].transpose(0, 2, 1)))

    def vector(self, index: int) -> Tensor:
        return torch.from_numpy(self.model.tensor(index).reshape(-1).copy())

    def layer(self, name: str, weight: int, bias: int, *, conv: bool) -> None:
        w = self.conv_weight(weight) if conv else torch.from_numpy(self.model.tensor(weight).copy())
        self.state[f"{name}.weight"] = w
        self.state[f"{name}.bias"] = self.vector(bias)
        self.state[f"{name}.w_scale"] = self.weight_scale(weight, w.shape[0])

    def norm(self, name: str, gamma: int, beta: int) -> None:
        self.state[f"{name}.weight"] = self.vector(gamma)
        self.state[f"{name}.bias"] = self.vector(beta)


def acoustic_state_from_tflite(model: TFLiteModel) -> dict[str, Tensor]:
    """The :class:`FastSpeech2` state dict from the pinned ``fastspeech2_quan.tflite``: weights dequantized,
    q|k|v fused, postnet BatchNorm folded into its convs, ``w_scale`` = per-output-row int8 weight scale."""
    b = _StateBuilder(model)
    b.state["embed.weight"] = torch.from_numpy(model.tensor(44).copy())
    b.state["pos_table"] = torch.from_numpy(model.tensor(45).copy())
    for stack_no, stack in enumerate(("encoder", "decoder")):
        for layer in range(LAYERS):
            prefix = f"{stack}.layers.{layer}"
            for name, tensors in _FFT_TENSORS.items():
                weight, bias = tensors[2 * stack_no][layer], tensors[2 * stack_no + 1][layer]
                if name.endswith("norm"):
                    b.norm(f"{prefix}.{name}", weight, bias)
                elif name != "attn.o" and name.startswith("attn"):
                    b.layer(f"{prefix}.{name}", weight, bias, conv=False)
                else:
                    b.layer(f"{prefix}.{name}", weight, bias, conv=name.startswith("ffn"))
            _fuse_qkv(b.state, f"{prefix}.attn")
    for name, (convs, conv_b, gammas, betas, proj_w, proj_b) in _PREDICTOR_TENSORS.items():
        for i in range(2):
            b.layer(f"{name}.convs.{i}", convs[i], conv_b[i], conv=True)
            b.norm(f"{name}.norms.{i}", gammas[i], betas[i])
        b.layer(f"{name}.proj", proj_w, proj_b, conv=False)
    for name, (weight, bias) in _SINGLE_TENSORS.items():
        b.layer(name, weight, bias, conv=name != "mel_out")
    for i, (weight, bias, scale, shift) in enumerate(zip(*_POSTNET_TENSORS, strict=True)):
        b.layer(f"postnet.convs.{i}", weight, bias, conv=True)
        _fold_batchnorm(b.state, f"postnet.convs.{i}", b.vector(scale), b.vector(shift))
    return b.state


def _fuse_qkv(state: dict[str, Tensor], prefix: str) -> None:
    for part in ("weight", "bias", "w_scale"):
        state[f"{prefix}.qkv.{part}"] = torch.cat([state.pop(f"{prefix}.{p}.{part}") for p in "qkv"])


def _fold_batchnorm(state: dict[str, Tensor], name: str, scale: Tensor, shift: Tensor) -> None:
    # conv(x)·scale + shift == conv'(x) with W' = W·scale[o], b' = b·scale + shift; int8 scales fold alike.
    state[f"{name}.weight"] = state[f"{name}.weight"] * scale[:, None, None]
    state[f"{name}.bias"] = state[f"{name}.bias"] * scale + shift
    state[f"{name}.w_scale"] = state[f"{name}.w_scale"] * scale


def build_acoustic(state: dict[str, Tensor], *, exact: bool = False) -> FastSpeech2:
    """A :class:`FastSpeech2` in eval mode with ``state`` loaded (strictly) on the CPU."""
    model = FastSpeech2()
    model.load_state_dict(state, strict=True, assign=True)  # adopt the tensors, no copy
    model.eval()
    model.set_exact(exact)
    return model
