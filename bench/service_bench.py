"""Service benchmarks for docs/benchmarks.md: overhead on the fake voice, batching on the real voice, and
time to first audio. Every server is started here on 127.0.0.1 and stopped at the end; every load is bounded.

    python bench/service_bench.py overhead   # zero-cost fake voice: req/s (wrk) and p50 at low load
    python bench/service_bench.py batching   # real voice, 16 clients, mixed texts: batched vs max_batch_size=1
    python bench/service_bench.py ttfa       # real voice, idle server: first streamed audio of a 300-char text
    python bench/service_bench.py ttfa-long  # Baker only, idle server: first streamed audio of 5,000 chars
    python bench/service_bench.py short-under-long  # 20 short requests: idle vs while 5,000 chars stream
    python bench/service_bench.py mixed-voices --seconds 60  # 16 clients, half Baker, half Kokoro
    python bench/service_bench.py all

Needs wrk (Debian package) for `overhead`. Results are printed and written to artifacts/service_bench/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from servers import ttsd_server

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts" / "service_bench"
MIXED_TEXTS = ROOT / "bench" / "texts_mixed.txt"
PARAGRAPH = ROOT / "src" / "ttsd" / "data" / "bench_paragraph.txt"
SHORT_TEXT = "你好，请问有什么可以帮您？"
CUSTOMER_SERVICE = (  # {n}: the repetition, so that no sentence repeats (the server synthesizes a repeat once)
    "您的订单号是DD2026{n:04d}-{a:04d}，预计12月{d}日下午{h}点前送达。",
    "如需帮助，请拨打客服热线400-{a:03d}-{b:04d}，或者发送短信到1{n:04d}。",
    "本月账单金额为{b:,}.{c:02d}元，最后还款日是2026年{m}月{d}日。",
    "您的验证码是{a:03d}{n:03d}，{h}分钟内有效，请勿告诉他人。",
    "会员积分{b:,}分可兑换价值{c}元的优惠券，截止日期为2027-{m:02d}-{d:02d}。",
)
EXTRA_ENV: dict[str, str] = {}  # --env KEY=VALUE: settings applied to every server started here


@contextlib.contextmanager
def server(name: str, **env: str) -> Iterator[str]:
    """Run `ttsd serve` with TTSD_* settings from ``env``; yield its URL once /readyz is 200."""
    with ttsd_server(name, {**EXTRA_ENV, **env}, log_dir=OUT) as (url, _):
        yield url


def wrk(url: str, *, connections: int, threads: int, seconds: int, body: dict[str, object]) -> dict[str, float]:
    script = Path(tempfile.mkdtemp()) / "post.lua"
    payload = json.dumps(body, ensure_ascii=False).replace("\\", "\\\\").replace("'", "\\'")
    script.write_text(
        f"wrk.method = 'POST'\nwrk.body = '{payload}'\nwrk.headers['Content-Type'] = 'application/json'\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), f"{url}/tts"],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|90|99)%\s+([\d.]+\w+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_s": rps, **{f"p{k}_ms": _ms(v) for k, v in lat.items()},
            "non_2xx": float(non2xx.group(1)) if non2xx else 0.0}  # fmt: skip


def _ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    assert m, value
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]


def overhead() -> dict[str, object]:
    """Zero-cost fake voice, sentence cache off: what the HTTP + engine + batcher path costs."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    body = {"text": "欢迎使用中文语音合成服务。"}
    with server("fake", TTSD_VOICE="fake", TTSD_CACHE_BYTES="0", TTSD_MAX_WAIT_MS="0") as url:
        wrk(url, connections=8, threads=1, seconds=3, body=body)  # warm up
        low = wrk(url, connections=1, threads=1, seconds=10, body=body)
        high = wrk(url, connections=64, threads=1, seconds=15, body=body)
    return {"low_load_c1": low, "throughput_c64": high}


def loadtest(
    urls: list[str], *, concurrency: int, seconds: int, texts: Path, stream: bool, tag: str
) -> dict[str, object]:
    out = OUT / f"loadtest-{tag}.json"
    cmd = [sys.executable, "-m", "ttsd", "loadtest", "--concurrency", str(concurrency), "--duration", str(seconds),
           "--texts", str(texts), "--json", str(out), "--png", str(OUT / f"loadtest-{tag}.png")]  # fmt: skip
    for url in urls:
        cmd += ["--url", url]
    if stream:
        cmd.append("--stream")
    printed = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=len(urls) * (seconds + 200))
    print(printed.stdout)
    report: dict[str, object] = json.loads(out.read_text())
    for r in report["reports"]:  # type: ignore[union-attr]
        r.pop("samples", None)
    return report


