"""Undoing onnxruntime's dynamic int8 quantization on a small graph (MatMul, Conv with bias, LSTM): the float
graph has no integer ops, its weights are the dequantized ones, and it computes what the original float
graph computes (up to the int8 rounding of the weights, well under 2% here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from ttsd.voices.kokoro.dequant import dequantized_weights, float_model, module_path

INTEGER_OPS = {"MatMulInteger", "ConvInteger", "DynamicQuantizeLSTM", "DynamicQuantizeLinear"}


def _float_graph() -> Any:
    rng = np.random.default_rng(0)
    arrays = {
        "fc.weight": rng.standard_normal((8, 6)), "fc.bias": rng.standard_normal(6),
        "conv.weight": rng.standard_normal((5, 4, 3)), "conv.bias": rng.standard_normal(5),
        "lstm.W": rng.standard_normal((1, 12, 6)), "lstm.R": rng.standard_normal((1, 12, 3)),
    }  # fmt: skip
    inits = [numpy_helper.from_array(a.astype(np.float32), name) for name, a in arrays.items()]
    nodes = [
        helper.make_node("MatMul", ["x", "fc.weight"], ["mm"], name="/fc/MatMul"),
        helper.make_node("Add", ["mm", "fc.bias"], ["fc"], name="/fc/Add"),
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["cv"], name="/enc/conv/Conv", pads=[1, 1]),
        helper.make_node("Transpose", ["fc"], ["seq"], perm=[1, 0, 2], name="/t"),
        helper.make_node("LSTM", ["seq", "lstm.W", "lstm.R"], ["ly", "lh", "lc"], name="/lstm/LSTM", hidden_size=3),
    ]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("cv", "ly")]
    graph = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])], outputs, inits
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def _run(model: Any, x: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(a) for a in session.run(None, {"x": x})]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    root = tmp_path_factory.mktemp("quant")
    original = _float_graph()
    onnx.save(original, str(root / "f.onnx"))
    quantize_dynamic(root / "f.onnx", root / "q.onnx", op_types_to_quantize=["MatMul", "Conv", "LSTM"],
                     weight_type=QuantType.QInt8)  # fmt: skip
    return original, onnx.load(str(Path(root / "q.onnx")))


def test_the_float_graph_has_no_integer_ops_and_matches_the_original(models: tuple[Any, Any]) -> None:
    original, quantized = models
    assert {n.op_type for n in quantized.graph.node} >= {"MatMulInteger", "ConvInteger", "DynamicQuantizeLSTM"}
    restored = float_model(quantized)
    assert not {n.op_type for n in restored.graph.node} & INTEGER_OPS
    x = np.random.default_rng(1).standard_normal((1, 4, 8)).astype(np.float32)
    for want, got in zip(_run(original, x), _run(restored, x), strict=True):
        assert np.abs(got - want).max() <= 0.02 * np.abs(want).max()


def test_dequantized_weights_are_named_after_their_modules(models: tuple[Any, Any]) -> None:
    original, quantized = models
    weights = dequantized_weights(quantized)
    assert set(weights) == {"fc.weight", "enc.conv.weight", "lstm.weight_ih", "lstm.weight_hh"}
    source = {t.name: numpy_helper.to_array(t) for t in original.graph.initializer}
    for name, ref in (("fc.weight", "fc.weight"), ("enc.conv.weight", "conv.weight"), ("lstm.weight_ih", "lstm.W")):
        assert weights[name].shape == source[ref].shape
        step = np.abs(source[ref]).max() / 127
        assert np.abs(weights[name] - source[ref]).max() <= step


def test_module_path_drops_the_op_name() -> None:
    assert module_path("/decoder/decoder/decode.2/conv2/Conv_quant") == "decoder.decoder.decode.2.conv2"
