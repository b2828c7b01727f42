"""The first half of the planned PyTorch Kokoro (GPU path): text -> per-id durations, batched with masks.

Written from the structure of Kokoro's model (ALBERT text encoder with one layer shared 12 times, a linear
``bert_encoder``, the prosody predictor's duration encoder of bidirectional LSTMs and AdaLayerNorms, its LSTM
and duration projection), loaded with float weights dequantized from the int8 ONNX graph
(:func:`ttsd.voices.kokoro.dequant.dequantized_weights`) plus the graph's float initializers. Padded items are
masked: attention ignores pad keys and every LSTM runs on packed sequences, so an item's durations do not
depend on its batch. The decoder half is :mod:`ttsd.voices.kokoro.torch_decoder`; both are joined in
:mod:`ttsd.voices.kokoro.torch_model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional

from ttsd.voices.kokoro.torch_blocks import run_lstm

HIDDEN = 768
HEADS = 12
REPEATS = 12
STYLE = 128
D_MODEL = 512
EPS_BERT = 1e-12
EPS_ADA = 1e-5
_ALBERT = "encoder.bert.encoder.albert_layer_groups.0.albert_layers.0."
# ONNX LSTM gate blocks (i, o, f, c) -> PyTorch (i, f, g, o).
_GATES = (0, 2, 3, 1)


class _Albert(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.word = nn.Embedding(178, 128)
        self.position = nn.Embedding(512, 128)
        self.token_type = nn.Embedding(2, 128)
        self.embed_norm = nn.LayerNorm(128, eps=EPS_BERT)
        self.mapping = nn.Linear(128, HIDDEN)
        self.query, self.key, self.value, self.dense = (nn.Linear(HIDDEN, HIDDEN) for _ in range(4))
        self.attn_norm = nn.LayerNorm(HIDDEN, eps=EPS_BERT)
        self.ffn = nn.Linear(HIDDEN, 2048)
        self.ffn_output = nn.Linear(2048, HIDDEN)
        self.full_norm = nn.LayerNorm(HIDDEN, eps=EPS_BERT)

    def forward(self, ids: Tensor, valid: Tensor) -> Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)[None, :]
        x = self.word(ids) + self.token_type(torch.zeros_like(ids)) + self.position(positions)
        x = self.mapping(self.embed_norm(x))
        bias: Tensor = torch.zeros(valid.shape, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill(~valid, torch.finfo(x.dtype).min)
        out: Tensor = x
        for _ in range(REPEATS):
            out = self._layer(out, bias[:, None, None, :])
        return out

    def _layer(self, x: Tensor, bias: Tensor) -> Tensor:
        b, t, _ = x.shape

        def heads(y: Tensor) -> Tensor:
            return y.view(b, t, HEADS, HIDDEN // HEADS).transpose(1, 2)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        context = functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        attended = self.attn_norm(x + self.dense(context.transpose(1, 2).reshape(b, t, HIDDEN)))
        hidden = functional.gelu(self.ffn(attended), approximate="tanh")
        out: Tensor = self.full_norm(attended + self.ffn_output(hidden))
        return out


class _AdaLayerNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(STYLE, 2 * D_MODEL)

    def forward(self, x: Tensor, style: Tensor) -> Tensor:  # x [B, T, C], style [B, 128]
        gamma, beta = self.fc(style)[:, None, :].chunk(2, dim=-1)
        out: Tensor = (1 + gamma) * functional.layer_norm(x, (D_MODEL,), eps=EPS_ADA) + beta
        return out


def _bilstm(input_size: int) -> nn.LSTM:
    return nn.LSTM(input_size, D_MODEL // 2, batch_first=True, bidirectional=True)


class KokoroDurations(nn.Module):
    """``forward(ids [B, T], lengths [B], style [B, 256], speed [B]) -> frames [B, T]`` (0 on padding)."""

    def __init__(self) -> None:
        super().__init__()
        self.bert = _Albert()
        self.bert_encoder = nn.Linear(HIDDEN, D_MODEL)
        self.lstms = nn.ModuleList(_bilstm(D_MODEL + STYLE) for _ in range(3))
        self.norms = nn.ModuleList(_AdaLayerNorm() for _ in range(3))
        self.lstm = _bilstm(D_MODEL + STYLE)
        self.duration_proj = nn.Linear(D_MODEL, 50)

    def forward(self, ids: Tensor, lengths: Tensor, style: Tensor, speed: Tensor) -> Tensor:
        frames, _ = self.predict(ids, lengths, style, speed)
        return frames

    def predict(self, ids: Tensor, lengths: Tensor, style: Tensor, speed: Tensor) -> tuple[Tensor, Tensor]:
        """``(frames [B, T], d [B, T, 640])``: the durations and the duration encoder's features (masked)."""
        valid = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]
        x = self.bert_encoder(self.bert(ids, valid))
        s = style[:, STYLE:].to(x.dtype)
        s_t = s[:, None, :].expand(-1, ids.shape[1], -1)
        mask = valid[:, :, None].to(x.dtype)
        x = torch.cat([x, s_t], dim=-1) * mask
        for lstm, norm in zip(self.lstms, self.norms, strict=True):
            assert isinstance(lstm, nn.LSTM)
            x = run_lstm(lstm, x, lengths)
            x = torch.cat([norm(x, s), s_t], dim=-1) * mask
        h = run_lstm(self.lstm, x, lengths)
        duration = torch.sigmoid(self.duration_proj(h).float()).sum(dim=-1) / speed[:, None]
        return torch.round(duration).clamp(min=1).long() * valid, x


