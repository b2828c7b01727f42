"""What the C allocator's profile costs a model worker: throughput and memory, one process per profile.

    python bench/allocator_bench.py --seconds 12 --rounds 2

Each profile runs in a fresh process (the profile must be set before anything allocates), alternating, one
round after another: Baker, one intra-op thread, ``run_batch`` on batches of ``--batch`` sentences of
bench/texts_mixed.txt back to back for ``--seconds``; then one batch of the 8 longest sentences, and
``malloc_trim``. Prints audio seconds per second, and the RSS idle, after the long batch and after the trim.

Profiles: ``server`` (:func:`ttsd.allocator.tune`, 1 MiB mmap threshold: every large block goes back when
freed), ``worker`` (:func:`ttsd.allocator.tune_model`, what the pool's workers use: blocks under 8 MiB reused
from the heap, trimmed when idle) and ``glibc`` (glibc's own adaptive default).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("server", "worker", "glibc")


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def child(profile: str, seconds: float, size: int) -> None:
    from ttsd import allocator

    if profile == "server":
        allocator.tune()
    elif profile == "worker":
        allocator.tune_model()
    sys.path.insert(0, str(ROOT / "bench"))
    from pool_ceiling import batches

    from ttsd.voices import registry
    from ttsd.voices.options import VoiceOptions

    work = batches("baker", size)
    voice = registry.load_family("baker", VoiceOptions(device="cpu", precision="auto", threads=1))
    voice.warmup()
    allocator.trim()
    idle = _rss_mib()
    start = time.perf_counter()
    audio, k = 0.0, 0
    while time.perf_counter() < start + seconds:
        output = voice.run_batch(work[k % len(work)])
        audio += sum(len(w) for w in output.waveforms) / voice.sample_rate
        k += 1
    rate = audio / (time.perf_counter() - start)
    longest = sorted((item for batch in work for item in batch), key=lambda i: -len(i.utterance.ids))[:8]
    del output
    voice.run_batch(longest)
    after_long = _rss_mib()
    allocator.trim()
    print(f"{profile:7s} {rate:6.1f} audio s/s ({k} batches); RSS idle {idle:.0f} MiB, after a batch of the 8 "
          f"longest {after_long:.0f}, after trim {_rss_mib():.0f}", flush=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", choices=PROFILES, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--batch", type=int, default=5, help="sentences per batch")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.seconds, args.batch)
        return 0
    for _ in range(args.rounds):
        for profile in PROFILES:
            cmd = [sys.executable, __file__, "--child", profile, "--seconds", str(args.seconds),
                   "--batch", str(args.batch)]  # fmt: skip
            subprocess.run(cmd, check=True, timeout=args.seconds + 600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
