"""How much a busy Python thread slows one Baker model batch on the CPU (docs/benchmarks.md, "LitServe gap").

One process loads the Baker voice and times ``voice.run_batch`` on 8 sentences of bench/texts_mixed.txt (the
median of 5 calls): alone, then while a second thread runs the text front end flat out, then at a 10% duty cycle
(front-end work, then 9x as long asleep: about what 16 clients ask of it), with that thread at nice ``--nice``
(0 = the normal priority; Linux only).

    PYTHONPATH=src python bench/contention.py [--nice 19]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path

TEXTS = Path(__file__).resolve().parent / "texts_mixed.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nice", type=int, default=0, help="nice value of the competing thread (0-19)")
    args = parser.parse_args()

    import ttsd
    from ttsd.voices.base import BatchItem

    synth = ttsd.load_voice("baker", precision="auto")
    texts = [t for t in TEXTS.read_text(encoding="utf-8").splitlines() if t.strip()]
    items = [BatchItem(u) for t in texts[:12] for u in synth.utterances(t)][:8]
    synth.voice.run_batch(items)  # warm-up

    def timed() -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            synth.voice.run_batch(items)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    def competitor(duty: float, stop: threading.Event) -> None:
        if args.nice:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), args.nice)
        k = 0
        while not stop.is_set():
            started = time.perf_counter()
            list(synth.utterances(texts[k % len(texts)]))
            k += 1
            if duty < 1:
                time.sleep((time.perf_counter() - started) * (1 / duty - 1))

    print(f"batch of {len(items)} sentences, alone: {timed():.3f} s")
    for duty in (1.0, 0.1):
        stop = threading.Event()
        thread = threading.Thread(target=competitor, args=(duty, stop))
        thread.start()
        try:
            print(f"beside a front-end thread at {duty:.0%} duty (nice {args.nice}): {timed():.3f} s")
        finally:
            stop.set()
            thread.join()


if __name__ == "__main__":
    main()