def build(
    weights: Mapping[str, np.ndarray[Any, Any]], initializers: Mapping[str, np.ndarray[Any, Any]]
) -> KokoroDurations:
    """The module with ``weights`` (from ``dequantized_weights``) and the graph's float ``initializers``."""
    model = KokoroDurations()
    state = duration_state(weights, initializers)
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()}, strict=True)
    return model.eval()


def duration_state(w: Mapping[str, np.ndarray[Any, Any]], init: Mapping[str, np.ndarray[Any, Any]]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for ours, onnx_name in (("word", "word_embeddings"), ("position", "position_embeddings"),
                            ("token_type", "token_type_embeddings")):  # fmt: skip
        prefix = f"encoder.bert.embeddings.{onnx_name}.weight"
        zero = init["encoder.bert.embeddings.word_embeddings.weight_zero_point"].astype(np.float32)
        table = (init[prefix + "_quantized"].astype(np.float32) - zero) * init[prefix + "_scale"]
        state[f"bert.{ours}.weight"] = table.astype(np.float32)
    state["bert.embed_norm.weight"] = init["encoder.bert.embeddings.LayerNorm.weight"]
    state["bert.embed_norm.bias"] = init["encoder.bert.embeddings.LayerNorm.bias"]
    _linear(state, "bert.mapping", w["encoder.bert.encoder.embedding_hidden_mapping_in.weight"],
            init["encoder.bert.encoder.embedding_hidden_mapping_in.bias"])  # fmt: skip
    for name in ("query", "key", "value", "dense"):
        _linear(state, f"bert.{name}", w[f"{_ALBERT}attention.{name}.weight"], init[f"{_ALBERT}attention.{name}.bias"])
    for ours, theirs in (("attn_norm", "attention.LayerNorm"), ("full_norm", "full_layer_layer_norm")):
        state[f"bert.{ours}.weight"] = init[f"{_ALBERT}{theirs}.weight"]
        state[f"bert.{ours}.bias"] = init[f"{_ALBERT}{theirs}.bias"]
    for name in ("ffn", "ffn_output"):
        _linear(state, f"bert.{name}", w[f"{_ALBERT}{name}.weight"], init[f"{_ALBERT}{name}.bias"])
    _linear(state, "bert_encoder", w["encoder.bert_encoder.weight"], init["encoder.bert_encoder.bias"])
    for i in range(3):
        lstm_state(state, f"lstms.{i}", w, f"encoder.predictor.text_encoder.lstms.{2 * i}")
        fc = f"encoder.predictor.text_encoder.lstms.{2 * i + 1}.fc"
        _linear(state, f"norms.{i}.fc", w[fc + ".weight"], init[fc + ".bias"])
    lstm_state(state, "lstm", w, "encoder.predictor.lstm")
    _linear(state, "duration_proj", w["encoder.predictor.duration_proj.linear_layer.weight"],
            init["encoder.predictor.duration_proj.linear_layer.bias"])  # fmt: skip
    return state


def _linear(state: dict[str, Any], name: str, weight: np.ndarray[Any, Any], bias: np.ndarray[Any, Any]) -> None:
    state[name + ".weight"] = weight.T  # ONNX MatMul weights are [in, out]
    state[name + ".bias"] = bias


def lstm_state(state: dict[str, Any], name: str, w: Mapping[str, np.ndarray[Any, Any]], source: str) -> None:
    hidden = D_MODEL // 2

    def gates(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.concatenate([a[k * hidden : (k + 1) * hidden] for k in _GATES], axis=0)

    bias = w[source + ".bias"]
    for direction, suffix in ((0, ""), (1, "_reverse")):
        state[f"{name}.weight_ih_l0{suffix}"] = gates(w[source + ".weight_ih"][direction])
        state[f"{name}.weight_hh_l0{suffix}"] = gates(w[source + ".weight_hh"][direction])
        state[f"{name}.bias_ih_l0{suffix}"] = gates(bias[direction, : 4 * hidden])
        state[f"{name}.bias_hh_l0{suffix}"] = gates(bias[direction, 4 * hidden :])
