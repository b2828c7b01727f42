"""The model-only ceiling of a worker pool, and what the pool's transport costs per batch.

    python bench/pool_ceiling.py ceiling --workers 2 --threads 1 --seconds 30     # N x T run_batch back to back
    python bench/pool_ceiling.py ceiling --workers 1 --threads 2 --seconds 30
    python bench/pool_ceiling.py ceiling --voice kokoro --batch 1 --workers 2 --threads 1
    python bench/pool_ceiling.py transport --batches 20                           # pipe overhead per batch

``ceiling``: N spawned processes, each loading the voice with T intra-op threads, run ``run_batch`` on batches
of ``--batch`` sentences of bench/texts_mixed.txt back to back for ``--seconds``; prints audio seconds per wall
second of the whole pool (the most any server on these workers can deliver). Nothing else runs; the workers
use the server's worker allocator profile (:func:`ttsd.allocator.tune_model`).

``transport``: the real pool (:class:`ttsd.serving.pool.WorkerPool`, one worker) runs batches of ``--batch``
sentences; for each, the model time the worker reports is compared with the time the server waited for it.
The difference is the transport (pickling, the pipe both ways, the thread hop), printed in ms and as a share
of the batch's model time (the goal: under 2%).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ROOT / "bench" / "texts_mixed.txt"


def batches(voice_name: str, size: int) -> list[list[object]]:
    """Batch items of the mixed texts' sentences (encoded with the voice's own text side), ``size`` each."""
    from dataclasses import replace

    from ttsd.pipeline.local import Synthesizer, build_frontend
    from ttsd.voices import registry
    from ttsd.voices.base import BatchItem
    from ttsd.voices.options import VoiceOptions

    text_side = registry.load_family(voice_name, replace(VoiceOptions(), load_model=False))
    synth = Synthesizer(voice=text_side, frontend=build_frontend(voice_name))
    texts = [t for t in TEXTS.read_text(encoding="utf-8").splitlines() if t.strip()]
    items = [BatchItem(utterance=u) for text in texts for u in synth.utterances(text)]
    return [items[k : k + size] for k in range(0, len(items) - size + 1, size)]


def _worker(voice_name: str, threads: int, size: int, seconds: float, go: Any, out: Any) -> None:
    from ttsd import allocator
    from ttsd.voices import registry
    from ttsd.voices.options import VoiceOptions

    allocator.tune_model()  # the allocator profile of the server's workers
    work = batches(voice_name, size)  # first: loading the text side sets torch's threads to every core
    voice = registry.load_family(voice_name, VoiceOptions(device="cpu", precision="auto", threads=threads))
    voice.warmup()
    out.put("ready")
    go.wait()
    start = time.perf_counter()
    audio = 0.0
    k = 0
    while time.perf_counter() < start + seconds:
        output = voice.run_batch(work[k % len(work)])
        audio += sum(len(w) for w in output.waveforms) / voice.sample_rate
        k += 1
    out.put((audio, k))


def ceiling(args: argparse.Namespace) -> None:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    go = ctx.Event()
    procs = [
        ctx.Process(target=_worker, args=(args.voice, args.threads, args.batch, args.seconds, go, out))
        for _ in range(args.workers)
    ]
    for p in procs:
        p.start()
    for _ in procs:  # every worker loaded and warm before the clock starts
        assert out.get(timeout=600) == "ready"
    go.set()
    results = [out.get(timeout=args.seconds + 600) for _ in procs]
    for p in procs:
        p.join()
    audio = sum(a for a, _ in results)
    runs = sum(k for _, k in results)
    print(f"{args.voice}: {args.workers} worker(s) x {args.threads} thread(s), batches of {args.batch}, "
          f"{args.seconds:.0f} s: {audio / args.seconds:.1f} audio s/s ({runs} batches)")  # fmt: skip


async def _transport(args: argparse.Namespace) -> None:
    from ttsd.metrics import Metrics
    from ttsd.serving.pool import WorkerPool
    from ttsd.serving.worker import WorkerSpec
    from ttsd.voices.options import VoiceOptions

    options = VoiceOptions(device="cpu", precision="auto", threads=args.threads)
    pool = WorkerPool(specs=[WorkerSpec(family=args.voice, index=0, options=options)], metrics=Metrics())
    work = batches(args.voice, args.batch)
    await asyncio.to_thread(pool.start)
    overheads: list[float] = []
    shares: list[float] = []
    try:
        for k in range(args.batches):
            started = time.perf_counter()
            output = await pool.run(work[k % len(work)])
            waited = time.perf_counter() - started
            model = output.acoustic_seconds + output.vocoder_seconds
            overheads.append(waited - model)
            shares.append((waited - model) / model)
    finally:
        pool.close()
    audio = sum(len(w) for w in output.waveforms) / 24000
    median, worst = statistics.median(overheads) * 1000, max(overheads) * 1000
    print(f"{args.voice}: batches of {args.batch} ({audio:.1f} s of audio in the last), {args.batches} runs: "
          f"transport median {median:.2f} ms, max {worst:.2f} ms; share of model time "
          f"median {statistics.median(shares) * 100:.2f}%, max {max(shares) * 100:.2f}%")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=("ceiling", "transport"))
    parser.add_argument("--voice", default="baker")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8, help="sentences per batch")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--batches", type=int, default=20, help="transport: batches to time")
    args = parser.parse_args()
    if args.which == "ceiling":
        ceiling(args)
    else:
        asyncio.run(_transport(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
