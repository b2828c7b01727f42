"""Load-test a running ttsd (loopback only): throughput, latency percentiles, time to first audio, errors, and
the server's batch-size histogram (scraped from /metrics before and after). Several --url compare servers.

Run the server with ``TTSD_CACHE_BYTES=0`` to measure the model rather than the sentence cache (the report
shows the cache hit ratio and warns when it is high).

Example: ttsd loadtest --url http://127.0.0.1:8080 --concurrency 16 --duration 30 --json o.json --png o.png
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

BUILTIN_TEXTS = (
    "欢迎使用中文语音合成服务。",
    "今天天气很好，我们一起去公园散步吧！",
    "请在听到提示音后留言。",
    "北京是中华人民共和国的首都，也是全国的政治和文化中心。",
    "这家餐厅的菜很好吃，价格也不贵，周末的时候经常需要排队。",
    "您的快递已经到达小区门口的快递柜，取件码是三八五六。",
    "随着人工智能技术的发展，语音合成的质量越来越接近真人，被广泛用于导航、客服和有声读物。",
    "好的。",
)
WAV_HEADER_BYTES = 44
SHORT_CHARS = 15  # "short sentence" for the short-text latency figure


@dataclass
class Sample:
    """One request's outcome."""

    status: str  # HTTP status, or the transport error's class name
    latency_s: float
    ttfa_s: float | None = None
    audio_s: float = 0.0
    chars: int = 0


@dataclass
class Report:
    url: str
    concurrency: int
    duration_s: float
    requests: int
    ok: int
    requests_per_s: float
    audio_seconds_per_s: float
    latency_s: dict[str, float]
    short_latency_s: dict[str, float]  # texts of at most SHORT_CHARS characters
    ttfa_s: dict[str, float]
    errors: dict[str, int]
    batch_size_histogram: dict[str, float]
    mean_batch_size: float | None
    cache_hit_ratio: float | None
    samples: list[dict[str, Any]] = field(default_factory=list, repr=False)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", action="append", required=True, help="Server base URL (repeat to compare).")
    parser.add_argument("--concurrency", type=int, default=8, help="Concurrent clients (default 8).")
    parser.add_argument("--duration", type=float, default=20.0, help="Seconds of load per URL (default 20).")
    parser.add_argument("--max-requests", type=int, default=100_000, help="Stop after this many requests.")
    parser.add_argument("--texts", default="builtin", help="'builtin' or a UTF-8 file with one text per line.")
    parser.add_argument("--stream", action="store_true", help="Use stream=true (time to first audio).")
    parser.add_argument("--format", choices=("wav", "pcm"), default="wav", help="Audio format requested.")
    parser.add_argument("--endpoint", choices=("tts", "openai"), default="tts", help="/tts or /v1/audio/speech.")
    parser.add_argument("--timeout", type=float, default=60.0, help="Per-request timeout in seconds.")
    parser.add_argument("--api-key", default=None, help="Bearer key if the server requires one.")
    parser.add_argument("--json", type=Path, default=None, help="Write the report as JSON here.")
    parser.add_argument("--png", type=Path, default=None, help="Write a chart here (needs matplotlib).")


def run(args: argparse.Namespace) -> int:
    try:
        for url in args.url:
            check_loopback(url)
        texts = load_texts(args.texts)
    except ValueError as err:
        print(f"ttsd loadtest: {err}", file=sys.stderr)
        return 2
    reports = [asyncio.run(load_one(url, texts, args)) for url in args.url]
    for report in reports:
        print(format_report(report))
    if args.json is not None:
        payload = {"reports": [asdict(r) for r in reports], "stream": args.stream, "format": args.format}
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
        print(f"wrote {args.json}")
    if args.png is not None:
        write_chart(reports, args.png)
        print(f"wrote {args.png}")
    return 0 if all(r.ok > 0 for r in reports) else 1


