"""FastSpeech2 weights from the pinned ``fastspeech2_quan.tflite``.

Tensor indices come from docs/fs_mapping.tsv; the transforms (§1) from docs/model-port.md.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ttsd.voices.baker.layers import LAYERS
from ttsd.voices.baker.tflite import TFLiteModel

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
