"""The worker pool under load, for docs/benchmarks.md (servers started here on 127.0.0.1, every load bounded).

    python bench/pool_bench.py clients --clients 16 64 --seconds 30      # Baker throughput at 16 and 64 clients
    python bench/pool_bench.py clients --voice zm_yunjian --clients 8     # Kokoro, 8 clients
    python bench/pool_bench.py kill-worker --clients 8 --seconds 30       # kill -9 one Baker worker mid-load
    python bench/pool_bench.py clients --env TTSD_WORKERS_PER_DEVICE=0    # the same, model in the server process

``clients``: ``ttsd loadtest`` (/tts, WAV, bench/texts_mixed.txt) against one server per run, with the sentence
cache off; prints audio s/s, req/s, p50/p99 and errors per client count. ``kill-worker``: the same load, and
SIGKILL to one model worker a third of the way in; /readyz is polled every 50 ms throughout; prints the
requests that failed (goal: none), the /readyz answers that were not 200 (goal: none) and whether the worker
was replaced (``ttsd_workers`` back to its size, ``ttsd_worker_restarts_total`` 1).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from servers import loadtest_report, ttsd_server

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts" / "pool_bench"
TEXTS = ROOT / "bench" / "texts_mixed.txt"


def loadtest(url: str, *, clients: int, seconds: int, tag: str) -> dict[str, Any]:
    out = OUT / f"loadtest-{tag}.json"  # voice: the server's default
    report = loadtest_report(url, clients=clients, seconds=seconds, texts=TEXTS, out=out)
    return {
        "clients": clients,
        "audio_s_per_s": round(report["audio_seconds_per_s"], 2),
        "req_per_s": round(report["requests_per_s"], 2),
        "p50_ms": round(report["latency_s"].get("p50", 0) * 1000),
        "p99_ms": round(report["latency_s"].get("p99", 0) * 1000),
        "ok": report["ok"],
        "errors": report["errors"],
        "mean_batch": report.get("mean_batch_size"),
    }


def workers_of(pid: int) -> list[int]:
    """The server's model workers: its children other than multiprocessing's resource tracker."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_text()
        except OSError:
            continue
        if int(fields[1]) == pid and "resource_tracker" not in cmdline:
            found.append(int(stat.parent.name))
    return found


def family(args: argparse.Namespace) -> str:
    return "baker" if args.voice == "baker" else "kokoro"


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


def clients(args: argparse.Namespace, env: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    with ttsd_server("pool-clients", env, log_dir=OUT, timeout_s=600) as (url, _):
        for n in args.clients:
            rows.append(loadtest(url, clients=n, seconds=args.seconds, tag=f"{args.voice}-{n}"))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def kill_worker(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    not_ready: list[int] = []
    stop = threading.Event()
    with ttsd_server("pool-kill", env, log_dir=OUT, timeout_s=600) as (url, proc):
        size = len(workers_of(proc.pid))

        def probe() -> None:
            with httpx.Client(timeout=5) as c:
                while not stop.is_set():
                    code = c.get(f"{url}/readyz").status_code
                    if code != 200:
                        not_ready.append(code)
                    time.sleep(0.05)

        def killer() -> None:
            time.sleep(args.seconds / 3)
            victim = workers_of(proc.pid)[0]
            print(f"kill -9 {victim} at {args.seconds / 3:.0f} s", flush=True)
            os.kill(victim, signal.SIGKILL)

        threads = [threading.Thread(target=probe), threading.Thread(target=killer)]
        for t in threads:
            t.start()
        load = loadtest(url, clients=args.clients[0], seconds=args.seconds, tag="kill")
        stop.set()
        for t in threads:
            t.join()
        deadline = time.monotonic() + 120
        while metric(url, f'ttsd_workers{{voice="{family(args)}"}}') < size and time.monotonic() < deadline:
            time.sleep(0.5)
        result = {
            "load": load,
            "readyz_not_200": len(not_ready),
            "workers_after": metric(url, f'ttsd_workers{{voice="{family(args)}"}}'),
            "workers_planned": size,
            "restarts": metric(url, f'ttsd_worker_restarts_total{{voice="{family(args)}"}}'),
        }
    print(json.dumps(result), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=("clients", "kill-worker"))
    parser.add_argument("--voice", default="baker", help="baker, or a Kokoro speaker (zm_yunjian)")
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--env", action="append", default=[], metavar="TTSD_X=V", help="extra server setting")
    args = parser.parse_args()
    env = {"TTSD_DEVICE": "cpu", "TTSD_CACHE_BYTES": "0", "TTSD_VOICES": family(args), "TTSD_VOICE": args.voice}
    env.update(item.split("=", 1) for item in args.env)
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result: Any = clients(args, env) if args.which == "clients" else kill_worker(args, env)
    record = {"which": args.which, "date": started, "settings": env, "load_avg": os.getloadavg(), "result": result}
    (OUT / f"{args.which}.json").write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
