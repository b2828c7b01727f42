"""Memory benchmark for docs/benchmarks.md (issue 23): ``ttsd serve`` with both families loaded on the CPU
(defaults otherwise), its memory as the proportional set size summed over the server's processes (PSS from
``/proc/<pid>/smaps_rollup``, so pages shared between processes count once), sampled every 0.25 s.

    python bench/memory_bench.py                          # every case, short
    python bench/memory_bench.py --cases kokoro_slow --settle-s 10
    PYTHONPATH=/path/to/other/src python bench/memory_bench.py   # another checkout's server (before/after)

Cases (each starts from the idle server; they run one after another on the same server):

* ``kokoro_slow``: one whole-file Kokoro request, ``zf_xiaobei``, 150 Han characters without punctuation,
  ``speed`` 0.25 (the request that took a server from 1.0 to 2.6 GiB);
* ``baker_slow``: the same text on Baker at ``speed`` 0.25;
* ``slow_readers``: 6 concurrent maximum-length (``--chars``, default 5,000) streams, 3 per family, each read
  16 KB every 100 ms for ``--read-s`` seconds, then dropped.

Prints per case: idle, peak and after-load (``--settle-s`` after the case ended) PSS in MiB, peak minus idle,
after minus idle (as a share of idle), and the pod limit check (the CPU manifests' memory limit x 0.8).
Results also go to artifacts/memory_bench/result.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from servers import ttsd_server

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts" / "memory_bench"
CLAUSE = "今天我们一起去公园散步然后回家吃饭，"
HAN = (CLAUSE.rstrip("，") * 10)[:150]  # 150 Han characters, no punctuation: one long sentence
GOAL_ADDED_MB = 400.0
POD_FRACTION = 0.8


def pss_mib(root_pid: int) -> float:
    """PSS of ``root_pid`` and every descendant, in MiB."""
    total_kb = 0
    for pid in [root_pid, *_descendants(root_pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            for child in map(int, children):
                found += [child, *_descendants(child)]
    return found


class Sampler:
    """Samples the server's PSS in a thread; ``peak_since(t)`` and ``latest()``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.samples.append((time.monotonic(), pss_mib(self.pid)))

    def peak_since(self, since: float) -> float:
        return max((v for t, v in self.samples if t >= since), default=pss_mib(self.pid))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def pod_limit_mib() -> float:
    text = (ROOT / "deploy/k8s/cpu/deployment-patch.yaml").read_text()
    limits = text.split("limits:", 1)[1]
    found = re.search(r"memory:\s*(\d+)(Mi|Gi)", limits)
    assert found is not None, "no memory limit in deploy/k8s/cpu/deployment-patch.yaml"
    value, unit = found.groups()
    return float(value) * (1024 if unit == "Gi" else 1)


# -- the cases ----------------------------------------------------------------------------------------------


def whole(url: str, voice: str, speed: float) -> Callable[[], str]:
    def run() -> str:
        response = httpx.post(f"{url}/tts", json={"text": HAN, "voice": voice, "speed": speed}, timeout=900)
        return f"{response.status_code}, {len(response.content) / 1e6:.1f} MB"

    return run


def slow_readers(url: str, chars: int, read_s: float) -> Callable[[], str]:
    text = (CLAUSE * (chars // len(CLAUSE) + 1))[:chars]

    def reader(voice: str, got: list[int]) -> None:
        body = {"text": text, "voice": voice, "stream": True, "format": "pcm"}
        until = time.monotonic() + read_s
        with contextlib.suppress(httpx.HTTPError), httpx.stream("POST", f"{url}/tts", json=body, timeout=60) as r:
            got.append(0 if r.status_code == 200 else -r.status_code)
            for data in r.iter_raw(16 * 1024):
                got.append(len(data))
                if time.monotonic() > until:
                    break
                time.sleep(0.1)

    def run() -> str:
        got: list[list[int]] = [[] for _ in range(6)]
        voices = ["zf_xiaobei", "baker"] * 3
        threads = [threading.Thread(target=reader, args=(v, g)) for v, g in zip(voices, got, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        refused = [-g[0] for g in got if g and g[0] < 0]
        return "read " + ", ".join(f"{sum(max(0, n) for n in g) / 1e6:.1f}" for g in got) + f" MB; refused {refused}"

    return run


def measure(name: str, run: Callable[[], str], sampler: Sampler, idle: float, settle_s: float) -> dict[str, object]:
    """Run one case; peak and after-load (``settle_s`` after it) against ``idle``, the server's idle PSS before
    any case ran."""
    before = pss_mib(sampler.pid)
    started = time.monotonic()
    outcome = run()
    ended = time.monotonic()
    time.sleep(settle_s)
    peak = sampler.peak_since(started)
    after = pss_mib(sampler.pid)
    row = {
        "case": name, "outcome": outcome, "seconds": round(ended - started, 1), "idle_mib": round(idle),
        "before_mib": round(before), "peak_mib": round(peak), "added_mib": round(peak - idle),
        "after_mib": round(after), "after_vs_idle": round((after - idle) / idle, 3),
    }  # fmt: skip
    print(json.dumps(row, ensure_ascii=False), flush=True)
    return row


def verdict(row: dict[str, object], budget_mib: float) -> str:
    """One line per case: the figures and whether the issue's goals were met (400 MB = 381 MiB added)."""
    added, peak, back = float(row["added_mib"]), float(row["peak_mib"]), float(row["after_vs_idle"])
    met = added <= GOAL_ADDED_MB * 1e6 / 2**20 and peak <= budget_mib and abs(back) <= 0.10
    return (
        f"{row['case']:<13} idle {row['idle_mib']:>5} MiB  peak {peak:>5.0f} MiB (+{added:.0f})  "
        f"after {row['after_mib']:>5} MiB ({back:+.1%})  pod budget {budget_mib:.0f} MiB  "
        f"goal {'met' if met else 'MISSED'}"
    )


@contextlib.contextmanager
def server() -> Iterator[tuple[str, int]]:
    env = {"TTSD_VOICE": "kokoro", "TTSD_VOICES": "kokoro,baker", "TTSD_DEVICE": "cpu", "TTSD_LOG_LEVEL": "warning",
           "TTSD_MAX_BACKLOG_S": "0",  # every stream admitted: the worst case for memory
           "TTSD_REQUEST_TIMEOUT_S": "900"}  # fmt: skip  # the slow cases run to their end on a slow machine
    with ttsd_server("memory", env, log_dir=OUT, timeout_s=600) as (url, proc):
        yield url, proc.pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="kokoro_slow,baker_slow,slow_readers")
    parser.add_argument("--chars", type=int, default=5000)
    parser.add_argument("--read-s", type=float, default=60.0)
    parser.add_argument("--settle-s", type=float, default=15.0)
    args = parser.parse_args()
    rows = []
    limit = pod_limit_mib()
    with server() as (url, pid):
        sampler = Sampler(pid)
        cases = {
            "kokoro_slow": whole(url, "zf_xiaobei", 0.25),
            "baker_slow": whole(url, "baker", 0.25),
            "slow_readers": slow_readers(url, args.chars, args.read_s),
        }
        time.sleep(3)
        idle = pss_mib(pid)
        for name in args.cases.split(","):
            rows.append(measure(name, cases[name], sampler, idle, args.settle_s))
        sampler.stop()
    budget = POD_FRACTION * limit
    for row in rows:
        print(verdict(row, budget))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "result.json").write_text(json.dumps({"pod_limit_mib": limit, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
