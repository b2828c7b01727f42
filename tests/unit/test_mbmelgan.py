"""MB-MelGAN's fast forward pass against a literal transcription of model-port §3, on random weights."""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from ttsd.voices.baker.mbmelgan import (
    DEFAULT_CHUNK,
    DILATIONS,
    FRAME_QUANTUM,
    HOP,
    PQMF_TAPS,
    SLOPE,
    SPLIT_PADDING,
    UPSAMPLES,
    MBMelGAN,
    pad_mels,
    quantize_subbands,
    reflect_pad,
    trim,
)


def _literal(model: MBMelGAN, mel: torch.Tensor) -> torch.Tensor:
    """§3 step by step: NCW tensors, F.pad reflect, ConvTranspose1d + crop, zero-insertion PQMF."""
    x = model.conv_pre(F.pad(mel.transpose(1, 2), (3, 3), mode="reflect"))
    for up, stage, r in zip(model.ups, model.resblocks, UPSAMPLES, strict=True):
        width = x.shape[-1] * r
        x = up(F.leaky_relu(x, SLOPE))[..., :width]
        for block, d in zip(cast(list[Any], stage), DILATIONS, strict=True):
            a = F.leaky_relu(block.conv1(F.pad(F.leaky_relu(x, SLOPE), (d, d), mode="reflect")), SLOPE)
            x = block.conv2(a) + block.shortcut(x)
    bands = torch.tanh(model.conv_post(F.pad(F.leaky_relu(x, SLOPE), (3, 3), mode="reflect")))
    if model.exact:
        bands = quantize_subbands(bands)
    pqmf = cast(Any, model.pqmf)  # its filters are buffers (Tensors), which torch types as Module | Tensor
    u = F.conv_transpose1d(bands, pqmf.updown_filter, stride=4)
    half = PQMF_TAPS // 2
    return F.conv1d(F.pad(u, (half, half)), pqmf.synthesis_filter)[:, 0]


@pytest.fixture(scope="module")
def model() -> MBMelGAN:
    torch.manual_seed(1)
    vocoder = MBMelGAN()
    with torch.no_grad():
        for p in vocoder.parameters():
            p.normal_(0.0, 0.6 / np.sqrt(p[0].numel()) if p.ndim > 1 else 0.05)
    return vocoder.eval()


@pytest.mark.parametrize("exact", [False, True])
def test_forward_equals_literal_spec(model: MBMelGAN, exact: bool) -> None:
    model.exact = exact
    mel = torch.randn(2, 23, 80, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = _literal(model, mel)
    got = model(mel)
    model.exact = False
    assert got.shape == (2, HOP * 23)
    assert float((got - expected).abs().max()) < 2e-5


@pytest.mark.parametrize(("length", "pad"), [(10, 3), (5, 4), (3, 9), (2, 27), (1, 3)])
def test_reflect_pad_matches_numpy(length: int, pad: int) -> None:
    x = torch.arange(2 * length * 3, dtype=torch.float32).view(2, length, 3)
    expected = np.pad(x.numpy(), ((0, 0), (pad, pad), (0, 0)), mode="reflect" if length > 1 else "edge")
    assert np.array_equal(reflect_pad(x, pad, None).numpy(), expected)


def test_reflect_pad_reflects_each_item_at_its_own_length() -> None:
    x = torch.randn(2, 12, 4)
    padded = reflect_pad(x, 5, torch.tensor([12, 7]))
    assert torch.equal(padded[0], reflect_pad(x[:1], 5, None)[0])
    assert torch.equal(padded[1, : 7 + 10], reflect_pad(x[1:, :7], 5, None)[0])


@pytest.mark.slow
@pytest.mark.parametrize("split_padding", [math.inf, 1.0], ids=["padded", "one-by-one"])
def test_padding_does_not_leak_into_items(model: MBMelGAN, split_padding: float) -> None:
    model.split_padding = split_padding
    generator = torch.Generator().manual_seed(3)
    mels = [torch.randn(n, 80, generator=generator) for n in (17, 4, 11)]
    batch, lengths = pad_mels(mels)
    batch[1, 4:] = 1e3  # garbage in the padding must not reach item 1's samples
    for mel, audio in zip(mels, trim(model(batch, lengths), lengths), strict=True):
        assert float((audio - model(mel[None])[0]).abs().max()) < 1e-5
    model.split_padding = SPLIT_PADDING


@pytest.mark.parametrize("frames", [1, 5, 17, 40])
def test_rounded_width_does_not_change_a_single_item(model: MBMelGAN, frames: int) -> None:
    # On CPU a lone item with lengths runs at a width rounded up to frame_quantum (ragged row-copy path).
    mel = torch.randn(1, frames, 80, generator=torch.Generator().manual_seed(frames))
    model.chunk = 32  # windows too, so the tail's last window is ragged
    rounded = model(mel, torch.tensor([frames]))
    model.frame_quantum = 1
    plain = model(mel, torch.tensor([frames]))
    model.frame_quantum, model.chunk = FRAME_QUANTUM, DEFAULT_CHUNK
    assert rounded.shape == plain.shape == (1, HOP * frames)
    assert float((rounded - plain).abs().max()) < 1e-5


def test_single_item_reflect_pad_matches_the_general_path() -> None:
    x = torch.randn(1, 12, 4)
    fast = reflect_pad(x, 3, torch.tensor([9]))
    general = reflect_pad(torch.cat([x, x]), 3, torch.tensor([9, 9]))[:1]
    assert torch.equal(fast[:, : 9 + 6], general[:, : 9 + 6])


def test_chunking_does_not_change_the_output(model: MBMelGAN) -> None:
    mel = torch.randn(1, 60, 80, generator=torch.Generator().manual_seed(4))
    model.chunk = 0
    whole = model(mel)
    model.chunk = 20
    chunked = model(mel)
    model.chunk = DEFAULT_CHUNK
    assert float((whole - chunked).abs().max()) < 1e-5
