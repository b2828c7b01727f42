"""Masked building blocks of the PyTorch Kokoro decoder half (:mod:`ttsd.voices.kokoro.torch_decoder`).

Every block takes ``x`` [B, C, T] and ``lengths`` [B] (valid steps per item at this block's rate) and gives
each item exactly what it would get alone: instance-norm statistics are taken over the valid steps only, and
the input of every convolution is zero past an item's end (what a lone item's zero padding sees). The
structure follows the graph (:mod:`ttsd.voices.kokoro.dequant` names each weight by the node it feeds):
AdaIN = instance norm (eps 1e-5) scaled by ``1 + gamma`` and shifted by ``beta`` from a linear map of the
style; ``AdaResBlock`` = StyleTTS2's AdainResBlk1d (LeakyReLU 0.2, optional x2 upsampling by a depthwise
transposed conv on the residual and nearest repetition on the shortcut, sum divided by sqrt 2);
``SnakeResBlock`` = iSTFTNet's AdaINResBlock1 (three dilated conv pairs with Snake activations
``x + sin(a x)^2 / a``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional

EPS = 1e-5
SLOPE = 0.2


def step_mask(lengths: Tensor, steps: int) -> Tensor:
    """[B, 1, steps]: True on each item's valid steps."""
    return (torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None])[:, None, :]


def masked(x: Tensor, lengths: Tensor) -> Tensor:
    """``x`` with every step past an item's length set to zero."""
    return x * step_mask(lengths, x.shape[-1]).to(x.dtype)


class AdaIN(nn.Module):
    """Instance norm over each item's valid steps (statistics in fp32), modulated by the style."""

    def __init__(self, style: int, channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(style, 2 * channels)

    def forward(self, x: Tensor, s: Tensor, lengths: Tensor) -> Tensor:
        gamma, beta = self.fc(s)[:, :, None].chunk(2, dim=1)
        out: Tensor = (1 + gamma) * normalized(x, lengths) + beta
        return out


def normalized(x: Tensor, lengths: Tensor) -> Tensor:
    """``(x - mean) / sqrt(var + eps)`` per item and channel over the valid steps (biased variance)."""
    mask = step_mask(lengths, x.shape[-1]).float()
    count = lengths.float().clamp(min=1)[:, None, None]
    xf = x.float()
    mean = (xf * mask).sum(-1, keepdim=True) / count
    var = (((xf - mean) * mask) ** 2).sum(-1, keepdim=True) / count
    return ((xf - mean) / torch.sqrt(var + EPS)).to(x.dtype)


class AdaResBlock(nn.Module):
    """AdainResBlk1d; with ``upsample`` the output has twice the steps (``2 * lengths`` valid)."""

    def __init__(self, dim_in: int, dim_out: int, style: int = 128, *, upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv1 = nn.Conv1d(dim_in, dim_out, 3, padding=1)
        self.conv2 = nn.Conv1d(dim_out, dim_out, 3, padding=1)
        self.norm1 = AdaIN(style, dim_in)
        self.norm2 = AdaIN(style, dim_out)
        self.conv1x1 = nn.Conv1d(dim_in, dim_out, 1, bias=False) if dim_in != dim_out else None
        self.pool = (
            nn.ConvTranspose1d(dim_in, dim_in, 3, stride=2, padding=1, output_padding=1, groups=dim_in)
            if upsample
            else None
        )

    def forward(self, x: Tensor, s: Tensor, lengths: Tensor) -> Tensor:
        out_lengths = 2 * lengths if self.upsample else lengths
        shortcut = functional.interpolate(x, scale_factor=2.0, mode="nearest") if self.upsample else x
        if self.conv1x1 is not None:
            shortcut = self.conv1x1(shortcut)
        h = functional.leaky_relu(self.norm1(x, s, lengths), SLOPE)
        if self.pool is not None:
            h = self.pool(masked(h, lengths))
        h = self.conv1(masked(h, out_lengths))
        h = functional.leaky_relu(self.norm2(h, s, out_lengths), SLOPE)
        h = self.conv2(masked(h, out_lengths))
        out: Tensor = (h + shortcut) / math.sqrt(2.0)
        return out


def snake(x: Tensor, alpha: Tensor) -> Tensor:
    return x + torch.sin(alpha * x) ** 2 / alpha


class SnakeResBlock(nn.Module):
    """AdaINResBlock1: ``x += conv2(snake(adain2(conv1(snake(adain1(x))))))`` for dilations 1, 3, 5."""

    def __init__(self, channels: int, kernel: int, style: int = 128, dilations: tuple[int, ...] = (1, 3, 5)) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2) for d in dilations
        )
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, padding=(kernel - 1) // 2) for _ in dilations)
        self.adain1 = nn.ModuleList(AdaIN(style, channels) for _ in dilations)
        self.adain2 = nn.ModuleList(AdaIN(style, channels) for _ in dilations)
        self.alpha1 = nn.ParameterList(nn.Parameter(torch.ones(1, channels, 1)) for _ in dilations)
        self.alpha2 = nn.ParameterList(nn.Parameter(torch.ones(1, channels, 1)) for _ in dilations)

    def forward(self, x: Tensor, s: Tensor, lengths: Tensor) -> Tensor:
        for k in range(len(self.convs1)):
            h = snake(self.adain1[k](x, s, lengths), self.alpha1[k])
            h = self.convs1[k](masked(h, lengths))
            h = snake(self.adain2[k](h, s, lengths), self.alpha2[k])
            x = x + self.convs2[k](masked(h, lengths))
        return x


class TextEncoder(nn.Module):
    """Embedding, three (conv k5 + LayerNorm over channels + LeakyReLU 0.2), a bidirectional LSTM: [B, 512, T]."""

    def __init__(self, symbols: int = 178, channels: int = 512, depth: int = 3) -> None:
        super().__init__()
        self.embedding = nn.Embedding(symbols, channels)
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, 5, padding=2) for _ in range(depth))
        self.norms = nn.ModuleList(nn.LayerNorm(channels, eps=EPS) for _ in range(depth))
        self.lstm = nn.LSTM(channels, channels // 2, batch_first=True, bidirectional=True)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        x = self.embedding(ids).transpose(1, 2)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = conv(masked(x, lengths))
            x = functional.leaky_relu(norm(x.transpose(1, 2)).transpose(1, 2), SLOPE)
        out = run_lstm(self.lstm, masked(x, lengths).transpose(1, 2), lengths)
        return out.transpose(1, 2)


def run_lstm(lstm: nn.LSTM, x: Tensor, lengths: Tensor) -> Tensor:
    """``lstm`` over each item's valid steps of ``x`` [B, T, C] (packed), zeros past the end, in the LSTM's own
    dtype (the synthesizer keeps LSTMs in fp32 whatever the precision) and returned in ``x``'s."""
    inner = next(lstm.parameters()).dtype
    packed = nn.utils.rnn.pack_padded_sequence(x.to(inner), lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    padded, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return padded.to(x.dtype)
