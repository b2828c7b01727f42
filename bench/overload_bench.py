"""Overload goodput for docs/benchmarks.md: ``ttsd serve`` (Baker only, sentence cache off) on 127.0.0.1, first
unloaded (a few clients), then about 3x more clients than it can take, with the default admission settings
(TTSD_MAX_BACKLOG_S) and on a second server with a small queue (TTSD_MAX_QUEUE=32). Every load is bounded.

    python bench/overload_bench.py                       # 4 clients, then 48 clients x 2 servers, 60 s each
    python bench/overload_bench.py --seconds 30 --overload-clients 64 --retry-delay 0

Goodput is the audio seconds of 200 responses per wall second, reported as % of the unloaded run's (goal >= 80%);
503 responses are timed too (goal p99 < 100 ms). A client that gets a 503 waits --retry-delay seconds and sends
its next text. Texts: the lines of bench/texts_mixed.txt of at most --max-chars characters, in rotation.
Results are printed and written to artifacts/overload_bench/result.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from servers import ttsd_server

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts" / "overload_bench"
TEXTS = ROOT / "bench" / "texts_mixed.txt"
BASE_ENV = {"TTSD_VOICES": "baker", "TTSD_VOICE": "baker", "TTSD_DEVICE": "cpu", "TTSD_CACHE_BYTES": "0"}


@dataclass
class Tally:
    ok: list[tuple[float, float]] = field(default_factory=list)  # (latency s, audio s)
    refused: list[float] = field(default_factory=list)  # 503 latencies
    other: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def server(name: str, env: dict[str, str]) -> Iterator[str]:
    with ttsd_server(name, {**BASE_ENV, **env}, log_dir=OUT) as (url, _):
        yield url


async def load(url: str, texts: list[str], clients: int, seconds: float, retry_delay: float) -> dict[str, object]:
    tally = Tally()
    stop_at = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient, k: int) -> None:
        while time.perf_counter() < stop_at:
            text = texts[k % len(texts)]
            k += 1
            started = time.perf_counter()
            try:
                r = await client.post("/tts", json={"text": text, "format": "pcm"})
            except httpx.HTTPError as err:
                tally.other[type(err).__name__] = tally.other.get(type(err).__name__, 0) + 1
                continue
            took = time.perf_counter() - started
            if r.status_code == 200:
                rate = int(r.headers.get("x-sample-rate", "24000"))
                tally.ok.append((took, len(r.content) / 2 / rate))
            elif r.status_code == 503:
                tally.refused.append(took)
                await asyncio.sleep(retry_delay)
            else:
                tally.other[str(r.status_code)] = tally.other.get(str(r.status_code), 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=90, limits=limits) as client:
        tasks = [asyncio.create_task(worker(client, k)) for k in range(clients)]
        _, pending = await asyncio.wait(tasks, timeout=seconds + 100)
        for task in pending:
            task.cancel()
    elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "elapsed_s": round(elapsed, 1),
        "ok": len(tally.ok),
        "ok_per_s": len(tally.ok) / elapsed,
        "goodput_audio_s_per_s": sum(a for _, a in tally.ok) / elapsed,
        "ok_latency_ms": pcts([lat for lat, _ in tally.ok]),
        "refused_503": len(tally.refused),
        "refused_503_latency_ms": pcts(tally.refused),
        "other": tally.other,
    }


def pcts(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 1)

    return {"p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99), "max": round(ordered[-1] * 1000, 1)}


def warm(url: str, texts: list[str]) -> None:
    with httpx.Client(timeout=60) as client:
        for text in texts:
            client.post(f"{url}/tts", json={"text": text, "format": "pcm"}).raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration of each run")
    parser.add_argument("--unloaded-clients", type=int, default=4)
    parser.add_argument("--overload-clients", type=int, default=48)
    parser.add_argument("--small-queue", type=int, default=32, help="TTSD_MAX_QUEUE of the second server")
    parser.add_argument("--retry-delay", type=float, default=0.1, help="client pause after a 503 (seconds)")
    parser.add_argument("--max-chars", type=int, default=50, help="longest text used from texts_mixed.txt")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [t.strip() for t in TEXTS.read_text(encoding="utf-8").splitlines() if t.strip()]
    texts = [t for t in lines if len(t) <= args.max_chars]
    runs: dict[str, dict[str, object]] = {}
    with server("default", {}) as url:
        warm(url, texts)
        runs["unloaded"] = asyncio.run(load(url, texts, args.unloaded_clients, args.seconds, args.retry_delay))
        print("unloaded", json.dumps(runs["unloaded"]), flush=True)
        runs["overload_default"] = asyncio.run(load(url, texts, args.overload_clients, args.seconds, args.retry_delay))
        print("overload_default", json.dumps(runs["overload_default"]), flush=True)
    with server("small-queue", {"TTSD_MAX_QUEUE": str(args.small_queue)}) as url:
        warm(url, texts)
        runs[f"overload_max_queue_{args.small_queue}"] = asyncio.run(
            load(url, texts, args.overload_clients, args.seconds, args.retry_delay)
        )
    base = float(runs["unloaded"]["goodput_audio_s_per_s"])  # type: ignore[arg-type]
    for run in runs.values():
        run["goodput_pct_of_unloaded"] = round(100 * float(run["goodput_audio_s_per_s"]) / base, 1)  # type: ignore[arg-type]
    result = {
        "machine": f"{os.cpu_count()} CPUs",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "texts": [len(t) for t in texts],
        "retry_delay_s": args.retry_delay,
        "runs": runs,
    }
    text = json.dumps(result, indent=1, ensure_ascii=False)
    (OUT / "result.json").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
