"""The PyTorch Kokoro (:class:`ttsd.voices.kokoro.torch_model.KokoroTorch`) on random weights: in a padded batch
every item gets what it gets alone (durations identical, audio to float rounding), and the lengths add up
(600 samples per duration frame). Random weights are shaped so the path is exercised as the real model uses it:
a few frames per id, F0 around 150 Hz (voiced, so the harmonic source is live), a bounded output spectrum."""

from __future__ import annotations

import pytest
import torch

from ttsd.voices.kokoro.torch_blocks import normalized, step_mask
from ttsd.voices.kokoro.torch_decoder import reflect_each
from ttsd.voices.kokoro.torch_model import KokoroTorch, align, gather_steps

pytestmark = pytest.mark.slow  # runs the PyTorch Kokoro model (about 9 s in all); `make test` runs it


@pytest.fixture(scope="module")
def model() -> KokoroTorch:
    torch.manual_seed(7)
    m = KokoroTorch().eval()
    with torch.no_grad():
        m.durations.duration_proj.weight.mul_(0.05)
        m.durations.duration_proj.bias.fill_(-2.0)  # ~6 frames per id, varying with the text
        bias = m.prosody.F0_proj.bias
        assert bias is not None
        bias.fill_(150.0)
        m.decoder.generator.conv_post.weight.mul_(0.1)
        m.decoder.generator.inverse_basis.normal_()
        m.decoder.generator.window_sum.uniform_(0.0, 1.0)
    return m


def _batch(items: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded ids, lengths and styles; each item's style follows from its own ids (not its place in the batch)."""
    lengths = torch.tensor([len(i) for i in items])
    ids = torch.zeros(len(items), int(lengths.max()), dtype=torch.long)
    for k, item in enumerate(items):
        ids[k, : len(item)] = torch.tensor(item)
    style = torch.stack([torch.linspace(-0.3, 0.3, 256) * (1 + len(item) / 10) for item in items])
    return ids, lengths, style


def _run(model: KokoroTorch, items: list[list[int]], speeds: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    ids, lengths, style = _batch(items)
    with torch.inference_mode():
        out = model(ids, lengths, style, torch.tensor(speeds))
    return out.audio, out.frames


def _stages(model: KokoroTorch, items: list[list[int]], speeds: list[float]) -> dict[str, torch.Tensor]:
    """The batch's durations, aligned features, F0 and energy: what feeds the decoder."""
    ids, lengths, style = _batch(items)
    with torch.inference_mode():
        frames, d = model.durations.predict(ids, lengths, style, torch.tensor(speeds))
        token, valid = align(frames)
        en = gather_steps(d, token, valid)
        f0, n = model.prosody(en, style[:, 128:], frames.sum(1))
        asr = gather_steps(model.text(ids, lengths).transpose(1, 2), token, valid)
    return {"frames": frames, "en": en, "f0": f0, "n": n, "asr": asr}


ITEMS = [[0, 5, 17, 43, 9, 0], [0, 61, 2, 88, 14, 30, 101, 7, 55, 0], [0, 12, 0]]
SPEEDS = [1.0, 0.8, 1.25]


def test_durations_features_and_prosody_of_a_batch_item_are_what_it_gets_alone(model: KokoroTorch) -> None:
    batch = _stages(model, ITEMS, SPEEDS)
    for k, item in enumerate(ITEMS):
        alone = _stages(model, [item], [SPEEDS[k]])
        assert torch.equal(batch["frames"][k, : len(item)], alone["frames"][0])
        assert int(batch["frames"][k, len(item) :].abs().sum()) == 0
        for key in ("en", "f0", "n", "asr"):
            ref = alone[key][0]
            mine = batch[key][k][..., : ref.shape[-1]]
            assert float((mine - ref).abs().max()) <= 1e-5 * float(ref.abs().max()) + 1e-5, (k, key)
            assert float(batch[key][k][..., ref.shape[-1] :].abs().sum()) == 0.0, (k, key)


def test_the_decoder_gives_a_batch_item_what_it_gives_it_alone(model: KokoroTorch) -> None:
    torch.manual_seed(1)
    frames = [12, 20, 7]
    style = torch.randn(3, 128) * 0.3
    asr = [torch.randn(512, f) * 0.5 for f in frames]
    f0 = [150 + 20 * torch.randn(2 * f) for f in frames]
    n = [torch.randn(2 * f) for f in frames]

    def pad(xs: list[torch.Tensor], steps: int) -> torch.Tensor:
        out = torch.zeros(len(xs), *xs[0].shape[:-1], steps)
        for k, x in enumerate(xs):
            out[k, ..., : x.shape[-1]] = x
        return out

    with torch.inference_mode():
        batch = model.decoder(pad(asr, 20), pad(f0, 40), pad(n, 40), style, torch.tensor(frames))
        assert batch.shape == (3, 600 * 20)
        for k, f in enumerate(frames):
            alone = model.decoder(asr[k][None], f0[k][None], n[k][None], style[k : k + 1], torch.tensor([f]))[0]
            assert alone.shape == (600 * f,)
            # Float rounding differs with the batch shape; the phase running sum (~1e4 rad here) adds ~1e-3 rad.
            assert float((batch[k, : 600 * f] - alone).abs().max()) <= 1e-4 * float(alone.abs().max())
            assert float(batch[k, 600 * f :].abs().sum()) == 0.0


def test_the_whole_model_gives_600_samples_per_frame_and_silence_after_each_item(model: KokoroTorch) -> None:
    audio, frames = _run(model, ITEMS, SPEEDS)
    totals = frames.sum(1)
    assert audio.shape[1] == 600 * int(totals.max())
    for k in range(len(ITEMS)):
        assert float(audio[k, : 600 * int(totals[k])].abs().max()) > 0
        assert float(audio[k, 600 * int(totals[k]) :].abs().sum()) == 0.0


def test_speed_divides_the_durations(model: KokoroTorch) -> None:
    _, normal = _run(model, [[0, 5, 17, 43, 9, 0]], [1.0])
    _, slow = _run(model, [[0, 5, 17, 43, 9, 0]], [0.5])
    assert int(slow.sum()) > 1.8 * int(normal.sum())


def test_alignment_repeats_each_id_for_its_frames() -> None:
    frames = torch.tensor([[2, 1, 3], [1, 1, 0]])
    token, valid = align(frames)
    assert token.tolist()[0] == [0, 0, 1, 2, 2, 2]
    assert token.tolist()[1][:2] == [0, 1]
    assert valid.tolist() == [[True] * 6, [True, True, False, False, False, False]]
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3, 1)
    assert gather_steps(x, token, valid)[:, 0].tolist() == [[0, 0, 1, 2, 2, 2], [3, 4, 0, 0, 0, 0]]


def test_masked_statistics_ignore_the_padding() -> None:
    x = torch.tensor([[[1.0, 2.0, 3.0, 100.0, -50.0]]])
    out = normalized(x, torch.tensor([3]))
    alone = normalized(x[:, :, :3], torch.tensor([3]))
    assert torch.allclose(out[:, :, :3], alone)
    assert step_mask(torch.tensor([2]), 4).tolist() == [[[True, True, False, False]]]


def test_each_item_is_reflect_padded_at_its_own_end() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 0.0]])
    out = reflect_each(x, torch.tensor([4, 3]), 2)
    assert out.tolist() == [[3, 2, 1, 2, 3, 4, 3, 2], [7, 6, 5, 6, 7, 6, 5, 0]]


