"""Float weights from the int8 Kokoro graph, and the same graph with every quantized op made float again.

The int8 export was made with onnxruntime's dynamic quantization; it uses three patterns, each undone here:

* ``DynamicQuantizeLinear(x) -> MatMulInteger(xq, Wq, x_zp, W_zp) -> Cast -> Mul(x_scale * W_scale)``:
  ``W = (Wq - W_zp) * W_scale`` per output column; float form ``MatMul(x, W)``.
* ``DynamicQuantizeLinear(x) -> ConvInteger(xq, Wq, x_zp, W_zp) -> Add(quantized bias) -> Cast -> Mul(scale)``:
  ``W = (Wq - W_zp) * W_scale`` per tensor; float form ``Conv(x, W, b)`` with the float bias initializer.
* ``DynamicQuantizeLSTM(x, Wq, Rq, B, ..., W_scale, W_zp, R_scale, R_zp)``: per-direction scales, weights
  stored [dirs, input, 4 * hidden]; float form ``LSTM`` with [dirs, 4 * hidden, input].

(``DequantizeLinear`` after the embedding ``Gather`` already yields exact float rows and is left alone.)

:func:`float_model` is the reference a dequantized float port (the planned PyTorch GPU module) must match; run
side by side with the int8 graph it measures how far dequantized float drifts from int8 (docs/kokoro.md).
:func:`dequantized_weights` names each float weight after the node it belongs to
(``/decoder/decoder/decode.2/conv2/Conv_quant`` -> ``decoder.decoder.decode.2.conv2``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ttsd.errors import AssetError


class _Graph:
    """Index of one ONNX graph: initializers as arrays, producers and consumers of every value."""

    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper

        self.graph = model.graph
        self.init = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        self.producer = {o: n for n in self.graph.node for o in n.output}
        self.consumers: dict[str, list[Any]] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def only_consumer(self, value: str, op_type: str) -> Any:
        found = self.consumers.get(value, [])
        if len(found) != 1 or found[0].op_type != op_type:
            raise AssetError(f"unexpected Kokoro graph: {value} should feed one {op_type}")
        return found[0]

    def array(self, name: str) -> np.ndarray[Any, Any]:
        if name not in self.init:
            raise AssetError(f"unexpected Kokoro graph: {name} is not an initializer")
        return self.init[name]


def module_path(node_name: str) -> str:
    """``/decoder/decoder/decode.2/conv2/Conv_quant`` -> ``decoder.decoder.decode.2.conv2``."""
    parts = [p for p in node_name.split("/") if p]
    return ".".join(parts[:-1])


def dequantized_weights(model: Any) -> dict[str, np.ndarray[Any, Any]]:
    """``{module path + ".weight": array}`` for every MatMulInteger/ConvInteger (MatMul weights [in, out]),
    and ``.weight_ih``/``.weight_hh`` (``.bias`` where it has one) for every LSTM (ONNX layout, gates i,o,f,c)."""
    g = _Graph(model)
    out: dict[str, np.ndarray[Any, Any]] = {}
    for node in g.graph.node:
        if node.op_type in ("MatMulInteger", "ConvInteger"):
            out[module_path(node.name) + ".weight"] = _weight(g, node)
        elif node.op_type == "DynamicQuantizeLSTM":
            w, r = _lstm_weights(g, node)
            out[module_path(node.name) + ".weight_ih"] = w
            out[module_path(node.name) + ".weight_hh"] = r
            if len(node.input) > 3 and node.input[3]:
                out[module_path(node.name) + ".bias"] = g.array(node.input[3]).astype(np.float32)
    return out


def float_model(model: Any) -> Any:
    """A copy of ``model`` in which every MatMulInteger/ConvInteger/DynamicQuantizeLSTM is float again."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    g = _Graph(copy)
    new_nodes: list[Any] = []
    new_inits: list[Any] = []
    dropped: set[int] = set()
    for node in list(g.graph.node):
        if node.op_type == "MatMulInteger":
            new_nodes.append(_float_matmul(g, node, new_inits, dropped))
        elif node.op_type == "ConvInteger":
            new_nodes.append(_float_conv(g, node, new_inits, dropped))
        elif node.op_type == "DynamicQuantizeLSTM":
            new_nodes.append(_float_lstm(g, node, new_inits, dropped))
    kept = [n for n in g.graph.node if id(n) not in dropped]
    del g.graph.node[:]
    g.graph.node.extend(_topological(kept + new_nodes))
    g.graph.initializer.extend(new_inits)
    _drop_unused(copy)
    return copy


