"""The PyTorch duration half (:mod:`ttsd.voices.kokoro.torch_duration`) on the real Kokoro weights, in one
padded batch, against onnxruntime: the dequantized float graph (same float weights: identical durations
expected, fp32) and the int8 graph that serves on the CPU (int8 rounding moves a duration near a rounding
edge: at most 2 frames on any id, at most 1 on 95% of them, totals within 3%). bf16 (the GPU precision) is
checked against fp32 on the CPU: at most 1 frame per id and 2% of the total."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ttsd.errors import AssetError
from ttsd.voices.kokoro import assets

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).parents[1] / "fixtures" / "kokoro" / "misaki_zh.json"


@pytest.fixture(scope="module")
def setup() -> dict[str, Any]:
    import onnx
    from onnx import numpy_helper

    from ttsd.voices.kokoro.dequant import dequantized_weights
    from ttsd.voices.kokoro.phonemizer import load_vocab
    from ttsd.voices.kokoro.torch_duration import build

    env = os.environ.get("TTSD_MODEL_DIR")
    try:
        prepared = assets.prepare(model_dir=Path(env) if env else None)
    except AssetError as exc:
        pytest.skip(f"Kokoro assets not installed (scripts/install.sh --kokoro-only): {exc}")
    graph = onnx.load(str(prepared.timed_model_path))
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.graph.initializer}
    vocab = load_vocab()
    cases = json.loads(FIXTURE.read_text(encoding="utf-8"))["sentences"][:4]
    table = np.fromfile(assets.voice_path(prepared.voices_dir, "zf_xiaoyi"), dtype="<f4").reshape(510, 256)
    ids = [[0, *(vocab[ch] for ch in case["misaki"] if ch in vocab), 0] for case in cases]
    return {"graph": graph, "model": build(dequantized_weights(graph), initializers), "ids": ids,
            "styles": np.stack([table[len(i) - 2] for i in ids]), "path": prepared.timed_model_path}  # fmt: skip


def _onnx_durations(model: Any, ids: list[list[int]], styles: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    out = []
    for item, style in zip(ids, styles, strict=True):
        feeds = {"tokens": np.asarray([item], dtype=np.int64), "style": style[None, :],
                 "speed": np.asarray([1.0], dtype=np.float32)}  # fmt: skip
        out.append(np.asarray(session.run(["durations"], feeds)[0]).reshape(-1))
    return out


def _torch_durations(setup: dict[str, Any], dtype: torch.dtype) -> list[np.ndarray[Any, Any]]:
    ids = setup["ids"]
    batch = torch.zeros(len(ids), max(map(len, ids)), dtype=torch.long)
    for k, item in enumerate(ids):
        batch[k, : len(item)] = torch.tensor(item)
    model = setup["model"].to(dtype)
    with torch.no_grad():
        frames = model(batch, torch.tensor([len(i) for i in ids]), torch.from_numpy(setup["styles"]).to(dtype),
                       torch.ones(len(ids)))  # fmt: skip
    setup["model"].to(torch.float32)
    return [frames[k, : len(item)].numpy() for k, item in enumerate(ids)]


def test_fp32_matches_the_float_graph_exactly_and_int8_within_a_frame(setup: dict[str, Any]) -> None:
    from ttsd.voices.kokoro.dequant import float_model

    ours = _torch_durations(setup, torch.float32)
    floating = _onnx_durations(float_model(setup["graph"]).SerializeToString(), setup["ids"], setup["styles"])
    int8 = _onnx_durations(str(setup["path"]), setup["ids"], setup["styles"])
    for mine, ref, quantized in zip(ours, floating, int8, strict=True):
        np.testing.assert_array_equal(mine, ref)
        moved = np.abs(mine - quantized)
        assert int(moved.max()) <= 2
        assert float(np.mean(moved <= 1)) >= 0.95
        assert abs(int(mine.sum()) - int(quantized.sum())) <= 0.03 * int(quantized.sum())


def test_bf16_stays_within_a_frame_of_fp32(setup: dict[str, Any]) -> None:
    full = _torch_durations(setup, torch.float32)
    half = _torch_durations(setup, torch.bfloat16)
    for a, b in zip(full, half, strict=True):
        moved = np.abs(a - b)
        print(f"\nbf16 vs fp32: {int((moved > 0).sum())} of {len(a)} ids moved, max {int(moved.max())}")
        assert int(moved.max()) <= 1
        assert abs(int(a.sum()) - int(b.sum())) <= 0.02 * int(a.sum())
