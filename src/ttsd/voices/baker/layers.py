"""FastSpeech2 building blocks: LayerNorm, self-attention, FFT blocks, variance predictors and postnet.

All layers take channels-last input ``[B, T, C]`` and a ``mask`` (1 = valid) and keep padded positions at
zero; frame-level callers pass packed rows ``[1, N, C]`` with their :class:`Packing` or :class:`Segments`.
In exact mode LayerNorm and attention sum in TFLite's order (see :mod:`ttsd.voices.baker.fastspeech2`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812 - the conventional alias
from torch import Tensor, nn

from ttsd.voices.baker.packing import Packing, Segments
from ttsd.voices.baker.quant import QConv1d, QLinear

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
