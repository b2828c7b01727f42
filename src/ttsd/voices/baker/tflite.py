"""A minimal, read-only reader of ``.tflite`` flatbuffers: constant tensors and the op list.

It needs only the ``flatbuffers`` runtime (no TensorFlow, no LiteRT). Field slots follow the TFLite schema
(``tensorflow/compiler/mlir/lite/schema/schema.fbs``); only the handful of tables the weight converters need
are read. Tensor indices refer to the first subgraph.

Dequantization (``tensor``): an int8/uint8/int16 tensor with quantization parameters becomes
``(q - zero_point) * scale``, per tensor when there is one scale, or per channel along ``quantized_dimension``
when there are several. Float tensors come back as float32 unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import flatbuffers
import numpy as np
import numpy.typing as npt
from flatbuffers import number_types as nt

# TensorType enum value -> numpy dtype (only the types these models can hold).
_DTYPES: dict[int, np.dtype[np.generic]] = {
    0: np.dtype("<f4"),
    1: np.dtype("<f2"),
    2: np.dtype("<i4"),
    3: np.dtype("u1"),
    4: np.dtype("<i8"),
    6: np.dtype("?"),
    7: np.dtype("<i2"),
    9: np.dtype("i1"),
    10: np.dtype("<f8"),
}
_FILE_IDENTIFIER = b"TFL3"


class _Table:
    """Typed accessors over one flatbuffers table (slot n lives at vtable offset 4 + 2n)."""

    __slots__ = ("_buf", "_tab")

    def __init__(self, buf: bytes, pos: int) -> None:
        self._buf = buf
        self._tab = flatbuffers.table.Table(buf, pos)

    def _offset(self, slot: int) -> int:
        off: int = self._tab.Offset(4 + 2 * slot)
        return off

    def scalar(self, slot: int, flags: type, default: int) -> int:
        off = self._offset(slot)
        if off == 0:
            return default
        value: int = self._tab.Get(flags, off + self._tab.Pos)
        return value

    def string(self, slot: int) -> str:
        off = self._offset(slot)
        if off == 0:
            return ""
        raw: bytes = self._tab.String(off + self._tab.Pos)
        return raw.decode("utf-8", errors="replace")

    def table(self, slot: int) -> _Table | None:
        off = self._offset(slot)
        if off == 0:
            return None
        return _Table(self._buf, self._tab.Indirect(off + self._tab.Pos))

    def tables(self, slot: int) -> list[_Table]:
        off = self._offset(slot)
        if off == 0:
            return []
        start = self._tab.Vector(off)
        count = self._tab.VectorLen(off)
        return [_Table(self._buf, self._tab.Indirect(start + 4 * i)) for i in range(count)]

    def array(self, slot: int, dtype: str) -> npt.NDArray[np.generic]:
        """A vector of scalars as a read-only numpy view (empty when the field is absent)."""
        off = self._offset(slot)
        if off == 0:
            return np.zeros(0, dtype=dtype)
        start = self._tab.Vector(off)
        count = self._tab.VectorLen(off)
        return np.frombuffer(self._buf, dtype=dtype, count=count, offset=start)


@dataclass(frozen=True, slots=True)
class Quantization:
    """A tensor's quantization parameters (empty arrays when it has none)."""

    scale: npt.NDArray[np.float32]
    zero_point: npt.NDArray[np.int64]
    quantized_dimension: int


@dataclass(frozen=True, slots=True)
class Operator:
    """One op of the first subgraph: its builtin code (or custom name) and tensor indices (-1 = absent)."""

    builtin_code: int
    custom_code: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _TensorMeta:
    name: str
    shape: tuple[int, ...]
    type: int
    buffer: int
    quant: Quantization