def _weight(g: _Graph, node: Any) -> np.ndarray[Any, Any]:
    wq = g.array(node.input[1]).astype(np.float32)
    zp = g.array(node.input[3]).astype(np.float32) if len(node.input) > 3 and node.input[3] else np.float32(0)
    weight: np.ndarray[Any, Any] = ((wq - zp) * g.array(_weight_scale(g, node))).astype(np.float32)
    return weight


def _weight_scale(g: _Graph, node: Any) -> str:
    """The weight-scale initializer in the product (x_scale * W_scale) that the op's output Mul applies."""
    mul = g.only_consumer(_cast_after(g, node).output[0], "Mul")
    for name in mul.input:
        if name in g.producer and g.producer[name].op_type == "Mul":
            for operand in g.producer[name].input:
                if operand in g.init:
                    return str(operand)
    raise AssetError(f"unexpected Kokoro graph: no weight scale for {node.name}")


def _cast_after(g: _Graph, node: Any) -> Any:
    """The Cast to float after an integer op, past the quantized-bias Add that ConvInteger may have."""
    nxt = g.consumers.get(node.output[0], [])
    if len(nxt) == 1 and nxt[0].op_type == "Add":
        nxt = g.consumers.get(nxt[0].output[0], [])
    if len(nxt) != 1 or nxt[0].op_type != "Cast":
        raise AssetError(f"unexpected Kokoro graph: {node.name} is not followed by a Cast")
    return nxt[0]


