"""The second half of the PyTorch Kokoro: aligned features -> F0/energy -> iSTFTNet -> 24 kHz audio, batched.

Written from the int8 graph's structure (node paths in docs/kokoro.md; weights by
:func:`ttsd.voices.kokoro.dequant.module_params`):

* :class:`Prosody` (``encoder.shared``, ``encoder.F0.*``, ``encoder.N.*``): a bidirectional LSTM over the
  aligned duration features, then three AdaIN residual blocks each for F0 and energy (the middle one doubles
  the frame rate), projected to one channel: F0 (Hz) and N at 2 values per duration frame.
* :class:`Decoder` (``decoder.decoder.*``): F0/N brought back to the frame rate by stride-2 convs, an AdaIN
  encoder block and four decode blocks (the last doubles the rate), then :class:`Generator`.
* :class:`Generator`: the harmonic source (9 harmonics of F0 at 24 kHz, phase a running sum of F0, voiced
  where F0 > 10 Hz; no noise term, as in the graph), its STFT (n_fft 20, hop 5, Hann, reflect padding per item)
  as magnitude and phase, two upsampling stages (x10, x6) each adding a projection of the source spectrum and
  averaging three Snake residual blocks, then ``exp`` magnitude / ``sin`` phase through the graph's inverse STFT
  (a transposed conv with its ``inverse_basis``; the graph divides only the first 20 samples by its traced
  ``window_sum`` and scales by 4, and so does this).

Lengths: ``frames`` duration frames per item -> F0/N ``2 * frames`` -> audio ``600 * frames`` samples. The source
and both STFTs always run in fp32 (the phase is a running sum of F0 in the 1e5 rad range, which half
precision cannot hold); everything else runs in the module's dtype.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional

from ttsd.voices.kokoro.torch_blocks import AdaResBlock, SnakeResBlock, masked, run_lstm

SAMPLE_RATE = 24_000
HARMONICS = 9
SINE_AMP = 0.1
VOICED_HZ = 10.0
N_FFT = 20
HOP = 5
# F0 values are at 2 per duration frame; the generator's x10, x6 upsampling and the STFT hop 5 make 300 each.
SAMPLES_PER_F0 = 300
# Source-spectrum magnitudes below this are FFT rounding error (the source is ~0.03-0.15 in amplitude).
NOISE_FLOOR = 1e-6


class Prosody(nn.Module):
    """``forward(en [B, 640, F], s [B, 128], frames [B]) -> (f0, n)``, each [B, 2F] (zero past 2 * frames)."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.LSTM(640, 256, batch_first=True, bidirectional=True)
        self.F0 = nn.ModuleList([AdaResBlock(512, 512), AdaResBlock(512, 256, upsample=True), AdaResBlock(256, 256)])
        self.N = nn.ModuleList([AdaResBlock(512, 512), AdaResBlock(512, 256, upsample=True), AdaResBlock(256, 256)])
        self.F0_proj = nn.Conv1d(256, 1, 1)
        self.N_proj = nn.Conv1d(256, 1, 1)

    def forward(self, en: Tensor, s: Tensor, frames: Tensor) -> tuple[Tensor, Tensor]:
        x = run_lstm(self.shared, en.transpose(1, 2), frames).transpose(1, 2)
        outs = []
        for blocks, proj in ((self.F0, self.F0_proj), (self.N, self.N_proj)):
            h, lengths = x, frames
            for block in blocks:
                assert isinstance(block, AdaResBlock)
                h = block(h, s, lengths)
                lengths = 2 * lengths if block.upsample else lengths
            outs.append(masked(proj(h), lengths)[:, 0])
        return outs[0], outs[1]