def test_the_synthesizer_runs_a_batch_on_the_test_device_and_half_precision_stays_close(
    model: KokoroTorch, torch_device: str
) -> None:
    """TorchSynthesizer on ``--torch-device`` (cpu here; cuda in the GPU check): a batch comes back as one result
    per item with 600 samples per frame; the GPU precisions (bf16, fp16) keep the durations
    within a frame per id of fp32 and the audio finite. The source and STFTs stay fp32 in every precision."""
    import numpy as np

    from ttsd.voices.kokoro.session import Item
    from ttsd.voices.kokoro.torch_session import TorchSynthesizer

    styles = [np.linspace(-0.3, 0.3, 256, dtype=np.float32) * (1 + len(i) / 10) for i in ITEMS]
    items = [Item(ids=i, style=s, speed=v) for i, s, v in zip(ITEMS, styles, SPEEDS, strict=True)]
    full = TorchSynthesizer(model=model, device="cpu", precision="fp32")(items)
    # bf16 on a CPU without bf16 hardware is emulated (minutes): the half precisions are checked on CUDA.
    precisions = ["fp32", "bf16", "fp16"] if torch_device.startswith("cuda") else ["fp32"]
    for precision in precisions:
        half = TorchSynthesizer(model=KokoroTorch(), device=torch_device, precision=precision)
        half._model.load_state_dict(model.state_dict())
        out = half(items)
        assert len(out) == len(items)
        for a, b in zip(full, out, strict=True):
            assert len(b.audio) == int(b.durations.sum())
            assert b.durations.size == a.durations.size
            assert int(np.abs(a.durations - b.durations).max()) <= 600
            assert np.isfinite(b.audio).all()
