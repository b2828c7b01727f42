"""The real Kokoro graph with its int8 ops made float again (:func:`ttsd.voices.kokoro.dequant.float_model`,
the reference a float/GPU port must match) against the int8 graph that serves on the CPU.

Tolerance, and why: int8 activations are rounded per call, the float graph's are not, so small differences
are expected. The durations (rounded from a sum of sigmoids) may move by one frame on an id near a rounding
edge: at most 2 frames on any id, at most 1 on 95% of them (seen: one or two ids of 60 move, mostly the
trailing pad and punctuation), and 3% of the total. Waveforms cannot be compared sample by sample (the harmonic
source's phase is a running sum of f0, so a tiny f0 difference shifts the phase of everything after it, and a
moved frame shifts the rest in time): the long-term average log-magnitude spectrum is compared instead. On the
sentence below int8 vs float is ~0.04 (mean absolute difference in natural-log units), two male voices of
the family are ~0.3-0.5 apart; the bound is 0.12.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.integration.spectra import spectrum_distance
from ttsd.errors import AssetError
from ttsd.voices.kokoro import assets

pytestmark = pytest.mark.integration
# 今天天气很好，我们去公园散步吧！ as Kokoro ids (the phonemizer's output, fixed here so only the graphs vary).
PHONEMES = "ʨi→ntʰjɛ→ntʰjɛ→nʨʰi↘ xə↓n xau↓, wo↓mən ʨʰy↘ kʊ→ŋɥɛ↗n sa↘npu↘ pa!"


@pytest.fixture(scope="module")
def prepared() -> assets.KokoroAssets:
    env = os.environ.get("TTSD_MODEL_DIR")
    try:
        return assets.prepare(model_dir=Path(env) if env else None)
    except AssetError as exc:
        pytest.skip(f"Kokoro assets not installed (scripts/install.sh --kokoro-only): {exc}")


def test_dequantized_float_graph_matches_int8_within_tolerance(prepared: assets.KokoroAssets) -> None:
    import onnx
    import onnxruntime as ort

    from ttsd.voices.kokoro.dequant import float_model
    from ttsd.voices.kokoro.phonemizer import load_vocab

    vocab = load_vocab()
    ids = [0, *(vocab[ch] for ch in PHONEMES), 0]
    table = np.fromfile(assets.voice_path(prepared.voices_dir, "zm_yunjian"), dtype="<f4").reshape(510, 256)
    feeds = {"tokens": np.asarray([ids], dtype=np.int64), "style": table[len(ids) - 2][None, :],
             "speed": np.asarray([1.0], dtype=np.float32)}  # fmt: skip
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    int8 = ort.InferenceSession(str(prepared.timed_model_path), options, providers=["CPUExecutionProvider"])
    restored = float_model(onnx.load(str(prepared.timed_model_path)))
    assert not {n.op_type for n in restored.graph.node} & {"MatMulInteger", "ConvInteger", "DynamicQuantizeLSTM"}
    floating = ort.InferenceSession(restored.SerializeToString(), options, providers=["CPUExecutionProvider"])
    audio_q, frames_q = int8.run(None, feeds)
    audio_f, frames_f = floating.run(None, feeds)
    moved = np.abs(frames_q - frames_f).reshape(-1)
    assert int(moved.max()) <= 2
    assert float(np.mean(moved <= 1)) >= 0.95
    assert abs(int(frames_q.sum()) - int(frames_f.sum())) <= 0.03 * int(frames_q.sum())
    assert len(audio_f) == 600 * int(frames_f.sum())
    distance = spectrum_distance(audio_q, audio_f)
    print(f"\nint8 vs float: frames {int(frames_q.sum())} vs {int(frames_f.sum())}, spectrum distance {distance:.3f}")
    assert distance < 0.12