def batching(seconds: int) -> dict[str, object]:
    """Real voice, 16 clients, texts of 5-120 characters: the same server with and without batching."""
    common = {"TTSD_VOICE": "baker", "TTSD_DEVICE": "cpu", "TTSD_CACHE_BYTES": "0"}
    with server("batched", **common) as batched, server("unbatched", TTSD_MAX_BATCH_SIZE="1", **common) as single:
        return loadtest([batched, single], concurrency=16, seconds=seconds, texts=MIXED_TEXTS, stream=False,
                        tag="batching")  # fmt: skip


def ttfa() -> dict[str, object]:
    """Idle server: time to the first streamed audio byte for a ~300-character text (10 sequential requests)."""
    text = (PARAGRAPH.read_text(encoding="utf-8").strip() * 3)[:300]
    times: list[float] = []
    totals: list[float] = []
    with server("ttfa", TTSD_VOICE="baker", TTSD_DEVICE="cpu", TTSD_CACHE_BYTES="0") as url:
        for _ in range(11):
            first, total, _ = stream_once(url, text, openai=True)
            times.append(first)
            totals.append(total)
    times, totals = times[1:], totals[1:]  # the first request warms code paths
    return {
        "characters": len(text),
        "ttfa_p50_ms": statistics.median(times) * 1000,
        "ttfa_max_ms": max(times) * 1000,
        "total_p50_ms": statistics.median(totals) * 1000,
    }


def long_text(chars: int = 5000) -> str:
    """The benchmark paragraph, then customer-service sentences with order codes, phone numbers, prices and
    dates (different digits in every one), up to ``chars`` characters (ending on a full stop)."""
    parts = [PARAGRAPH.read_text(encoding="utf-8").strip()]
    n = 0
    while sum(map(len, parts)) < chars:
        template = CUSTOMER_SERVICE[n % len(CUSTOMER_SERVICE)]
        a, b = (n * 37) % 1000, 1000 + (n * 7919) % 9000
        parts.append(template.format(n=n, a=a, b=b, c=n % 100, d=1 + n % 28, h=1 + n % 12, m=1 + n % 12))
        n += 1
    return "".join(parts)[: chars - 1] + "。"


BAKER_ONLY = {"TTSD_VOICES": "baker", "TTSD_VOICE": "baker", "TTSD_DEVICE": "cpu", "TTSD_CACHE_BYTES": "0"}


def stream_once(
    url: str, text: str, *, stop_after_first: bool = False, openai: bool = False
) -> tuple[float, float, int]:
    """One streamed request (pcm) to /tts, or /v1/audio/speech with ``openai``: (seconds to the first audio byte,
    total seconds, bytes)."""
    if openai:
        path, body = "/v1/audio/speech", {"input": text, "response_format": "pcm", "stream": True}
    else:
        path, body = "/tts", {"text": text, "format": "pcm", "stream": True}
    started = time.perf_counter()
    first: float | None = None
    size = 0
    with httpx.stream("POST", f"{url}{path}", timeout=300, json=body) as r:
        r.raise_for_status()
        for chunk in r.iter_bytes():
            if chunk and first is None:
                first = time.perf_counter() - started
                if stop_after_first:
                    break
            size += len(chunk)
    assert first is not None, "no audio"
    return first, time.perf_counter() - started, size


def ttfa_long(tries: int) -> dict[str, object]:
    """Baker only, idle server: first streamed audio of a 5,000-character text with digits (read to the end)."""
    text = long_text()
    firsts, totals = [], []
    with server("ttfa-long", **BAKER_ONLY) as url:
        stream_once(url, text[:300])  # warm the streaming path
        for _ in range(tries):
            first, total, size = stream_once(url, text)
            firsts.append(first)
            totals.append(total)
            print(f"first audio {first * 1000:.0f} ms, total {total:.1f} s, {size / 48000:.0f} audio s", flush=True)
    return {
        "characters": len(text),
        "tries": tries,
        "ttfa_ms": [round(t * 1000, 1) for t in firsts],
        "ttfa_p50_ms": statistics.median(firsts) * 1000,
        "ttfa_max_ms": max(firsts) * 1000,
        "total_p50_s": statistics.median(totals),
        "audio_s": size / 48000,
    }


