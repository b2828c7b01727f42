"""Kokoro on PyTorch (the batched path, CUDA or CPU): :class:`TorchSynthesizer` runs padded batches of
:class:`~ttsd.voices.kokoro.session.Item` through :class:`~ttsd.voices.kokoro.torch_model.KokoroTorch`.

Weights: the float weights of the int8 graph (:func:`ttsd.voices.kokoro.torch_model.build`, ~5 s), cached
once as ``<model dir>/kokoro/kokoro-v1.0-torch-p<PORT_VERSION>.safetensors`` (325 MB, written atomically;
rebuilt when the port version changes; ``scripts/install.sh --kokoro-torch`` writes it at install time, as the
GPU image does). Precision: ``fp32``, ``bf16`` (``mixed`` means bf16 here) or ``fp16``
(CUDA only); the LSTMs, durations, instance-norm statistics, the harmonic source and both STFTs stay fp32
whatever the precision (docs/kokoro.md).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ttsd.errors import AssetError, BackendError
from ttsd.paths import atomic_write
from ttsd.voices.kokoro.session import SAMPLES_PER_FRAME, Item, Synthesis
from ttsd.voices.kokoro.torch_model import KokoroTorch, build

log = logging.getLogger(__name__)
# Bump when the module's structure or parameter names change: the cached weights are rebuilt.
PORT_VERSION = 1
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "mixed": torch.bfloat16, "fp16": torch.float16}


def weights_path(graph_path: Path) -> Path:
    return graph_path.parent / f"kokoro-v1.0-torch-p{PORT_VERSION}.safetensors"


def load_model(graph_path: Path) -> KokoroTorch:
    """The module with weights from the cache next to ``graph_path``, building (and caching) them if needed."""
    from safetensors.torch import load_file, save

    cache = weights_path(graph_path)
    if cache.is_file():
        try:
            model = KokoroTorch()
            model.load_state_dict(load_file(str(cache)), strict=True)
            return model.eval()
        except (RuntimeError, OSError, ValueError):  # truncated or from another port: rebuild below
            with contextlib.suppress(OSError):  # a read-only model dir keeps it; the rebuild does not need it gone
                cache.unlink()
    import onnx

    try:
        graph = onnx.load(str(graph_path))
    except Exception as exc:
        raise AssetError(f"cannot read the Kokoro graph {graph_path} ({exc}); delete it and restart") from exc
    model = build(graph)
    try:
        atomic_write(cache, save({k: v.contiguous() for k, v in model.state_dict().items()}))
    except OSError as exc:  # a read-only model dir: serve anyway, converting again at the next start
        log.warning("could not cache the Kokoro torch weights at %s (%s); they are rebuilt at every start", cache, exc)
    return model


class TorchSynthesizer:
    """Padded batches on ``device`` in ``precision``; calls are serialized (one batch on the device at a time)."""

    def __init__(self, *, model: KokoroTorch, device: str, precision: str) -> None:
        if precision not in DTYPES:
            raise ValueError(f"precision must be one of {', '.join(DTYPES)}, got {precision!r}")
        if precision == "fp16" and not device.startswith("cuda"):
            raise ValueError("fp16 needs CUDA")
        self._device = torch.device(device)
        self._dtype = DTYPES[precision]
        self._model = model.to(device=self._device, dtype=self._dtype).eval()
        for module in self._model.modules():
            if isinstance(module, torch.nn.LSTM):  # small, and half-precision RNN kernels vary by cuDNN build
                module.float()
                module.flatten_parameters()  # one contiguous weight buffer again (cuDNN warns and copies otherwise)
        self._lock = threading.Lock()

    def __call__(self, items: Sequence[Item]) -> list[Synthesis]:
        if not items:
            return []
        lengths = torch.tensor([len(item.ids) for item in items])
        ids = torch.zeros(len(items), int(lengths.max()), dtype=torch.long)
        for k, item in enumerate(items):
            ids[k, : len(item.ids)] = torch.tensor(item.ids)
        style = torch.from_numpy(np.stack([np.asarray(item.style, dtype=np.float32).reshape(-1) for item in items]))
        speed = torch.tensor([float(item.speed) for item in items])
        with self._lock:
            try:
                with torch.inference_mode():
                    out = self._model(ids.to(self._device), lengths.to(self._device),
                                      style.to(self._device, self._dtype), speed.to(self._device))  # fmt: skip
                    audio = out.audio.float().cpu().numpy()
                    frames = out.frames.cpu().numpy()
            except RuntimeError as exc:  # out of device memory included: the batch is then retried item by item
                if self._device.type == "cuda":
                    torch.cuda.empty_cache()
                raise BackendError(f"Kokoro (torch) failed on a batch of {len(items)}: {exc}") from exc
        results = []
        for k, item in enumerate(items):
            durations = frames[k, : len(item.ids)].astype(np.int64) * SAMPLES_PER_FRAME
            results.append(Synthesis(audio=np.ascontiguousarray(audio[k, : int(durations.sum())]), durations=durations))
        return results
