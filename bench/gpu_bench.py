"""Batched throughput of one voice on one device: audio seconds per second, RTF and peak memory per batch size.

``ttsd bench`` times 16 fixed sentences and reports the process's peak RSS; on a GPU the questions are how far
throughput grows with the batch (up to 64 items) and what that costs in device memory. This script loads the
voice once per precision and, for each batch size N, runs ``run_batch`` on N sentences of the benchmark
paragraph (``ttsd/data/bench_paragraph.txt``, cycled when N is larger than the paragraph): one warm-up call for
that shape, then the median of ``--repeats`` timed calls, each closed by ``torch.cuda.synchronize()``. Peak memory
is ``torch.cuda.max_memory_allocated`` since that size's first call (CUDA), or the process's peak RSS (CPU).

A voice or precision that cannot run here (``UnknownVoice``, ``BackendUnavailable``, or an ``InvalidControl`` such
as fp16 on a CPU) is reported as skipped with the reason, not as an error::

    python bench/gpu_bench.py --voice baker --device cuda --precision fp16 --precision bf16 \
        --batch-sizes 1 8 32 64 --json bench-baker.json

``--synthetic-weights`` (Kokoro only) times the PyTorch Kokoro with random weights instead of the installed ones,
for a machine the 92 MB model cannot be carried to: the work per batch is the same (the same ids through the
same layers), with every id given 4 duration frames, the real model's mean on Mandarin (docs/kokoro.md), so the
audio length matches the real voice's to within its spread. The audio itself is noise.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from ttsd.commands.bench import paragraph_text
from ttsd.errors import BackendUnavailable, InvalidControl, UnknownVoice
from ttsd.pipeline.local import Synthesizer, load_voice
from ttsd.voices.base import BatchItem, Utterance, Voice

SKIPPABLE = (UnknownVoice, BackendUnavailable, InvalidControl)


def sentences(synthesizer: Synthesizer, text: str) -> list[Utterance]:
    """The voice's utterances for ``text`` (the shared front end cuts them to the voice's budget)."""
    utterances = [u for u in synthesizer.utterances(text) if u.ids]
    if not utterances:
        raise ValueError("the benchmark paragraph produced no utterances")
    return utterances


def batch_of(utterances: list[Utterance], size: int) -> list[BatchItem]:
    """``size`` items: the utterances in order, cycled."""
    return [BatchItem(utterance=utterances[i % len(utterances)]) for i in range(size)]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _peak_mb(device: str) -> float:
    if device.startswith("cuda"):
        import torch

        return float(torch.cuda.max_memory_allocated()) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()


def measure_batch(voice: Voice, items: list[BatchItem], *, device: str, repeats: int) -> dict[str, Any]:
    """One batch shape: warm-up, then the median of ``repeats`` synchronized ``run_batch`` calls."""
    _reset_peak(device)
    voice.run_batch(items)  # warm-up for this shape (kernel selection, allocator growth)
    _sync(device)
    times: list[float] = []
    audio_s = 0.0
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = voice.run_batch(items)
        _sync(device)
        times.append(time.perf_counter() - t0)
        audio_s = sum(len(w) for w in out.waveforms) / voice.sample_rate
    wall = statistics.median(times)
    return {
        "batch_size": len(items),
        "wall_s": wall,
        "min_s": min(times),
        "audio_s": audio_s,
        "audio_s_per_s": audio_s / wall,
        "rtf": wall / audio_s,
        "peak_mem_mb": _peak_mb(device),
        "peak_mem_kind": "gpu_allocated" if device.startswith("cuda") else "process_rss",
    }


def synthetic_kokoro(device: str, precision: str) -> Synthesizer:
    """The Kokoro voice on the PyTorch port with random weights (4 frames per id) and random style tables."""
    import numpy as np
    import torch

    from ttsd.pipeline.local import build_frontend
    from ttsd.precision import resolve_precision
    from ttsd.voices.kokoro.phonemizer import Phonemizer, load_vocab
    from ttsd.voices.kokoro.styles import ROWS, STYLE_DIM, StyleBank
    from ttsd.voices.kokoro.torch_model import KokoroTorch
    from ttsd.voices.kokoro.torch_session import TorchSynthesizer
    from ttsd.voices.kokoro.voice import DEFAULT_SPEAKER, KokoroVoice

    resolved = resolve_precision(precision, device)
    torch.manual_seed(0)
    model = KokoroTorch().eval()
    with torch.no_grad():  # sum of 50 sigmoids = 3.8 per id: 4 frames after rounding
        model.durations.duration_proj.weight.zero_()
        model.durations.duration_proj.bias.fill_(float(np.log(0.076 / 0.924)))
    synth = TorchSynthesizer(model=model, device=device, precision=resolved)
    rng = np.random.default_rng(0)
    styles = StyleBank(tables={DEFAULT_SPEAKER: (rng.standard_normal((ROWS, STYLE_DIM)) * 0.1).astype(np.float32)})
    voice = KokoroVoice(synthesizer=synth, styles=styles, phonemizer=Phonemizer(vocab=load_vocab()), device=device,
                        precision=resolved, backend="torch", model_version="synthetic")  # fmt: skip
    return Synthesizer(voice=voice, frontend=build_frontend("kokoro"))


def bench_precision(args: argparse.Namespace, precision: str, text: str) -> dict[str, Any]:
    """Every batch size for one precision; a precision this voice/device cannot run is a skip."""
    head: dict[str, Any] = {"voice": args.voice, "device": args.device, "precision": precision}
    started = time.perf_counter()
    try:
        if args.synthetic_weights:
            head["weights"] = "synthetic"
            synthesizer = synthetic_kokoro(args.device, precision)
        else:
            synthesizer = load_voice(args.voice, device=args.device, precision=precision, model_dir=args.model_dir)
    except SKIPPABLE as err:
        return {**head, "skipped": f"{type(err).__name__}: {err}"}
    voice = synthesizer.voice
    head["load_s"] = time.perf_counter() - started
    head["resolved_precision"] = voice.info.precision
    voice.warmup()
    utterances = sentences(synthesizer, text)
    head["sentences"] = len(utterances)
    head["batches"] = [
        measure_batch(voice, batch_of(utterances, size), device=args.device, repeats=args.repeats)
        for size in args.batch_sizes
    ]
    return head


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return str(torch.cuda.get_device_name(torch.device(device)))
    return "cpu"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", default="baker")
    parser.add_argument("--device", default="cuda", help="cpu, cuda or cuda:N (default: cuda)")
    parser.add_argument("--precision", action="append", help="repeatable (default: fp16 and bf16)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64], metavar="N")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per batch size; the median counts")
    parser.add_argument("--model-dir", default=None, help="converted-weights cache (default: user cache dir)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--synthetic-weights", action="store_true", help="kokoro: random weights (see above)")
    args = parser.parse_args(argv)
    if args.synthetic_weights and args.voice != "kokoro":
        parser.error("--synthetic-weights is for --voice kokoro")
    text = paragraph_text()
    try:
        hardware = device_name(args.device)
    except (RuntimeError, AssertionError) as err:  # torch without CUDA, or no device
        hardware = f"unavailable ({err})"
    results: list[dict[str, Any]] = []
    report = {"voice": args.voice, "device": args.device, "hardware": hardware, "results": results}
    for precision in args.precision or ["fp16", "bf16"]:
        results.append(bench_precision(args, precision, text))
        if args.json is not None:  # after every precision: a run stopped later keeps what it measured
            args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for r in results:
        if "skipped" in r:
            print(f"{r['voice']} {r['precision']}: skipped ({r['skipped']})")
        for b in r.get("batches", []):
            print(
                f"{r['voice']} {r['precision']} batch {b['batch_size']:>3}: {b['audio_s_per_s']:9.1f} audio s/s"
                f"  RTF {b['rtf']:.5f}  wall {b['wall_s'] * 1000:8.1f} ms  peak {b['peak_mem_mb']:8.0f} MB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
