"""Service benchmarks for docs/benchmarks.md: overhead on the fake voice, batching on the real voice, and
time to first audio. Every server is started here on 127.0.0.1 and stopped at the end; every load is bounded.

    python bench/service_bench.py overhead   # zero-cost fake voice: req/s (wrk) and p50 at low load
    python bench/service_bench.py batching   # real voice, 16 clients, mixed texts: batched vs max_batch_size=1
    python bench/service_bench.py ttfa       # real voice, idle server: first streamed audio of a 300-char text
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
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts" / "service_bench"
MIXED_TEXTS = ROOT / "bench" / "texts_mixed.txt"
PARAGRAPH = ROOT / "src" / "ttsd" / "data" / "bench_paragraph.txt"
EXTRA_ENV: dict[str, str] = {}  # --env KEY=VALUE: settings applied to every server started here


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(name: str, **env: str) -> Iterator[str]:
    """Run `ttsd serve` with TTSD_* settings from ``env``; yield its URL once /readyz is 200."""
    port = free_port()
    settings = {"TTSD_HOST": "127.0.0.1", "TTSD_PORT": str(port), "TTSD_LOG_LEVEL": "warning", **EXTRA_ENV, **env}
    log = (OUT / f"server-{name}.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "ttsd", "serve"], env={**os.environ, **settings},
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server {name} exited; see {log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"server {name} not ready in 180 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
    times, totals = [], []
    with server("ttfa", TTSD_VOICE="baker", TTSD_DEVICE="cpu", TTSD_CACHE_BYTES="0") as url:
        for _ in range(11):
            started = time.perf_counter()
            first = None
            with httpx.stream("POST", f"{url}/v1/audio/speech", timeout=60,
                              json={"input": text, "response_format": "pcm", "stream": True}) as r:  # fmt: skip
                r.raise_for_status()
                for chunk in r.iter_bytes():
                    if chunk and first is None:
                        first = time.perf_counter() - started
            totals.append(time.perf_counter() - started)
            times.append(first)
    times, totals = times[1:], totals[1:]  # the first request warms code paths
    return {
        "characters": len(text),
        "ttfa_p50_ms": statistics.median(times) * 1000,  # type: ignore[type-var]
        "ttfa_max_ms": max(times) * 1000,
        "total_p50_ms": statistics.median(totals) * 1000,
    }  # type: ignore[type-var]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=("overhead", "batching", "ttfa", "all"))
    parser.add_argument("--seconds", type=int, default=60, help="load duration per server for `batching`")
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
    text = json.dumps(results, indent=1, ensure_ascii=False)
    (OUT / f"{args.which}.json").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