def _short_latencies(url: str, n: int, refused: list[tuple[int, float, str]] | None = None) -> list[float]:
    """``n`` sequential short requests: the latencies of the 200s. Other answers go to ``refused`` as (status,
    seconds, body) and retried after 0.2 s; after 200 of them it gives up and returns what it has."""
    out: list[float] = []
    with httpx.Client(timeout=60) as client:
        while len(out) < n:
            started = time.perf_counter()
            r = client.post(f"{url}/tts", json={"text": SHORT_TEXT, "format": "wav"})
            if r.status_code != 200 and refused is not None:
                refused.append((r.status_code, time.perf_counter() - started, r.text[:300]))
                if len(refused) >= 200:
                    break
                time.sleep(0.2)
                continue
            r.raise_for_status()
            out.append(time.perf_counter() - started)
    return out


def _pick(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _pcts(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": _pick(ordered, 0.5) * 1000, "p95_ms": _pick(ordered, 0.95) * 1000, "max_ms": ordered[-1] * 1000}


def short_under_long(n: int) -> dict[str, object]:
    """Baker only: ``n`` sequential short requests on an idle server, then ``n`` more while one client streams
    (and reads) a 5,000-character text; the long stream must still be running when the last short one ends."""
    import threading

    text = long_text()
    with server("short-under-long", **BAKER_ONLY) as url:
        _short_latencies(url, 5)  # warm up
        idle = _short_latencies(url, n)
        done = threading.Event()
        result: dict[str, float] = {}

        def reader() -> None:
            first, total, _ = stream_once(url, text)
            result.update(first=first, total=total)
            done.set()

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        time.sleep(1.0)  # let the long text's front end start and its first batches queue
        refused: list[tuple[int, float, str]] = []
        busy = _short_latencies(url, n, refused)
        overlapped = not done.is_set()
        thread.join(timeout=300)
    return {
        "short_text": SHORT_TEXT,
        "requests": n,
        "idle": _pcts(idle),
        "during_long_stream": _pcts(busy) if busy else {},
        "during_long_stream_refused": {
            "count": len(refused),
            "statuses": sorted({status for status, _, _ in refused}),
            "latency_ms": _pcts([t for _, t, _ in refused]) if refused else {},
            "first_body": refused[0][2] if refused else "",
        },
        "long_stream_still_running_at_end": overlapped,
        "long_stream_ttfa_ms": result.get("first", float("nan")) * 1000,
        "long_stream_total_s": result.get("total", float("nan")),
    }


def mixed_voices(seconds: int) -> dict[str, object]:
    """Default server (Baker and Kokoro): 16 clients, 8 on Baker and 8 on Kokoro (voice zm_yunjian), mixed
    texts; then the 8 Baker clients alone on the same server for Baker's latency without Kokoro traffic. A client
    that gets an error (503) pauses 0.1 s."""
    import asyncio

    texts = [t for t in MIXED_TEXTS.read_text(encoding="utf-8").splitlines() if t.strip()]
    env = {"TTSD_DEVICE": "cpu", "TTSD_CACHE_BYTES": "0"}
    with server("mixed-voices", **env) as url:
        with httpx.Client(timeout=120) as c:  # warm both voices
            for voice in ("baker", "zm_yunjian"):
                c.post(f"{url}/tts", json={"text": texts[0], "voice": voice}).raise_for_status()
        before = batch_times(url)
        mixed = asyncio.run(_voice_load(url, {"baker": 8, "zm_yunjian": 8}, texts, seconds))
        middle = batch_times(url)
        alone = asyncio.run(_voice_load(url, {"baker": 8}, texts, seconds))
        after = batch_times(url)
    mixed["batches"] = _batch_delta(before, middle)
    alone["batches"] = _batch_delta(middle, after)
    return {"seconds": seconds, "texts": str(MIXED_TEXTS.relative_to(ROOT)), "mixed_16": mixed,
            "baker_8_alone": alone}  # fmt: skip


def batch_times(url: str) -> dict[str, dict[str, float]]:
    """Per voice and stage (``baker/acoustic``...): the ``ttsd_batch_duration_seconds`` histogram's count, sum
    and cumulative buckets."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        if family.name != "ttsd_batch_duration_seconds":
            continue
        for sample in family.samples:
            entry = out.setdefault(f"{sample.labels.get('voice', '?')}/{sample.labels.get('stage', '?')}", {})
            if sample.name.endswith("_bucket"):
                entry[f"le={sample.labels['le']}"] = sample.value
            elif sample.name.endswith(("_count", "_sum")):
                entry[sample.name.rsplit("_", 1)[1]] = sample.value
    return out


def _batch_delta(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Batches run between two snapshots, per voice and stage: how many, mean, and the histogram bucket bound
    that holds 90% of them."""
    out: dict[str, dict[str, float]] = {}
    for key, now in b.items():
        was = a.get(key, {})
        count = now.get("count", 0) - was.get("count", 0)
        if count <= 0:
            continue
        total = now.get("sum", 0) - was.get("sum", 0)
        bounds = sorted((float(k[3:]), v - was.get(k, 0)) for k, v in now.items() if k.startswith("le="))
        p90 = next((bound for bound, n in bounds if n >= 0.9 * count), float("inf"))
        out[key] = {"batches": count, "mean_s": total / count, "p90_bound_s": p90}
    return out


async def _voice_load(url: str, clients: dict[str, int], texts: list[str], seconds: int) -> dict[str, object]:
    import asyncio

    samples: dict[str, list[tuple[int, float, float]]] = {v: [] for v in clients}  # (chars, latency, audio s)
    errors: dict[str, dict[str, int]] = {v: {} for v in clients}
    stop_at = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient, voice: str, k: int) -> None:
        while time.perf_counter() < stop_at:
            text = texts[k % len(texts)]
            k += 1
            started = time.perf_counter()
            try:
                r = await client.post("/tts", json={"text": text, "voice": voice, "format": "pcm"})
            except httpx.HTTPError as err:
                errors[voice][type(err).__name__] = errors[voice].get(type(err).__name__, 0) + 1
                continue
            took = time.perf_counter() - started
            if r.status_code != 200:
                errors[voice][str(r.status_code)] = errors[voice].get(str(r.status_code), 0) + 1
                await asyncio.sleep(0.1)  # a refused client pauses before its next text
                continue
            rate = int(r.headers.get("x-sample-rate", "24000"))
            samples[voice].append((len(text), took, len(r.content) / 2 / rate))

    total = sum(clients.values())
    limits = httpx.Limits(max_connections=total, max_keepalive_connections=total)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await asyncio.wait_for(asyncio.gather(*(worker(client, v, k) for v, n in clients.items() for k in range(n))),
                               timeout=seconds + 130)  # fmt: skip
    elapsed = time.perf_counter() - started
    out: dict[str, object] = {"elapsed_s": elapsed}
    for voice, rows in samples.items():
        short = [lat for chars, lat, _ in rows if chars <= 15]
        out[voice] = {
            "clients": clients[voice],
            "ok": len(rows),
            "requests_per_s": len(rows) / elapsed,
            "audio_seconds_per_s": sum(a for _, _, a in rows) / elapsed,
            "latency": _pcts99([lat for _, lat, _ in rows]),
            "short_latency": _pcts99(short),
            "errors": errors[voice],
        }
    return out


def _pcts99(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {"p50_ms": _pick(ordered, 0.5) * 1000, "p99_ms": _pick(ordered, 0.99) * 1000, "n": len(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=("overhead", "batching", "ttfa", "ttfa-long", "short-under-long",
                                          "mixed-voices", "all"))  # fmt: skip
    parser.add_argument("--tries", type=int, default=5, help="streamed requests for `ttfa-long`")
    parser.add_argument("--short-requests", type=int, default=20, help="short requests per condition")
    parser.add_argument("--seconds", type=int, default=60, help="load duration for `batching`, `mixed-voices`")
    parser.add_argument("--env", action="append", default=[], metavar="TTSD_X=V", help="extra server setting")
    args = parser.parse_args()
    EXTRA_ENV.update(item.split("=", 1) for item in args.env)
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {"machine": f"{os.cpu_count()} CPUs", "date": time.strftime("%Y-%m-%d %H:%M UTC")}
    if args.which in ("overhead", "all"):
        results["overhead"] = overhead()
    if args.which in ("ttfa", "all"):
        results["ttfa"] = ttfa()
    if args.which in ("batching", "all"):
        results["batching"] = batching(args.seconds)
    if args.which in ("ttfa-long", "all"):
        results["ttfa_long"] = ttfa_long(args.tries)
    if args.which in ("short-under-long", "all"):
        results["short_under_long"] = short_under_long(args.short_requests)
    if args.which in ("mixed-voices", "all"):
        results["mixed_voices"] = mixed_voices(args.seconds)
    text = json.dumps(results, indent=1, ensure_ascii=False)
    (OUT / f"{args.which}.json").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
