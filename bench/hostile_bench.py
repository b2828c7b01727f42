"""Hostile-load benchmark for docs/benchmarks.md: ``ttsd serve`` on 127.0.0.1 under a bounded mix of idle
connections (twice the connection cap), 500 MB bodies, clients that never read a max-length stream, and
max-length whole-file requests, while well-behaved clients send short requests and a probe polls /healthz.
The server's RSS is sampled throughout (psutil).

    python bench/hostile_bench.py                      # fake voice, 60 s
    python bench/hostile_bench.py --voice baker --seconds 90
    python bench/hostile_bench.py --soak-minutes 10    # also writes artifacts/hostile_bench/rss.png

Prints: peak and steady RSS, goodput (short requests answered 200 per second, and their p50/p99), /healthz
p99 and failures, 503s (count and latency p99), and what each attacker achieved; then the requests that used to
get wrong audio with a 200 (issue 23: an overflowing blend, Kokoro speed 4, variation without a seed served from
the cache, a stream without X-Voice) and what they get now. Results also go to
artifacts/hostile_bench/result.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from servers import ttsd_server

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts" / "hostile_bench"
SENTENCE = "这是一段用来压测服务的最长文本，"


@dataclass
class Tally:
    """What the load saw; latencies in seconds."""

    good_ok: list[float] = field(default_factory=list)
    good_other: dict[int, int] = field(default_factory=dict)
    health: list[float] = field(default_factory=list)
    health_failures: int = 0
    refused_503: list[float] = field(default_factory=list)
    attacks: dict[str, int] = field(default_factory=dict)
    rss: list[tuple[float, int]] = field(default_factory=list)

    def count(self, name: str) -> None:
        self.attacks[name] = self.attacks.get(name, 0) + 1


@contextlib.contextmanager
def server(voice: str, env: dict[str, str]) -> Iterator[tuple[str, psutil.Process]]:
    settings = {"TTSD_VOICE": voice, **({"TTSD_WARMUP": "false"} if voice == "fake" else {}), **env}
    with ttsd_server("hostile", settings, log_dir=OUT, timeout_s=300) as (url, proc):
        yield url, psutil.Process(proc.pid)


def sample_rss(process: psutil.Process, tally: Tally, stop: threading.Event) -> None:
    start = time.monotonic()
    while not stop.wait(0.25):
        with contextlib.suppress(psutil.Error):
            tally.rss.append((time.monotonic() - start, process.memory_info().rss))


# -- attackers ------------------------------------------------------------------------------------------


async def idle_connections(port: int, count: int, tally: Tally, until: float) -> None:
    """Keep ``count`` connections open that never send a byte; reopen each one the server closes."""

    async def one() -> None:
        while time.monotonic() < until:
            with contextlib.suppress(OSError):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                tally.count("idle_opened")
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.wait_for(reader.read(1), timeout=max(0.1, until - time.monotonic()))
                writer.close()
            await asyncio.sleep(0.05)

    await asyncio.gather(*(one() for _ in range(count)))


async def big_bodies(port: int, tally: Tally, until: float) -> None:
    """Declare 500 MB bodies and push bytes until the server answers."""
    head = b"POST /tts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500000000\r\n\r\n"
    while time.monotonic() < until:
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head + b"x" * 65536)
            with contextlib.suppress(OSError):
                await writer.drain()
            status = await asyncio.wait_for(reader.read(12), timeout=10)
            tally.count(f"big_body_{status[9:12].decode() or 'closed'}")
            writer.close()
        await asyncio.sleep(0.1)


async def non_readers(port: int, text: str, count: int, tally: Tally, until: float, hold_s: float) -> None:
    """Clients that ask for a max-length stream and never read it; each holds its connection ``hold_s``."""
    body = json.dumps({"text": text, "stream": True}).encode()
    head = f"POST /tts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"

    async def one() -> None:
        while time.monotonic() < until:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port, limit=1024)
                writer.write(head.encode() + body)
                tally.count("non_reader_started")
                await asyncio.sleep(max(0.0, min(hold_s, until - time.monotonic())))
                writer.close()
            await asyncio.sleep(0.1)

    await asyncio.gather(*(one() for _ in range(count)))


async def long_texts(url: str, text: str, count: int, tally: Tally, until: float) -> None:
    async with httpx.AsyncClient(timeout=120) as client:

        async def one() -> None:
            while time.monotonic() < until:
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.post(f"{url}/tts", json={"text": text})
                    tally.count(f"long_text_{response.status_code}")
                    if response.status_code == 503:
                        await asyncio.sleep(0.5)

        await asyncio.gather(*(one() for _ in range(count)))


# -- well-behaved clients ---------------------------------------------------------------------------


async def good_clients(url: str, count: int, tally: Tally, until: float) -> None:
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(k: int) -> None:
            n = 0
            while time.monotonic() < until:
                n += 1
                started = time.monotonic()
                try:
                    response = await client.post(f"{url}/tts", json={"text": f"第{k}号客户端的第{n}个短句。"})
                except httpx.HTTPError:
                    tally.good_other[0] = tally.good_other.get(0, 0) + 1
                    continue
                took = time.monotonic() - started
                if response.status_code == 200:
                    tally.good_ok.append(took)
                else:
                    tally.good_other[response.status_code] = tally.good_other.get(response.status_code, 0) + 1
                    if response.status_code == 503:
                        tally.refused_503.append(took)
                        await asyncio.sleep(0.2)

        await asyncio.gather(*(one(k) for k in range(count)))


async def probe(url: str, tally: Tally, until: float) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                ok = (await client.get(f"{url}/healthz", headers={"Connection": "close"})).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                tally.health.append(time.monotonic() - started)
            else:
                tally.health_failures += 1
            await asyncio.sleep(0.5)


async def load(url: str, args: argparse.Namespace, tally: Tally) -> None:
    port = int(url.rsplit(":", 1)[1])
    until = time.monotonic() + args.seconds
    text = (SENTENCE * (args.max_text_chars // len(SENTENCE) + 1))[: args.max_text_chars]
    await asyncio.gather(
        idle_connections(port, 2 * args.max_connections, tally, until),
        big_bodies(port, tally, until),
        non_readers(port, text, args.non_readers, tally, until, args.send_timeout_s + 5),
        long_texts(url, text, args.long_texts, tally, until),
        good_clients(url, args.good_clients, tally, until),
        probe(url, tally, until),
    )


# -- no silent wrong audio (issue 23): run once, after the load ---------------------------------------


def wrong_audio_checks(url: str, voice: str) -> dict[str, object]:
    """Requests that used to get 200 with wrong audio, and what they get now (expected in brackets)."""
    text = "今天天气很好。"
    with httpx.Client(base_url=url, timeout=120) as client:
        kokoro = voice in ("kokoro", "zf_xiaobei")
        noisy = "baker" if kokoro else voice  # Kokoro has no variation control (422); Baker is loaded beside it
        fresh = [client.post("/tts", json={"text": text, "voice": noisy, "variation": True}) for _ in range(2)]
        stream = client.post("/tts", json={"text": text, "stream": True})
        checks: dict[str, object] = {
            "variation_no_seed_cached_sentences [0, 0]": [int(r.headers.get("x-cached-sentences", -1)) for r in fresh],
            "stream_has_x_voice [True]": "x-voice" in stream.headers,
        }
        if kokoro:
            blend = client.post("/tts", json={"text": text, "voice": "zf_xiaobei:1e308,zm_yunjian:1e308"})
            too_fast = client.post("/tts", json={"text": text, "voice": "kokoro", "speed": 4.0})
            checks["blend_1e308_status [422]"] = blend.status_code
            checks["kokoro_speed_4_status [422]"] = too_fast.status_code
    return checks


# -- report ---------------------------------------------------------------------------------------------


def p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def report(tally: Tally, args: argparse.Namespace) -> dict[str, object]:
    rss = [r for _, r in tally.rss]
    steady = rss[len(rss) // 2 :] or rss
    return {
        "voice": args.voice,
        "seconds": args.seconds,
        "max_connections": args.max_connections,
        "rss_peak_mb": round(max(rss) / 2**20, 1) if rss else None,
        "rss_steady_mb": round(statistics.median(steady) / 2**20, 1) if steady else None,
        "goodput_rps": round(len(tally.good_ok) / args.seconds, 2),
        "good_p50_ms": ms(p(tally.good_ok, 0.5)),
        "good_p99_ms": ms(p(tally.good_ok, 0.99)),
        "good_not_200": tally.good_other,
        "healthz_p99_ms": ms(p(tally.health, 0.99)),
        "healthz_failures": tally.health_failures,
        "healthz_ok": len(tally.health),
        "refused_503": len(tally.refused_503),
        "refused_503_p99_ms": ms(p(tally.refused_503, 0.99)),
        "attacks": dict(sorted(tally.attacks.items())),
        "server_log": server_log_counts(),
    }


def server_log_counts() -> dict[str, int]:
    """What the server said it did to the attackers (its log lines)."""
    text = (OUT / "server-hostile.log").read_text(errors="replace")
    return {
        "send_timeout_disconnects": text.count("read nothing for"),
        "cap_503_lines": text.count("connection cap ("),
        "tracebacks": text.count("Traceback"),
    }


def plot(tally: Tally, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot([t / 60 for t, _ in tally.rss], [r / 2**20 for _, r in tally.rss])
    ax.set_xlabel("minutes under hostile load")
    ax.set_ylabel("server RSS (MiB)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", default="fake")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--soak-minutes", type=float, default=0.0, help="run this long and plot RSS (PNG)")
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--max-text-chars", type=int, default=5000)
    parser.add_argument("--non-readers", type=int, default=8)
    parser.add_argument("--long-texts", type=int, default=4)
    parser.add_argument("--good-clients", type=int, default=4)
    parser.add_argument("--send-timeout-s", type=float, default=10.0, help="the server's TTSD_SEND_TIMEOUT_S")
    args = parser.parse_args()
    if args.soak_minutes:
        args.seconds = int(args.soak_minutes * 60)
    env = {
        "TTSD_MAX_CONNECTIONS": str(args.max_connections),
        "TTSD_MAX_TEXT_CHARS": str(args.max_text_chars),
        "TTSD_SEND_TIMEOUT_S": str(args.send_timeout_s),
    }
    tally = Tally()
    with server(args.voice, env) as (url, process):
        stop = threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(process, tally, stop), daemon=True)
        sampler.start()
        asyncio.run(load(url, args, tally))
        stop.set()
        sampler.join()
        checks = wrong_audio_checks(url, args.voice)
    result = {**report(tally, args), "wrong_audio_checks": checks}
    (OUT / "result.json").write_text(json.dumps(result, indent=2))
    if args.soak_minutes:
        plot(tally, OUT / "rss.png")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