def check_loopback(url: str) -> None:
    """Refuse anything that does not resolve to a loopback address: this tool generates real load."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP)
    except socket.gaierror as err:
        raise ValueError(f"cannot resolve {parts.hostname!r}: {err}") from None
    addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    if not addresses or not all(a.is_loopback for a in addresses):
        raise ValueError(f"{url!r} is not a loopback address; loadtest only targets this machine")


def load_texts(spec: str) -> list[str]:
    if spec == "builtin":
        return list(BUILTIN_TEXTS)
    lines = [line.strip() for line in Path(spec).read_text(encoding="utf-8").splitlines()]
    texts = [line for line in lines if line]
    if not texts:
        raise ValueError(f"{spec} holds no texts")
    return texts


async def load_one(url: str, texts: list[str], args: argparse.Namespace) -> Report:
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    timeout = httpx.Timeout(args.timeout)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=timeout) as client:
        before = await scrape_server(client)
        samples: list[Sample] = []
        budget = iter(range(args.max_requests))
        started = time.perf_counter()
        stop_at = started + args.duration
        workers = [
            asyncio.create_task(worker(client, texts, k, args, stop_at, budget, samples))
            for k in range(args.concurrency)
        ]
        # Hard bound: the duration plus one request timeout, whatever the server does.
        _, pending = await asyncio.wait(workers, timeout=args.duration + args.timeout + 5)
        for task in pending:
            task.cancel()
        elapsed = time.perf_counter() - started
        after = await scrape_server(client)
    return summarize(url, args.concurrency, elapsed, samples, before, after)


async def worker(
    client: httpx.AsyncClient,
    texts: list[str],
    offset: int,
    args: argparse.Namespace,
    stop_at: float,
    budget: Any,
    samples: list[Sample],
) -> None:
    k = offset
    while time.perf_counter() < stop_at and next(budget, None) is not None:
        text = texts[k % len(texts)]
        sample = await one_request(client, text, args)
        sample.chars = len(text)
        samples.append(sample)
        k += 1


async def one_request(client: httpx.AsyncClient, text: str, args: argparse.Namespace) -> Sample:
    if args.endpoint == "openai":
        path, body = "/v1/audio/speech", {"input": text, "response_format": args.format, "model": "tts-1"}
    else:
        path, body = "/tts", {"text": text, "format": args.format}
    body["stream"] = args.stream
    started = time.perf_counter()
    ttfa = None
    size = 0
    try:
        async with client.stream("POST", path, json=body) as response:
            async for chunk in response.aiter_bytes():
                if chunk and ttfa is None:
                    ttfa = time.perf_counter() - started
                size += len(chunk)
            latency = time.perf_counter() - started
            if response.status_code != 200:
                return Sample(status=str(response.status_code), latency_s=latency)
            rate = int(response.headers.get("x-sample-rate", "24000"))
    except httpx.HTTPError as err:
        return Sample(status=type(err).__name__, latency_s=time.perf_counter() - started)
    pcm_bytes = size - (WAV_HEADER_BYTES if args.format == "wav" else 0)
    return Sample(status="200", latency_s=latency, ttfa_s=ttfa, audio_s=max(0, pcm_bytes) / 2 / rate)


async def scrape_server(client: httpx.AsyncClient) -> dict[str, float]:
    """From the server's /metrics ({} if unavailable): cumulative ``ttsd_batch_size`` buckets by ``le`` plus
    ``sum`` and ``count`` (summed over the voice families), and the sentence cache's ``cache_hit`` /
    ``cache_miss`` counters."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        response = await client.get("/metrics")
    except httpx.HTTPError:
        return {}
    if response.status_code != 200:
        return {}
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        if family.name == "ttsd_cache_requests":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    out[f"cache_{sample.labels['result']}"] = sample.value
        if family.name != "ttsd_batch_size":
            continue
        for sample in family.samples:  # summed over the voice families
            if sample.name.endswith("_bucket"):
                out[sample.labels["le"]] = out.get(sample.labels["le"], 0.0) + sample.value
            elif sample.name.endswith(("_sum", "_count")):
                key = sample.name.rsplit("_", 1)[1]
                out[key] = out.get(key, 0.0) + sample.value
    return out


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": ordered[-1]}


