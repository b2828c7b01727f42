"""Latin runs in Mandarin text: classification accuracy, front-end time on mixed text, before/after.

Usage (from the repository root):
  PYTHONPATH=src python bench/latin_bench.py                         # accuracy + this tree's timings
  PYTHONPATH=src python bench/latin_bench.py --before /tmp/before/src --rounds 15
      # before/after side by side: /tmp/before/src is an older tree (git archive main src | tar -x -C /tmp/before)

* Accuracy: every Latin run of tests/fixtures/latin_runs.jsonl (80 code-switched sentences) classified by
  ttsd.text.latin against its expected class.
* Timing: ``TextFrontend.sentences()`` consumed whole (Baker budget), warm, on the benchmark paragraph
  (tests/fixtures/bench_paragraph.txt, no Latin) and on the fixture's sentences joined (mixed text), in ms of
  this thread's CPU per 1,000 characters. With ``--before``, each tree runs in its own worker process; the
  parent asks them in turn (before, after, before, after...) so background load hits both alike, and prints
  the medians side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/fixtures/latin_runs.jsonl"
PARAGRAPH = ROOT / "tests/fixtures/bench_paragraph.txt"


def texts() -> dict[str, str]:
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {"paragraph": PARAGRAPH.read_text(encoding="utf-8").strip(), "mixed": "".join(r["text"] for r in rows)}


def accuracy() -> tuple[int, int, list[str]]:
    from ttsd.text.latin import LatinTable, classify_text

    table = LatinTable.load()
    right = total = 0
    wrong: list[str] = []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for (run, expected), (_, got, reason) in zip(row["runs"], classify_text(row["text"], table), strict=True):
            total += 1
            right += expected == got
            if expected != got:
                wrong.append(f"{run}: expected {expected}, got {got} ({reason})")
    return right, total, wrong


def worker() -> None:
    """Read text names on stdin, answer with the CPU ms of one full front-end pass over that text."""
    from ttsd.text.frontend import TextFrontend
    from ttsd.voices.baker.phones import baker_budget

    frontend = TextFrontend(cache_dir=Path(tempfile.gettempdir()) / "ttsd-bench-cache")
    frontend.warmup()
    budget = baker_budget(512)
    corpus = texts()
    for name in corpus.values():  # a first pass of each, untimed
        list(frontend.sentences(name, budget=budget))
    print("ready", flush=True)
    for line in sys.stdin:
        name, repeat = line.split()
        best = float("inf")
        for _ in range(int(repeat)):  # the least-disturbed of a few passes: background load only adds time
            c0 = time.thread_time()
            list(frontend.sentences(corpus[name], budget=budget))
            best = min(best, time.thread_time() - c0)
        print(f"{best * 1000:.3f}", flush=True)


class Worker:
    def __init__(self, src: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(src)}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        while self.proc.stdout.readline().strip() != "ready":
            pass

    def run(self, name: str, repeat: int) -> float:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(f"{name} {repeat}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def timings(trees: dict[str, Path], rounds: int, repeat: int) -> None:
    workers = {label: Worker(src) for label, src in trees.items()}
    corpus = texts()
    try:
        for name, text in corpus.items():
            times: dict[str, list[float]] = {label: [] for label in workers}
            for _ in range(rounds):
                for label, w in workers.items():  # alternating
                    times[label].append(w.run(name, repeat))
            medians = {label: statistics.median(values) for label, values in times.items()}
            per_k = {label: m * 1000 / len(text) for label, m in medians.items()}
            shown = ", ".join(f"{label} {medians[label]:.2f} ms ({per_k[label]:.1f} ms/1k chars)" for label in workers)
            change = ""
            if "before" in medians:
                change = f", after/before {medians['after'] / medians['before']:.3f}"
            how = f"CPU, median over {rounds} rounds of the best of {repeat}"
            print(f"{name} ({len(text)} chars, {how}): {shown}{change}")
    finally:
        for w in workers.values():
            w.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, default=None, help="src dir of an older tree to compare against")
    parser.add_argument("--after", type=Path, default=ROOT / "src", help="src dir of the tree measured (default: ours)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=5, help="passes per round and tree; the fastest counts")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    right, total, wrong = accuracy()
    print(f"classification: {right}/{total} runs = {100 * right / total:.1f}% ({FIXTURE.name})")
    for line in wrong:
        print(f"  wrong: {line}")
    trees = {"before": args.before} if args.before is not None else {}
    trees["after"] = args.after
    timings(trees, args.rounds, args.repeat)


if __name__ == "__main__":
    main()