class TFLiteModel:
    """A parsed ``.tflite`` file. Construct with :meth:`open` or :meth:`from_bytes`."""

    def __init__(self, *, data: bytes) -> None:
        if len(data) < 8 or data[4:8] != _FILE_IDENTIFIER:
            raise ValueError("not a TFLite flatbuffer (missing TFL3 identifier)")
        self._data = data
        root = _Table(data, _root_pos(data))
        subgraphs = root.tables(2)
        if not subgraphs:
            raise ValueError("TFLite model has no subgraph")
        self._graph = subgraphs[0]
        self._opcodes = root.tables(1)
        self._buffers = root.tables(4)
        self._tensors = [_read_tensor(t) for t in self._graph.tables(0)]

    @classmethod
    def open(cls, path: str | Path) -> TFLiteModel:
        """Read and parse the file at ``path``. Raises ``ValueError`` if it is not a TFLite model."""
        return cls(data=Path(path).read_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> TFLiteModel:
        return cls(data=data)

    # -- tensors ---------------------------------------------------------------------------------------------

    @property
    def num_tensors(self) -> int:
        return len(self._tensors)

    def name(self, i: int) -> str:
        return self._tensors[i].name

    def shape(self, i: int) -> tuple[int, ...]:
        return self._tensors[i].shape

    def dtype(self, i: int) -> np.dtype[np.generic]:
        """The stored numpy dtype of tensor ``i``."""
        return _dtype_of(self._tensors[i].type)

    def quantization(self, i: int) -> Quantization:
        return self._tensors[i].quant

    def is_quantized(self, i: int) -> bool:
        """True if tensor ``i`` stores integers with at least one scale."""
        meta = self._tensors[i]
        return meta.quant.scale.size > 0 and _dtype_of(meta.type).kind in "iu"

    def scale(self, i: int) -> float:
        """The per-tensor scale of quantized tensor ``i`` (ValueError if absent or per-axis)."""
        scales = self._tensors[i].quant.scale
        if scales.size != 1:
            raise ValueError(f"tensor {i} ({self.name(i)}) has {scales.size} scales, not one")
        return float(scales[0])

    def has_data(self, i: int) -> bool:
        """True if tensor ``i`` is a constant (its buffer holds data)."""
        return self._buffer_bytes(self._tensors[i].buffer) is not None

    def raw(self, i: int) -> npt.NDArray[np.generic]:
        """The constant data of tensor ``i`` in its stored dtype and shape (a read-only view)."""
        meta = self._tensors[i]
        view = self._buffer_bytes(meta.buffer)
        if view is None:
            raise ValueError(f"tensor {i} ({meta.name}) has no constant data")
        start, size = view
        dtype = _dtype_of(meta.type)
        count = size // dtype.itemsize
        arr = np.frombuffer(self._data, dtype=dtype, count=count, offset=start)
        return arr.reshape(meta.shape) if meta.shape else arr.reshape(())

    def tensor(self, i: int) -> npt.NDArray[np.float32]:
        """Tensor ``i`` as float32, dequantized if it is quantized (see the module docstring)."""
        q = self.raw(i)
        if not self.is_quantized(i):
            return q.astype(np.float32)
        quant = self._tensors[i].quant
        values = q.astype(np.float32)
        if quant.scale.size == 1:
            zp = float(quant.zero_point[0]) if quant.zero_point.size else 0.0
            out: npt.NDArray[np.float32] = ((values - zp) * quant.scale[0]).astype(np.float32)
            return out
        axis = quant.quantized_dimension
        bshape = [1] * values.ndim
        bshape[axis] = -1
        scale = quant.scale.astype(np.float32).reshape(bshape)
        zps = quant.zero_point if quant.zero_point.size else np.zeros(quant.scale.size, np.int64)
        zero = zps.astype(np.float32).reshape(bshape)
        per_axis: npt.NDArray[np.float32] = ((values - zero) * scale).astype(np.float32)
        return per_axis

    def find(self, name: str) -> int:
        """Index of the tensor called ``name`` (KeyError if absent; names are not always unique)."""
        for i, meta in enumerate(self._tensors):
            if meta.name == name:
                return i
        raise KeyError(name)

    # -- ops -------------------------------------------------------------------------------------------------

    def operators(self) -> list[Operator]:
        """The ops of the first subgraph, in execution order."""
        codes = [_opcode(t) for t in self._opcodes]
        ops = []
        for op in self._graph.tables(3):
            builtin, custom = codes[op.scalar(0, nt.Uint32Flags, 0)]
            ops.append(
                Operator(
                    builtin_code=builtin,
                    custom_code=custom,
                    inputs=tuple(int(x) for x in op.array(1, "<i4")),
                    outputs=tuple(int(x) for x in op.array(2, "<i4")),
                )
            )
        return ops

    def _buffer_bytes(self, index: int) -> tuple[int, int] | None:
        """(file offset, size) of buffer ``index``'s data, or None for an empty buffer."""
        if index <= 0 or index >= len(self._buffers):
            return None
        buf = self._buffers[index]
        data = buf.array(0, "u1")
        if data.size:
            return _position_in(self._data, data), int(data.size)
        # Large models keep buffers outside the flatbuffer: offset is relative to the file start.
        offset = buf.scalar(1, nt.Uint64Flags, 0)
        size = buf.scalar(2, nt.Uint64Flags, 0)
        if offset > 1 and size > 0:
            return offset, size
        return None


def _root_pos(data: bytes) -> int:
    pos: int = flatbuffers.encode.Get(flatbuffers.packer.uoffset, data, 0)
    return pos


def _position_in(data: bytes, view: npt.NDArray[np.generic]) -> int:
    """Offset of a numpy view into ``data`` (views made by np.frombuffer share its memory)."""
    base = np.frombuffer(data, dtype="u1")
    return int(view.__array_interface__["data"][0] - base.__array_interface__["data"][0])


def _dtype_of(tensor_type: int) -> np.dtype[np.generic]:
    try:
        return _DTYPES[tensor_type]
    except KeyError:
        raise ValueError(f"unsupported TFLite tensor type {tensor_type}") from None


def _read_tensor(t: _Table) -> _TensorMeta:
    quant_table = t.table(4)
    if quant_table is None:
        quant = Quantization(np.zeros(0, np.float32), np.zeros(0, np.int64), 0)
    else:
        quant = Quantization(
            scale=quant_table.array(2, "<f4").astype(np.float32),
            zero_point=quant_table.array(3, "<i8").astype(np.int64),
            quantized_dimension=quant_table.scalar(6, nt.Int32Flags, 0),
        )
    return _TensorMeta(
        name=t.string(3),
        shape=tuple(int(x) for x in t.array(0, "<i4")),
        type=t.scalar(1, nt.Int8Flags, 0),
        buffer=t.scalar(2, nt.Uint32Flags, 0),
        quant=quant,
    )


def _opcode(t: _Table) -> tuple[int, str]:
    # builtin_code superseded the int8 deprecated_builtin_code; the larger of the two is the real code.
    deprecated = t.scalar(0, nt.Int8Flags, 0)
    builtin = t.scalar(3, nt.Int32Flags, 0)
    return max(deprecated, builtin), t.string(1)
