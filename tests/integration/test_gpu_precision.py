"""The Baker voice on CUDA against the CPU fp32 voice, on the bench paragraph (end to end, text in).

* fp32 on CUDA: the same durations (length within 1%) and >= 40 dB SNR against CPU fp32, the bar the vocoder
  tests hold a batched item to against the same item alone.
* fp16 and bf16 on CUDA: >= 25 dB SNR, the bar of the CPU's bf16-based ``mixed`` default
  (tests/integration/test_baker_precision.py).

Run with ``pytest -m gpu --torch-device cuda`` (or ``TTSD_TEST_DEVICE=cuda``); without CUDA these tests skip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch

from ttsd.pipeline.local import Synthesizer
from ttsd.text.frontend import TextFrontend
from ttsd.voices.baker.voice import load
from ttsd.voices.options import VoiceOptions

pytestmark = [pytest.mark.gpu, pytest.mark.integration]
PARAGRAPH = Path(__file__).resolve().parents[1] / "fixtures" / "bench_paragraph.txt"
FP32_MIN_SNR_DB = 40.0
HALF_MIN_SNR_DB = 25.0


def snr_db(ref: npt.NDArray[np.float32], test: npt.NDArray[np.float32]) -> float:
    """SNR of ``test`` against ``ref`` over their common length; the length difference counts as noise."""
    n = min(len(ref), len(test))
    ref64 = ref.astype(np.float64)
    noise = float(np.sum((ref64[:n] - test[:n]) ** 2)) + float(np.sum(ref64[n:] ** 2)) + float(np.sum(test[n:] ** 2))
    return float(10 * np.log10(float(np.sum(ref64**2)) / max(noise, 1e-30)))


@pytest.fixture(scope="module")
def cuda_device(torch_device: str) -> str:
    if torch_device.startswith("cuda"):
        return torch_device
    if not torch.cuda.is_available():
        pytest.skip("no usable CUDA device (run on a GPU with --torch-device cuda)")
    return "cuda"


@pytest.fixture(scope="module")
def cpu_paragraph(synthesizer: Synthesizer) -> npt.NDArray[np.float32]:
    return synthesizer.synthesize(PARAGRAPH.read_text(encoding="utf-8").strip()).audio


def _cuda_paragraph(model_dir: Path, device: str, precision: str) -> npt.NDArray[np.float32]:
    loaded = load(VoiceOptions(model_dir=model_dir, device=device, precision=precision))
    assert loaded.info.precision == precision
    assert loaded.info.device.startswith("cuda")
    wave = (
        Synthesizer(voice=loaded, frontend=TextFrontend())
        .synthesize(PARAGRAPH.read_text(encoding="utf-8").strip())
        .audio
    )
    assert wave.dtype == np.float32
    assert np.isfinite(wave).all()
    return wave


def test_fp32_on_cuda_matches_cpu_fp32(
    model_dir: Path, cuda_device: str, cpu_paragraph: npt.NDArray[np.float32]
) -> None:
    wave = _cuda_paragraph(model_dir, cuda_device, "fp32")
    assert abs(len(wave) - len(cpu_paragraph)) <= 0.01 * len(cpu_paragraph)
    assert snr_db(cpu_paragraph, wave) >= FP32_MIN_SNR_DB


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_on_cuda_within_mixed_bar(
    model_dir: Path, cuda_device: str, cpu_paragraph: npt.NDArray[np.float32], precision: str
) -> None:
    wave = _cuda_paragraph(model_dir, cuda_device, precision)
    assert snr_db(cpu_paragraph, wave) >= HALF_MIN_SNR_DB
