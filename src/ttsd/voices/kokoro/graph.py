"""Edit the Kokoro ONNX graph once, at cache-preparation time: expose the predicted durations as an output.

The graph computes ``pred_dur = clip(round(sum(sigmoid(duration_proj)) / speed), 1)`` (frames per token id) in
the node :data:`DURATION_NODE` and uses it only internally to build the alignment. Adding that node's output
to the graph outputs changes no computation (the audio is bit-identical, checked by
tests/integration/test_kokoro_real_voice.py), and gives per-id durations for timestamps.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ttsd.errors import AssetError

DURATION_NODE = "/encoder/Clip"
DURATION_OUTPUT = "durations"


def add_duration_output(source: Path, target: Path) -> None:
    """Write ``source`` with an extra ``durations`` output (int64 [T] frames per token id) to ``target``."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(source))
    graph = model.graph
    node = next((n for n in graph.node if n.name == DURATION_NODE), None)
    if node is None:
        raise AssetError(f"{source} has no node {DURATION_NODE}: not the Kokoro v1.0 graph this ttsd knows")
    cast = helper.make_node(
        "Cast", [node.output[0]], [DURATION_OUTPUT], name="/ttsd/durations_cast", to=TensorProto.INT64
    )
    graph.node.append(cast)
    graph.output.append(helper.make_tensor_value_info(DURATION_OUTPUT, TensorProto.INT64, None))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