class Decoder(nn.Module):
    """``forward(asr [B, 512, F], f0 [B, 2F], n [B, 2F], s [B, 128], frames [B]) -> audio [B, 600 F]``."""

    def __init__(self) -> None:
        super().__init__()
        self.F0_conv = nn.Conv1d(1, 1, 3, stride=2, padding=1)
        self.N_conv = nn.Conv1d(1, 1, 3, stride=2, padding=1)
        self.encode = AdaResBlock(514, 1024)
        self.decode = nn.ModuleList(
            [
                AdaResBlock(1090, 1024),
                AdaResBlock(1090, 1024),
                AdaResBlock(1090, 1024),
                AdaResBlock(1090, 512, upsample=True),
            ]
        )
        self.asr_res = nn.Conv1d(512, 64, 1)
        self.generator = Generator()

    def forward(self, asr: Tensor, f0: Tensor, n: Tensor, s: Tensor, frames: Tensor) -> Tensor:
        f0_down = self.F0_conv(masked(f0[:, None], 2 * frames))
        n_down = self.N_conv(masked(n[:, None], 2 * frames))
        x = self.encode(torch.cat([asr, f0_down, n_down], dim=1), s, frames)
        residual = self.asr_res(asr)
        for block in self.decode:
            assert isinstance(block, AdaResBlock)
            x = block(torch.cat([x, residual, f0_down, n_down], dim=1), s, frames)
        audio: Tensor = self.generator(x, s, f0, 2 * frames)
        return audio


