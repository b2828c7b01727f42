"""The ``mixed`` precision (the CPU default where bf16 runs natively) against fp32 on the bench paragraph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch

from ttsd.pipeline.local import Synthesizer
from ttsd.precision import cpu_has_bf16
from ttsd.voices.baker.voice import load
from ttsd.voices.options import VoiceOptions

pytestmark = pytest.mark.integration
PARAGRAPH = Path(__file__).resolve().parents[1] / "fixtures" / "bench_paragraph.txt"
MIN_SNR_DB = 25.0  # the bar for a bf16-based CPU default


def _snr_db(ref: npt.NDArray[np.float32], test: npt.NDArray[np.float32]) -> float:
    assert ref.shape == test.shape  # same durations, so the same length
    ref64 = ref.astype(np.float64)
    noise = float(np.sum((ref64 - test) ** 2))
    return float(10 * np.log10(float(np.sum(ref64**2)) / max(noise, 1e-30)))


def test_mixed_paragraph_within_25_db_of_fp32(model_dir: Path, synthesizer: Synthesizer) -> None:
    text = PARAGRAPH.read_text(encoding="utf-8").strip()
    mixed = load(VoiceOptions(model_dir=model_dir, precision="mixed"))
    assert mixed.info.precision == "mixed"
    acoustic, vocoder = mixed._model()
    assert (acoustic.frame_dtype, acoustic.postnet_dtype) == (torch.float32, torch.bfloat16)
    assert next(acoustic.decoder.parameters()).dtype == torch.float32
    assert next(acoustic.postnet.parameters()).dtype == torch.bfloat16
    assert vocoder.compute_dtype == torch.bfloat16
    ref = synthesizer.synthesize(text).audio
    test = Synthesizer(voice=mixed, frontend=synthesizer.frontend).synthesize(text).audio
    assert _snr_db(ref, test) >= MIN_SNR_DB


def test_auto_resolves_to_the_documented_default(model_dir: Path) -> None:
    loaded = load(VoiceOptions(model_dir=model_dir, precision="auto"))
    assert loaded.info.precision == ("mixed" if cpu_has_bf16() else "fp32")
    exact = load(VoiceOptions(model_dir=model_dir, precision="auto", mode="exact"))
    assert exact.info.precision == "fp32"
