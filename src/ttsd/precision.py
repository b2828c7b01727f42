"""What ``precision="auto"`` means and which precisions a device takes: one rule (:func:`resolve_precision`)
shared by ``ttsd serve``, ``ttsd.load_voice`` and the CLI commands (through the voices' loaders).

* CUDA: ``fp16`` (``fp32`` in exact mode).
* CPU: ``mixed`` when the processor has bf16 fast paths (oneDNN's check: AVX-512 BF16 or AMX), else ``fp32``;
  always ``fp32`` in exact mode. ``mixed`` keeps the acoustic model's encoder and decoder in float32 and runs
  its postnet and the vocoder in bfloat16: 25+ dB SNR against fp32 at about two thirds of its time, where
  ``bf16`` everywhere loses too much in the decoder (docs/benchmarks.md). Without bf16 hardware, bf16 convs
  are emulated and slower than fp32, so fp32 stays the default there.

Importing this module does not import torch; :func:`cpu_has_bf16` does, when called.
"""

from __future__ import annotations

from collections.abc import Callable

PRECISIONS = ("auto", "fp32", "mixed", "bf16", "fp16")


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bf16 convolutions natively (oneDNN's own check); False if torch cannot tell."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without the op or without oneDNN
        return False


def auto_precision(device: str, *, mode: str = "fast", bf16_supported: Callable[[], bool] | None = None) -> str:
    """The precision ``auto`` stands for on ``device`` (``cpu``, ``cuda``, ``cuda:N``) in ``mode``.

    ``bf16_supported`` replaces :func:`cpu_has_bf16` (tests); it is called only for a CPU in fast mode.
    """
    if mode == "exact":
        return "fp32"
    if device.startswith("cuda"):
        return "fp16"
    check = bf16_supported if bf16_supported is not None else cpu_has_bf16
    return "mixed" if check() else "fp32"


def resolve_precision(
    requested: str, device: str, *, mode: str = "fast", bf16_supported: Callable[[], bool] | None = None
) -> str:
    """The one check of a precision for ``device`` and ``mode``; ``auto`` is :func:`auto_precision`.

    Raises :class:`ttsd.errors.InvalidControl` for an unknown precision or mode, fp16 off CUDA, and anything
    but fp32 in exact mode.
    """
    from ttsd.errors import InvalidControl

    if mode not in ("fast", "exact"):
        raise InvalidControl(f"mode must be fast or exact, got {mode!r}", param="mode")
    if requested == "auto":
        return auto_precision(device, mode=mode, bf16_supported=bf16_supported)
    if requested not in PRECISIONS:
        raise InvalidControl(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}", param="precision")
    if requested == "fp16" and not device.startswith("cuda"):
        raise InvalidControl(
            "precision fp16 needs a CUDA device; use fp32, mixed or bf16 on the CPU", param="precision"
        )
    if mode == "exact" and requested != "fp32":
        raise InvalidControl("mode exact runs in fp32 only; use precision fp32", param="precision")
    return requested