def _lstm_weights(g: _Graph, node: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    def deq(q: str, scale: str, zp: str) -> np.ndarray[Any, Any]:
        values = g.array(q).astype(np.float32) - g.array(zp).astype(np.float32)[:, None, None]
        values = values * g.array(scale).astype(np.float32)[:, None, None]
        return np.ascontiguousarray(values.transpose(0, 2, 1)).astype(np.float32)

    return deq(node.input[1], node.input[8], node.input[9]), deq(node.input[2], node.input[10], node.input[11])


def _source(g: _Graph, quantized: str) -> str:
    """The float input that a DynamicQuantizeLinear turned into ``quantized``."""
    producer = g.producer.get(quantized)
    if producer is None or producer.op_type != "DynamicQuantizeLinear":
        raise AssetError(f"unexpected Kokoro graph: {quantized} is not a DynamicQuantizeLinear output")
    return str(producer.input[0])


def _float_matmul(g: _Graph, node: Any, inits: list[Any], dropped: set[int]) -> Any:
    from onnx import helper, numpy_helper

    cast = g.only_consumer(node.output[0], "Cast")
    mul = g.only_consumer(cast.output[0], "Mul")
    name = node.input[1] + "_float"
    if name not in g.init:
        g.init[name] = _weight(g, node)
        inits.append(numpy_helper.from_array(g.init[name], name))
    dropped.update({id(node), id(cast), id(mul)})
    return helper.make_node("MatMul", [_source(g, node.input[0]), name], [mul.output[0]], name=node.name + "_float")


def _float_conv(g: _Graph, node: Any, inits: list[Any], dropped: set[int]) -> Any:
    from onnx import helper, numpy_helper

    chain = [node]
    nxt = g.consumers.get(node.output[0], [])
    bias: str | None = None
    if len(nxt) == 1 and nxt[0].op_type == "Add":
        chain.append(nxt[0])
        bias = _float_bias(g, nxt[0])
    cast = g.only_consumer(chain[-1].output[0], "Cast")
    mul = g.only_consumer(cast.output[0], "Mul")
    chain += [cast, mul]
    name = node.input[1] + "_float"
    if name not in g.init:
        g.init[name] = _weight(g, node)
        inits.append(numpy_helper.from_array(g.init[name], name))
    dropped.update(id(n) for n in chain)
    inputs = [_source(g, node.input[0]), name] + ([bias] if bias else [])
    conv = helper.make_node("Conv", inputs, [mul.output[0]], name=node.name + "_float")
    conv.attribute.extend(node.attribute)
    return conv


def _float_bias(g: _Graph, add: Any) -> str:
    """The float bias initializer behind a ConvInteger's quantized-bias Add (``<prefix>.bias``)."""
    prefix = str(add.name).split("_quantizedbias_add")[0]
    if prefix not in g.init:
        raise AssetError(f"unexpected Kokoro graph: no float bias {prefix} for {add.name}")
    return prefix


def _float_lstm(g: _Graph, node: Any, inits: list[Any], dropped: set[int]) -> Any:
    from onnx import helper, numpy_helper

    w, r = _lstm_weights(g, node)
    names = (node.name + "_float_W", node.name + "_float_R")
    inits.extend(numpy_helper.from_array(a, n) for a, n in zip((w, r), names, strict=True))
    dropped.add(id(node))
    inputs = [node.input[0], names[0], names[1], *node.input[3:8]]
    lstm = helper.make_node("LSTM", inputs, list(node.output), name=node.name + "_float")
    lstm.attribute.extend(a for a in node.attribute if a.name in ("direction", "hidden_size", "layout"))
    return lstm


def _topological(nodes: Iterable[Any]) -> list[Any]:
    """Order nodes so that each comes after the producers of its inputs (graph inputs/initializers are free)."""
    pending = list(nodes)
    produced_by = {o: n for n in pending for o in n.output}
    done: set[int] = set()
    ordered: list[Any] = []
    for start in pending:
        stack: list[tuple[Any, bool]] = [(start, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded:
                done.add(id(node))
                ordered.append(node)
                continue
            stack.append((node, True))
            for name in node.input:
                dep = produced_by.get(name)
                if dep is not None and id(dep) not in done:
                    stack.append((dep, False))
    return ordered


def _drop_unused(model: Any) -> None:
    """Remove nodes whose outputs nobody reads (the orphaned DynamicQuantizeLinear/bias-quantization nodes)."""
    graph = model.graph
    while True:
        needed = {o.name for o in graph.output} | {i for n in graph.node for i in n.input}
        keep = [n for n in graph.node if any(o in needed for o in n.output if o)]
        if len(keep) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(keep)
    used = {i for n in graph.node for i in n.input}
    inits = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def module_params(model: Any) -> dict[str, np.ndarray[Any, Any]]:
    """The float weights of a graph without integer ops (:func:`float_model`), named by module path.

    ``<path>.weight`` / ``<path>.bias`` for every Conv and ConvTranspose (ONNX and PyTorch share their layouts),
    every MatMul with a constant right operand (transposed to PyTorch's [out, in]; the bias is the constant of
    the Add that consumes it, where there is one) and every LayerNormalization; LSTMs are in
    :func:`dequantized_weights` (ONNX layout).
    """
    g = _Graph(model)
    out: dict[str, np.ndarray[Any, Any]] = {}
    for node in g.graph.node:
        path = module_path(node.name)
        if node.op_type in ("Conv", "ConvTranspose", "LayerNormalization") and node.input[1] in g.init:
            out[path + ".weight"] = g.init[node.input[1]].astype(np.float32)
            if len(node.input) > 2 and node.input[2] in g.init:
                out[path + ".bias"] = g.init[node.input[2]].astype(np.float32)
        elif node.op_type == "MatMul" and node.input[1] in g.init:
            out[path + ".weight"] = np.ascontiguousarray(g.init[node.input[1]].T).astype(np.float32)
            for add in g.consumers.get(node.output[0], []):
                constants = [name for name in add.input if name in g.init]
                if add.op_type == "Add" and constants:
                    out[path + ".bias"] = g.init[constants[0]].astype(np.float32).reshape(-1)
    return out
