"""Memory of the server and its model workers: RSS and PSS per process and in total, idle and under load.

    python bench/pool_memory.py                       # defaults (both families on this machine's cores)
    python bench/pool_memory.py --clients 16 --seconds 30 --env TTSD_WORKERS_PER_DEVICE=1

Starts ``ttsd serve`` (CPU, cache off), reads /proc/<pid>/smaps_rollup of the server and every child
(workers), idle after a warm-up request per voice, then samples every 0.5 s while ``--clients`` clients (half
Baker, half Kokoro ``zm_yunjian``) post mixed texts, and prints the idle figures and the peak of the total.
PSS (proportional set size) counts pages shared between the processes (libraries, read-only weights) once
in total: it is the figure to compare with a pod's memory limit. Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from pathlib import Path

import httpx
from servers import ttsd_server

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts" / "pool_memory"
TEXTS = ROOT / "bench" / "texts_mixed.txt"
MIB = 1024 * 1024


def children(pid: int) -> list[int]:
    """Every descendant of ``pid``."""
    found: list[int] = []
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(path.parent.name)
            found += [child, *children(child)]
    return found


def memory(pid: int) -> dict[str, float]:
    """RSS and PSS of one process, MiB (0 if it is gone)."""
    out = {"rss_mib": 0.0, "pss_mib": 0.0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Rss", "Pss"):
                out[f"{key.lower()}_mib"] = int(value.split()[0]) * 1024 / MIB
    except OSError:
        pass
    return out


def snapshot(server_pid: int) -> dict[str, object]:
    procs = {"server": server_pid} | {f"child {pid}": pid for pid in children(server_pid)}
    per = {name: memory(pid) for name, pid in procs.items()}
    return {
        "processes": per,
        "total_rss_mib": sum(m["rss_mib"] for m in per.values()),
        "total_pss_mib": sum(m["pss_mib"] for m in per.values()),
    }


async def load(url: str, clients: int, seconds: int, texts: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    stop_at = time.perf_counter() + seconds

    async def client(c: httpx.AsyncClient, k: int) -> None:
        voice = "baker" if k % 2 == 0 else "zm_yunjian"
        while time.perf_counter() < stop_at:
            r = await c.post("/tts", json={"text": texts[k % len(texts)], "voice": voice, "format": "pcm"})
            key = f"{voice} {r.status_code}"
            counts[key] = counts.get(key, 0) + 1
            k += 1
            if r.status_code != 200:
                await asyncio.sleep(0.1)  # a refused client pauses before its next text

    async with httpx.AsyncClient(base_url=url, timeout=120) as c:
        await asyncio.gather(*(client(c, k) for k in range(clients)))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--env", action="append", default=[], metavar="TTSD_X=V", help="extra server setting")
    args = parser.parse_args()
    env = {"TTSD_DEVICE": "cpu", "TTSD_CACHE_BYTES": "0", **dict(item.split("=", 1) for item in args.env)}
    texts = [t for t in TEXTS.read_text(encoding="utf-8").splitlines() if t.strip()]
    with ttsd_server("pool-memory", env, log_dir=OUT, timeout_s=600) as (url, proc):
        with httpx.Client(timeout=120) as c:
            for voice in ("baker", "zm_yunjian"):
                c.post(f"{url}/tts", json={"text": texts[0], "voice": voice}).raise_for_status()
        time.sleep(2)
        idle = snapshot(proc.pid)
        peak: dict[str, object] = {"total_pss_mib": 0.0}
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.5):
                now = snapshot(proc.pid)
                if float(now["total_pss_mib"]) > float(peak["total_pss_mib"]):  # type: ignore[arg-type]
                    peak = now

        sampler = threading.Thread(target=sample)
        sampler.start()
        counts = asyncio.run(load(url, args.clients, args.seconds, texts))
        done.set()
        sampler.join()
        time.sleep(3)
        after = snapshot(proc.pid)
    result = {"settings": env, "clients": args.clients, "seconds": args.seconds, "requests": counts,
              "idle": idle, "peak_under_load": peak, "after_load": after}  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "pool_memory.json").write_text(json.dumps(result, indent=2))
    for label, snap in (("idle", idle), ("peak under load", peak), ("after load", after)):
        print(f"{label}: total RSS {snap['total_rss_mib']:.0f} MiB, total PSS {snap['total_pss_mib']:.0f} MiB")
        for name, m in snap["processes"].items():  # type: ignore[union-attr]
            print(f"    {name:>14}: RSS {m['rss_mib']:7.1f} MiB  PSS {m['pss_mib']:7.1f} MiB")
    print(f"requests: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
