"""Emulation of TFLite's hybrid int8 kernels: symmetric activation quantization and int8-weight layers.

The hybrid kernels quantize the float activation to int8 in front of every int8-weight layer (per row for
Linear, per batch item over the whole ``[T, C]`` input for Conv1d) and accumulate in integers.
:class:`QLinear` and :class:`QConv1d` emulate that when quantized, or run the dequantized weight in plain
float otherwise (see :meth:`ttsd.voices.baker.fastspeech2.FastSpeech2.set_exact`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - the conventional alias
from torch import Tensor, nn

from ttsd.voices.baker.packing import Segments

# The hybrid kernels quantize activations symmetrically to [-127, 127].
QMAX = 127.0


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
    q = torch.clamp(_round_half_away(x * (QMAX / safe)), -QMAX, QMAX)
    return q, torch.where(nonzero, safe / QMAX, torch.ones_like(amax))


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
