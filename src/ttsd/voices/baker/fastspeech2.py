"""FastSpeech2 acoustic model of the Baker voice, batched with padding masks (spec: docs/model-port.md §2).

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
where nearly all the compute is, may run in bfloat16 or float16, and the postnet may run in a dtype of its own
(``mixed``: decoder float32, postnet bfloat16; its input is cast down and its output back up, and the residual
add stays float32).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the conventional alias
from torch import Tensor, nn

from ttsd.voices.baker.layers import (
    HIDDEN,
    MAX_POSITIONS,
    N_MELS,
    VOCAB,
    FFTStack,
    LayerNorm,
    Postnet,
    SelfAttention,
    VariancePredictor,
)
from ttsd.voices.baker.packing import Packing, aligned
from ttsd.voices.baker.quant import QMAX, QConv1d, QLinear


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
        self.postnet_dtype = torch.float32

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

    def set_frame_dtype(self, dtype: torch.dtype, *, postnet: torch.dtype | None = None) -> None:
        """Run decoder and mel projection in ``dtype`` (float32, bfloat16 or float16), the postnet in ``postnet``
        (default: ``dtype``)."""
        postnet = dtype if postnet is None else postnet
        if self.exact and (dtype != torch.float32 or postnet != torch.float32):
            raise ValueError("exact mode runs in float32 only")
        for module in (self.decoder, self.mel_out):
            module.to(dtype)
        self.postnet.to(postnet)
        self.frame_dtype = dtype
        self.postnet_dtype = postnet

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
        ids = F.pad(ids, (0, aligned(length) - length))
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
        if self.postnet_dtype == self.frame_dtype:
            mel_after = mel_before + self.postnet(mel_before, mask, packing.segments)
            return mel_before.float(), mel_after.float()
        # A postnet in its own dtype: cast in and out, and add the residual in float32.
        residual = self.postnet(mel_before.to(self.postnet_dtype), mask.to(self.postnet_dtype), packing.segments)
        mel_before = mel_before.float()
        return mel_before, mel_before + residual.float()

    def _positions(self, pos: Tensor) -> Tensor:
        table: Tensor = self.pos_table
        needed = int(pos.max()) + 1 if pos.numel() else 1
        if needed > table.shape[0]:
            # Longer than the trained table: extend with the same (int8-rounded) sinusoid.
            extra = sinusoid_table(needed, table.shape[1])[table.shape[0] :]
            table = torch.cat([table, torch.round(extra * QMAX).to(table) / QMAX])
        return table[pos]


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


def build_acoustic(state: dict[str, Tensor], *, exact: bool = False) -> FastSpeech2:
    """A :class:`FastSpeech2` in eval mode with ``state`` loaded (strictly) on the CPU."""
    model = FastSpeech2()
    model.load_state_dict(state, strict=True, assign=True)  # adopt the tensors, no copy
    model.eval()
    model.set_exact(exact)
    return model
