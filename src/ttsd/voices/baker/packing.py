"""The frame-level layout of FastSpeech2: every item's frames packed back to back in one row sequence.

Frame-level layers run on :class:`Packing`'s packed rows (zero gaps between items), so no work is spent on
frame padding; only attention regroups the rows per item. :func:`aligned` pads sizes to a fixed multiple.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

ALIGN = 32
# Zero rows after each item in the packed frame layout: the widest frame-level conv (postnet, k=5) reaches 2.
GAP = 2


def aligned(n: int) -> int:
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
        rows = torch.arange(aligned(int(spans.sum())), device=device)
        item = torch.searchsorted(spans.cumsum(0), rows, right=True).clamp_(max=batch - 1)
        frame = rows - starts[item]
        row_mask = frame < lengths[item]
        token = torch.searchsorted(ends[item], frame.unsqueeze(1), right=True).squeeze(1).clamp_(max=tokens - 1)
        width = aligned(int(lengths.max()))
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