def batch_histogram(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Batches per size bucket during the run (non-cumulative), from cumulative bucket counts."""
    edges = sorted((k for k in after if k[0].isdigit() or k == "+Inf"), key=float)
    hist: dict[str, float] = {}
    previous = 0.0
    for edge in edges:
        cumulative = after[edge] - before.get(edge, 0.0)
        hist[edge] = cumulative - previous
        previous = cumulative
    return hist


def summarize(
    url: str, concurrency: int, elapsed: float, samples: list[Sample], before: dict[str, float],
    after: dict[str, float],
) -> Report:  # fmt: skip
    ok = [s for s in samples if s.status == "200"]
    batches = after.get("count", 0.0) - before.get("count", 0.0)
    items = after.get("sum", 0.0) - before.get("sum", 0.0)
    return Report(
        url=url,
        concurrency=concurrency,
        duration_s=elapsed,
        requests=len(samples),
        ok=len(ok),
        requests_per_s=len(ok) / elapsed if elapsed > 0 else 0.0,
        audio_seconds_per_s=sum(s.audio_s for s in ok) / elapsed if elapsed > 0 else 0.0,
        latency_s=percentiles([s.latency_s for s in ok]),
        short_latency_s=percentiles([s.latency_s for s in ok if s.chars <= SHORT_CHARS]),
        ttfa_s=percentiles([s.ttfa_s for s in ok if s.ttfa_s is not None]),
        errors=dict(Counter(s.status for s in samples if s.status != "200")),
        batch_size_histogram=batch_histogram(before, after),
        mean_batch_size=items / batches if batches > 0 else None,
        cache_hit_ratio=_delta_ratio(before, after),
        samples=[asdict(s) for s in samples],
    )


def _delta_ratio(before: dict[str, float], after: dict[str, float]) -> float | None:
    hits = after.get("cache_hit", 0.0) - before.get("cache_hit", 0.0)
    misses = after.get("cache_miss", 0.0) - before.get("cache_miss", 0.0)
    return hits / (hits + misses) if hits + misses > 0 else None


def format_report(r: Report) -> str:
    def ms(d: dict[str, float]) -> str:
        return "  ".join(f"{k} {v * 1000:.0f} ms" for k, v in d.items()) or "-"

    hist = "  ".join(f"<={k}: {v:.0f}" for k, v in r.batch_size_histogram.items() if v) or "-"
    mean = f"{r.mean_batch_size:.2f}" if r.mean_batch_size is not None else "-"
    return "\n".join(
        (
            f"== {r.url}  concurrency {r.concurrency}, {r.duration_s:.1f} s",
            f"requests      {r.requests} ({r.ok} ok)  {r.requests_per_s:.2f} req/s",
            f"audio         {r.audio_seconds_per_s:.2f} audio s per s",
            f"latency       {ms(r.latency_s)}",
            f"short texts   {ms(r.short_latency_s)}  (<= {SHORT_CHARS} characters)",
            f"first audio   {ms(r.ttfa_s)}",
            f"errors        {r.errors or '-'}",
            f"batch sizes   {hist}  (mean {mean})",
            *_cache_warning(r),
        )
    )


def _cache_warning(r: Report) -> tuple[str, ...]:
    if r.cache_hit_ratio is None or r.cache_hit_ratio < 0.2:
        return ()
    return (
        f"WARNING       {r.cache_hit_ratio:.0%} of sentences came from the server's cache; for model "
        "throughput run the server with TTSD_CACHE_BYTES=0",
    )


def write_chart(reports: list[Report], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    names = [f"{k + 1}: {urlsplit(r.url).netloc}" for k, r in enumerate(reports)]
    width = 0.8 / len(reports)
    # Show size buckets up to the largest one any server used (the rest are empty).
    used = [i for r in reports for i, v in enumerate(r.batch_size_histogram.values()) if v > 0]
    shown = max(used, default=0) + 1
    for k, r in enumerate(reports):
        for ax, data in ((axes[0][0], r.latency_s), (axes[0][1], r.ttfa_s)):
            keys = ["p50", "p95", "p99"]
            xs = [i + k * width for i in range(len(keys))]
            ax.bar(xs, [data.get(q, 0.0) * 1000 for q in keys], width, label=names[k])
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))], keys)
        counts = list(r.batch_size_histogram.values())[:shown]
        xs = [i + k * width for i in range(len(counts))]
        axes[1][1].bar(xs, counts, width, label=names[k])
    edges = list(reports[0].batch_size_histogram)[:shown]
    labels = [e if e == "+Inf" else f"≤{float(e):g}" for e in edges]
    axes[1][1].set_xticks([i + 0.4 - width / 2 for i in range(len(edges))], labels)
    axes[1][0].bar(names, [r.requests_per_s for r in reports], label="requests/s")
    axes[1][0].plot(names, [r.audio_seconds_per_s for r in reports], "o-", color="black", label="audio s/s")
    titles = ("Latency (ms)", "Time to first audio (ms)", "Throughput", "Server batch sizes (batches)")
    for ax, title in zip((axes[0][0], axes[0][1], axes[1][0], axes[1][1]), titles, strict=True):
        ax.set_title(title)
        ax.legend(fontsize="small")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"ttsd loadtest: concurrency {reports[0].concurrency}, {reports[0].duration_s:.0f} s per URL")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