class Generator(nn.Module):
    """iSTFTNet: ``forward(x [B, 512, L], s, f0 [B, L], lengths [B]) -> audio [B, 300 L]`` (L = F0 steps)."""

    window: Tensor
    inverse_basis: Tensor
    window_sum: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.m_source = nn.Module()
        self.m_source.l_linear = nn.Linear(HARMONICS, 1)
        self.ups = nn.ModuleList([nn.ConvTranspose1d(512, 256, 20, stride=10, padding=5),
                                  nn.ConvTranspose1d(256, 128, 12, stride=6, padding=3)])  # fmt: skip
        self.resblocks = nn.ModuleList(SnakeResBlock(ch, k) for ch in (256, 128) for k in (3, 7, 11))
        self.noise_convs = nn.ModuleList([nn.Conv1d(N_FFT + 2, 256, 12, stride=6, padding=3),
                                          nn.Conv1d(N_FFT + 2, 128, 1)])  # fmt: skip
        self.noise_res = nn.ModuleList([SnakeResBlock(256, 7), SnakeResBlock(128, 11)])
        self.conv_post = nn.Conv1d(128, N_FFT + 2, 7, padding=3)
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)
        self.register_buffer("inverse_basis", torch.zeros(N_FFT + 2, 1, N_FFT))
        self.register_buffer("window_sum", torch.zeros(N_FFT))

    def forward(self, x: Tensor, s: Tensor, f0: Tensor, lengths: Tensor) -> Tensor:
        har = self.source_spectrum(f0, lengths).to(x.dtype)  # [B, 22, 60 L + 1]
        rates = (10 * lengths, 60 * lengths + 1)
        for i in range(2):
            x = self.ups[i](masked(functional.leaky_relu(x, 0.1), lengths if i == 0 else rates[0]))
            if i == 1:
                x = functional.pad(x, (1, 0), mode="reflect")
            source = self.noise_res[i](self.noise_convs[i](masked(har, rates[1])), s, rates[i])
            x = x + source
            blocks = self.resblocks[3 * i : 3 * i + 3]
            x = sum((block(x, s, rates[i]) for block in blocks), torch.zeros_like(x)) / 3
        x = self.conv_post(masked(functional.leaky_relu(x, 0.01), rates[1]))
        return self.inverse(x.float(), rates[1])

    def source_spectrum(self, f0: Tensor, lengths: Tensor) -> Tensor:
        """The harmonic source's STFT as [magnitude (11); phase (11)] frames, fp32, each item reflect-padded."""
        with torch.autocast(device_type=f0.device.type, enabled=False):
            source = self.harmonic_source(masked(f0.float()[:, None], lengths)[:, 0], lengths)
            padded = reflect_each(source, SAMPLES_PER_F0 * lengths, N_FFT // 2)
            spec = torch.stft(padded, N_FFT, HOP, window=self.window, center=False, return_complex=True)
            re, im = spec.real, spec.imag
            magnitude = torch.sqrt(re * re + im * im)
            return torch.cat([magnitude, canonical_phase(re, im, magnitude)], dim=1)

    def harmonic_source(self, f0: Tensor, lengths: Tensor) -> Tensor:
        """tanh(linear(0.1 * sin(phase_h) * voiced)) at 24 kHz, [B, 300 L]; phase_h a running sum of h * F0."""
        harmonics = torch.arange(1, HARMONICS + 1, device=f0.device, dtype=f0.dtype)
        step = f0[:, :, None] * harmonics / SAMPLE_RATE  # cycles per sample, per F0 step
        step = step - torch.floor(step)
        phase = torch.cumsum(step, dim=1) * (2 * math.pi * SAMPLES_PER_F0)  # [B, L, 9]
        phase = functional.interpolate(phase.transpose(1, 2), scale_factor=float(SAMPLES_PER_F0), mode="linear")
        voiced = torch.repeat_interleave((f0 > VOICED_HZ).to(f0.dtype), SAMPLES_PER_F0, dim=1)
        sines = torch.sin(phase) * SINE_AMP * voiced[:, None, :]
        linear = self.m_source.l_linear
        assert isinstance(linear, nn.Linear)
        merged = torch.tanh(functional.linear(sines.transpose(1, 2), linear.weight.float(), linear.bias.float()))
        return merged[:, :, 0]

    def inverse(self, x: Tensor, frames: Tensor) -> Tensor:
        """The graph's inverse STFT of ``exp(x[:, :11])`` / ``sin(x[:, 11:])`` (fp32): [B, 5 (frames - 1)]."""
        half = N_FFT // 2 + 1
        magnitude, phase = torch.exp(x[:, :half]), torch.sin(x[:, half:])
        spec = masked(torch.cat([magnitude * torch.cos(phase), magnitude * torch.sin(phase)], dim=1), frames)
        wave = functional.conv_transpose1d(spec, self.inverse_basis.float(), stride=HOP)[:, 0]
        head = min(N_FFT, wave.shape[-1])
        window_sum = self.window_sum.float()[:head]
        scale = torch.where(window_sum > torch.finfo(torch.float32).tiny, 1 / window_sum, torch.ones_like(window_sum))
        wave = torch.cat([wave[:, :head] * scale, wave[:, head:]], dim=1) * (N_FFT / HOP)
        return masked(wave[:, None, N_FFT // 2 : -(N_FFT // 2)], HOP * (frames - 1))[:, 0]


def canonical_phase(re: Tensor, im: Tensor, magnitude: Tensor) -> Tensor:
    """``atan2(im, re)``, made independent of FFT rounding where the phase is not defined by the signal.

    The DC and Nyquist bins of a real signal are real: their phase is 0 or pi (pi where negative, as training's
    ``torch.angle`` and the graph give; the sign of a rounded-to-zero imaginary part would flip it to -pi).
    Bins below :data:`NOISE_FLOOR` hold only rounding error (an unvoiced stretch of the source is a constant,
    whose spectrum is zero past bin 1): their phase is set to 0, so an item's input does not depend on its
    batch or on the FFT implementation."""
    phase = torch.atan2(im, re)
    bins = torch.arange(re.shape[1], device=re.device)[None, :, None]
    real_bin = (bins == 0) | (bins == N_FFT // 2)
    pi = torch.full_like(phase, math.pi)
    phase = torch.where(real_bin, torch.where(re < 0, pi, torch.zeros_like(phase)), phase)
    return torch.where(magnitude < NOISE_FLOOR, torch.zeros_like(phase), phase)


def reflect_each(x: Tensor, lengths: Tensor, pad: int) -> Tensor:
    """[B, T] -> [B, T + 2 pad]: each item's valid part reflect-padded by ``pad`` on both sides, zeros after."""
    out = x.new_zeros(x.shape[0], x.shape[1] + 2 * pad)
    for b, n in enumerate(lengths.tolist()):
        out[b, : n + 2 * pad] = functional.pad(x[b : b + 1, :n], (pad, pad), mode="reflect")[0]
    return out
