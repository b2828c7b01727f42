"""The PyTorch duration half on random weights: padding never leaks into an item's durations, and the
state built from ONNX-layout weights loads strictly (every parameter named, shaped and gate-ordered)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from ttsd.voices.kokoro.torch_duration import KokoroDurations, duration_state


def _batch(items: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.zeros(len(items), max(map(len, items)), dtype=torch.long)
    for k, item in enumerate(items):
        ids[k, : len(item)] = torch.tensor(item)
    return ids, torch.tensor([len(item) for item in items])


@pytest.mark.slow
def test_a_padded_batch_gives_each_item_its_own_durations() -> None:
    torch.manual_seed(0)
    model = KokoroDurations().eval()
    items = [[0, 5, 9, 33, 12, 0], [0, 44, 0], [0, 7, 7, 7, 7, 7, 7, 7, 0]]
    style = torch.randn(len(items), 256)
    with torch.no_grad():
        batched = model(*_batch(items), style, torch.ones(len(items)))
        for k, item in enumerate(items):
            alone = model(*_batch([item]), style[k : k + 1], torch.ones(1))
            assert torch.equal(batched[k, : len(item)], alone[0])
            assert int(batched[k, len(item) :].abs().sum()) == 0
    assert int(batched.min()) >= 0


@pytest.mark.slow
def test_speed_divides_the_predicted_durations() -> None:
    torch.manual_seed(1)
    model = KokoroDurations().eval()
    ids, lengths = _batch([[0, 5, 9, 33, 12, 0]])
    style = torch.randn(1, 256)
    with torch.no_grad():
        slow = model(ids, lengths, style, torch.tensor([0.25])).sum()
        fast = model(ids, lengths, style, torch.tensor([4.0])).sum()
    assert int(slow) > int(fast)


def test_onnx_layout_weights_map_onto_every_parameter() -> None:
    model = KokoroDurations()
    rng = np.random.default_rng(0)
    shapes = _onnx_shapes()
    weights = {k: rng.standard_normal(v).astype(np.float32) for k, v in shapes["weights"].items()}
    inits: dict[str, np.ndarray[Any, Any]] = {k: rng.standard_normal(v).astype(np.float32)
                                              for k, v in shapes["inits"].items()}  # fmt: skip
    inits["encoder.bert.embeddings.word_embeddings.weight_zero_point"] = np.zeros((), dtype=np.float32)
    state = duration_state(weights, inits)
    assert set(state) == set(model.state_dict())
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()})
    # gate order: ONNX (i, o, f, c) -> PyTorch (i, f, g, o); the forget block comes second
    onnx_w = weights["encoder.predictor.lstm.weight_ih"][0]
    loaded = model.state_dict()["lstm.weight_ih_l0"].numpy()
    np.testing.assert_array_equal(loaded[256:512], onnx_w[512:768])


def _onnx_shapes() -> dict[str, dict[str, tuple[int, ...]]]:
    albert = "encoder.bert.encoder.albert_layer_groups.0.albert_layers.0."
    weights: dict[str, tuple[int, ...]] = {
        "encoder.bert.encoder.embedding_hidden_mapping_in.weight": (128, 768),
        **{f"{albert}attention.{n}.weight": (768, 768) for n in ("query", "key", "value", "dense")},
        f"{albert}ffn.weight": (768, 2048), f"{albert}ffn_output.weight": (2048, 768),
        "encoder.bert_encoder.weight": (768, 512),
        "encoder.predictor.duration_proj.linear_layer.weight": (512, 50),
    }  # fmt: skip
    inits: dict[str, tuple[int, ...]] = {
        "encoder.bert.embeddings.LayerNorm.weight": (128,), "encoder.bert.embeddings.LayerNorm.bias": (128,),
        "encoder.bert.encoder.embedding_hidden_mapping_in.bias": (768,),
        **{f"{albert}attention.{n}.bias": (768,) for n in ("query", "key", "value", "dense")},
        f"{albert}attention.LayerNorm.weight": (768,), f"{albert}attention.LayerNorm.bias": (768,),
        f"{albert}full_layer_layer_norm.weight": (768,), f"{albert}full_layer_layer_norm.bias": (768,),
        f"{albert}ffn.bias": (2048,), f"{albert}ffn_output.bias": (768,), "encoder.bert_encoder.bias": (512,),
        "encoder.predictor.duration_proj.linear_layer.bias": (50,),
    }  # fmt: skip
    for name, rows in (("word", 178), ("position", 512), ("token_type", 2)):
        inits[f"encoder.bert.embeddings.{name}_embeddings.weight_quantized"] = (rows, 128)
        inits[f"encoder.bert.embeddings.{name}_embeddings.weight_scale"] = ()
    for source in [f"encoder.predictor.text_encoder.lstms.{2 * i}" for i in range(3)] + ["encoder.predictor.lstm"]:
        weights[source + ".weight_ih"] = (2, 1024, 640)
        weights[source + ".weight_hh"] = (2, 1024, 256)
        weights[source + ".bias"] = (2, 2048)
    for i in range(3):
        weights[f"encoder.predictor.text_encoder.lstms.{2 * i + 1}.fc.weight"] = (128, 1024)
        inits[f"encoder.predictor.text_encoder.lstms.{2 * i + 1}.fc.bias"] = (1024,)
    return {"weights": weights, "inits": inits}
