"""The onnxruntime wrapper and the duration-output graph edit, on a tiny graph shaped like Kokoro's:
``tokens`` [1, T] -> ``/encoder/Clip`` (frames per id) -> ``audio`` of 600 samples per frame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ttsd.errors import AssetError, BackendError
from ttsd.voices.kokoro.graph import DURATION_OUTPUT, add_duration_output
from ttsd.voices.kokoro.session import SAMPLES_PER_FRAME, Item, OnnxSynthesizer


def _tiny_kokoro(path: Path, *, clip_name: str = "/encoder/Clip") -> None:
    """frames = clip(round(tokens % 3 / speed), 1); audio = style[0, 0] repeated 600 * sum(frames) times."""
    consts: dict[str, np.ndarray[Any, Any]] = {
        "three": np.array(3, dtype=np.int64), "one": np.array(1.0, dtype=np.float32),
        "hop": np.array([SAMPLES_PER_FRAME], dtype=np.int64),
    }  # fmt: skip
    nodes = [
        helper.make_node("Mod", ["tokens", "three"], ["m"]),
        helper.make_node("Cast", ["m"], ["mf"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["mf", "speed"], ["d"]),
        helper.make_node("Round", ["d"], ["r"]),
        helper.make_node("Clip", ["r", "one"], ["frames"], name=clip_name),
        helper.make_node("ReduceSum", ["frames"], ["total"], keepdims=0),
        helper.make_node("Cast", ["total"], ["total_i"], to=TensorProto.INT64),
        helper.make_node("Mul", ["total_i", "hop"], ["n"]),
        helper.make_node("ReduceMax", ["style"], ["level"], keepdims=0),
        helper.make_node("Expand", ["level", "n"], ["audio"]),
    ]
    inputs = [
        helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, None]),
        helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, 256]),
        helper.make_tensor_value_info("speed", TensorProto.FLOAT, [1]),
    ]
    outputs = [helper.make_tensor_value_info("audio", TensorProto.FLOAT, None)]
    inits = [numpy_helper.from_array(v, k) for k, v in consts.items()]
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), str(path))


@pytest.fixture
def timed(tmp_path: Path) -> Path:
    _tiny_kokoro(tmp_path / "tiny.onnx")
    add_duration_output(tmp_path / "tiny.onnx", tmp_path / "timed.onnx")
    return tmp_path / "timed.onnx"


def _style(level: float) -> Any:
    return np.full((1, 256), level, dtype=np.float32)


def test_the_edit_adds_an_int64_durations_output(timed: Path) -> None:
    model = onnx.load(str(timed))
    assert [o.name for o in model.graph.output] == ["audio", DURATION_OUTPUT]


def test_durations_are_samples_per_id_summing_to_the_audio(timed: Path) -> None:
    synth = OnnxSynthesizer(model_path=timed, threads=1)
    out, slow = synth([Item([0, 2, 5, 1, 0], _style(0.25), 1.0), Item([0, 2, 5, 1, 0], _style(0.25), 0.5)])
    assert out.durations.tolist() == [600, 1200, 1200, 600, 600]
    assert len(out.audio) == int(out.durations.sum())
    assert float(out.audio[0]) == 0.25
    assert slow.durations.tolist() == [600, 2400, 2400, 1200, 600]


def test_a_graph_without_the_clip_node_is_refused(tmp_path: Path) -> None:
    _tiny_kokoro(tmp_path / "other.onnx", clip_name="/somewhere/else")
    with pytest.raises(AssetError, match=r"not the Kokoro v1\.0 graph"):
        add_duration_output(tmp_path / "other.onnx", tmp_path / "timed.onnx")
    assert not (tmp_path / "timed.onnx").exists()


def test_an_unedited_or_broken_model_file_names_the_fix(tmp_path: Path) -> None:
    _tiny_kokoro(tmp_path / "tiny.onnx")
    with pytest.raises(AssetError, match="no 'durations' output"):
        OnnxSynthesizer(model_path=tmp_path / "tiny.onnx", threads=1)
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(AssetError, match="cannot load the Kokoro model"):
        OnnxSynthesizer(model_path=tmp_path / "broken.onnx", threads=1)


def test_a_failing_run_is_a_backend_error(timed: Path) -> None:
    synth = OnnxSynthesizer(model_path=timed, threads=1)
    with pytest.raises(BackendError, match="Kokoro inference failed on 3 ids"):
        synth([Item([0, 1, 0], np.zeros((1, 7), dtype=np.float32), 1.0)])
