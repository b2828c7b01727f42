"""The whole Kokoro-82M in PyTorch, batched with masks: ids + style + speed -> durations and 24 kHz audio.

:class:`KokoroTorch` joins :class:`~ttsd.voices.kokoro.torch_duration.KokoroDurations` (text -> durations and
the duration encoder's features), the alignment (each id's features repeated for its frames, per item), the
text encoder, :class:`~ttsd.voices.kokoro.torch_decoder.Prosody` (F0, energy) and
:class:`~ttsd.voices.kokoro.torch_decoder.Decoder` (iSTFTNet). Each item of a padded batch gets what it would
get alone (tests/unit/test_kokoro_torch_batching.py). :func:`build` loads the float weights of the int8 graph
(:func:`~ttsd.voices.kokoro.dequant.float_model`), so the module reproduces the float graph that
onnxruntime runs (tests/integration/test_kokoro_torch_parity.py states the tolerance).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ttsd.voices.kokoro import torch_duration
from ttsd.voices.kokoro.torch_blocks import TextEncoder
from ttsd.voices.kokoro.torch_decoder import Decoder, Prosody
from ttsd.voices.kokoro.torch_duration import KokoroDurations

SAMPLES_PER_FRAME = 600
STYLE = 128


@dataclass(frozen=True, slots=True)
class TorchOutput:
    """``audio`` [B, S] (item b valid for ``600 * frames[b].sum()`` samples) and ``frames`` [B, T] per id."""

    audio: Tensor
    frames: Tensor


class KokoroTorch(nn.Module):
    """``forward(ids [B, T] (0-padded), lengths [B], style [B, 256], speed [B]) -> TorchOutput``."""

    def __init__(self) -> None:
        super().__init__()
        self.durations = KokoroDurations()
        self.text = TextEncoder()
        self.prosody = Prosody()
        self.decoder = Decoder()

    def forward(self, ids: Tensor, lengths: Tensor, style: Tensor, speed: Tensor) -> TorchOutput:
        frames, d = self.durations.predict(ids, lengths, style, speed)
        total = frames.sum(dim=1)
        token, valid = align(frames)
        dtype = d.dtype
        s_pred, s_dec = style[:, STYLE:].to(dtype), style[:, :STYLE].to(dtype)
        en = gather_steps(d, token, valid)  # [B, 640, F]
        f0, n = self.prosody(en, s_pred, total)
        asr = gather_steps(self.text(ids, lengths).transpose(1, 2), token, valid)  # [B, 512, F]
        audio = self.decoder(asr, f0, n, s_dec, total)
        return TorchOutput(audio=audio, frames=frames)


def align(frames: Tensor) -> tuple[Tensor, Tensor]:
    """For every duration frame of every item: the id it belongs to, and whether it is inside the item."""
    ends = torch.cumsum(frames, dim=1)
    steps = int(ends[:, -1].max().item()) if frames.numel() else 0
    index = torch.arange(steps, device=frames.device)[None, :].expand(frames.shape[0], -1).contiguous()
    token = torch.searchsorted(ends, index, right=True).clamp(max=frames.shape[1] - 1)
    return token, index < ends[:, -1:]


def gather_steps(x: Tensor, token: Tensor, valid: Tensor) -> Tensor:
    """``x`` [B, T, C] picked per frame (``token`` [B, F]) -> [B, C, F], zero outside each item."""
    picked = torch.gather(x, 1, token[:, :, None].expand(-1, -1, x.shape[-1]))
    return (picked * valid[:, :, None].to(x.dtype)).transpose(1, 2)


def build(graph: Any) -> KokoroTorch:
    """:class:`KokoroTorch` with the float weights of the int8 ``graph`` (an ``onnx.ModelProto``)."""
    from onnx import numpy_helper

    from ttsd.voices.kokoro.dequant import dequantized_weights, float_model, module_params

    init = {t.name: numpy_helper.to_array(t) for t in graph.graph.initializer}
    weights = dequantized_weights(graph)  # ONNX layouts: MatMul [in, out], LSTM gates i, o, f, c
    params = module_params(float_model(graph))
    model = KokoroTorch()
    state = {f"durations.{k}": v for k, v in torch_duration.duration_state(weights, init).items()}
    for name, src in (("text.lstm", "encoder.text_encoder.lstm"), ("prosody.shared", "encoder.shared")):
        torch_duration.lstm_state(state, name, weights, src)
    for key in model.state_dict():
        if key not in state:
            state[key] = _lookup(key, params, init)
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()}, strict=True)
    return model.eval()


def _lookup(key: str, params: Mapping[str, Any], init: Mapping[str, Any]) -> Any:
    if key == "text.embedding.weight":
        zero = init["encoder.bert.embeddings.word_embeddings.weight_zero_point"].astype(np.float32)
        table = init["encoder.text_encoder.embedding.weight_quantized"].astype(np.float32) - zero
        return table * init["encoder.text_encoder.embedding.weight_scale"]
    parts = key.split(".")
    if parts[0] == "text":  # text.convs.i.weight -> encoder.text_encoder.cnn.i.cnn.i.0.weight (norms: .1)
        layer = {"convs": 0, "norms": 1}[parts[1]]
        source = f"encoder.text_encoder.cnn.{parts[2]}.cnn.{parts[2]}.{layer}.{parts[3]}"
    elif parts[0] == "prosody":
        source = "encoder." + ".".join(parts[1:])
    elif key in ("decoder.generator.inverse_basis", "decoder.generator.window_sum"):
        return init[f"decoder.decoder.generator.stft.istft.stft.{parts[-1]}"]
    elif ".alpha" in key:
        return init["decoder." + key]
    elif parts[1] == "asr_res":
        source = "decoder.decoder.asr_res.asr_res.0." + parts[-1]
    else:
        source = "decoder." + key
    if source not in params:
        raise KeyError(f"no weight {source} in the Kokoro graph for {key}")
    return params[source]
