"""ttsd vs LitServe on the same Baker model, for docs/benchmarks.md. Both servers run on 127.0.0.1, one at a time,
on the same cores; both are loaded by the same client (`ttsd loadtest`, /tts, WAV, bench/texts_mixed.txt), with
the sentence cache of ttsd off. Runs alternate (ttsd, LitServe, ttsd, ...) --pairs times; every load is bounded.

    python bench/litserve_compare.py --pairs 3 --seconds 60 --concurrency 16 --litserve-workers 2
    python bench/litserve_compare.py --pairs 3 --seconds 60 --litserve-workers 1
    python bench/litserve_compare.py --pairs 1 --seconds 20 --env TTSD_WORKERS_PER_DEVICE=0   # ttsd in-process
    python bench/litserve_compare.py serve-litserve --port 8123        # the LitServe server alone

``--litserve-workers N``: LitServe's ``workers_per_device`` (default 2, its best configuration on 2 cores), each
worker with the cores divided among them as torch threads (2 workers x 1 thread on 2 cores), the same split as
ttsd's own worker pool (its defaults: 2 worker processes x 1 thread on 2 cores). ``--env``: ttsd settings.

The LitServe side (litserve 0.2.19): a LitAPI with batching (max_batch_size 16, batch_timeout 0.01 s) around
``ttsd.load_voice("baker", precision="auto")``: each request's text through the front end
(``synth.utterances``), the utterances of the whole batch through ``synth.voice.run_batch`` 16 at a time in
request order, each request's pieces joined with ``Timeline`` as ``Synthesizer.synthesize`` does, returned as
16-bit WAV bytes. ttsd: ``ttsd serve`` with TTSD_VOICES=baker, TTSD_CACHE_BYTES=0, default batching.

Reports per run and as medians: throughput (audio s/s, req/s), p50/p99 latency, short-text (<= 15 chars)
latency, mean batch size (ttsd: /metrics ttsd_batch_size; LitServe: requests per predict call, from its log),
and the ttsd/LitServe ratios. Results go to artifacts/litserve_compare/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import litserve as ls
from fastapi import Response
from servers import free_port, loadtest_report, running

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts" / "litserve_compare"
TEXTS = ROOT / "bench" / "texts_mixed.txt"
BATCH = 16
THREADS_ENV = "BENCH_LITSERVE_THREADS"  # torch threads per LitServe worker (set by serve-litserve for its workers)
TTSD_ENV: dict[str, str] = {}  # --env: extra ttsd settings


class BakerAPI(ls.LitAPI):  # type: ignore[misc]
    """The Baker voice behind LitServe's batching: whole requests in, WAV bytes out."""

    def setup(self, device: str) -> None:
        import ttsd

        threads = int(os.environ.get(THREADS_ENV, "0")) or None
        self.synth = ttsd.load_voice("baker", precision="auto", threads=threads)
        self.synth.synthesize("欢迎使用中文语音合成服务。今天天气很好。")  # warm up
        self.stats = (OUT / "litserve-batches.jsonl").open("a")

    def decode_request(self, request):  # type: ignore[no-untyped-def]  # unannotated: LitServe passes the JSON body
        return str(request["text"])

    def batch(self, inputs: list[str]) -> list[str]:
        return inputs

    def predict(self, texts: list[str]) -> list[bytes]:
        import numpy as np

        from ttsd.controls import Controls
        from ttsd.pipeline.timeline import Timeline
        from ttsd.voices.base import BatchItem, Rendered

        synth = self.synth
        per_request = [synth.utterances(t) for t in texts]
        flat = [u for utts in per_request for u in utts]
        ctl = Controls()
        rendered: list[Rendered] = []
        for start in range(0, len(flat), BATCH):
            chunk = flat[start : start + BATCH]
            out = synth.voice.run_batch([BatchItem(u, ctl) for u in chunk])
            durations = out.durations if out.durations else [None] * len(chunk)
            rendered.extend(Rendered(w, d) for w, d in zip(out.waveforms, durations, strict=True))
        self.stats.write(json.dumps({"requests": len(texts), "items": len(flat)}) + "\n")
        self.stats.flush()
        results: list[bytes] = []
        position = 0
        for utts in per_request:
            timeline = Timeline(sample_rate=synth.sample_rate)
            parts = [timeline.add(u, rendered[position + i]).audio for i, u in enumerate(utts)]
            position += len(utts)
            audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
            results.append(wav_bytes(audio, synth.sample_rate))
        return results

    def unbatch(self, output: list[bytes]) -> list[bytes]:
        return output

    def encode_response(self, output: bytes) -> Response:
        return Response(content=output, media_type="audio/wav", headers={"x-sample-rate": "24000"})


def litserve_main(port: int, workers: int) -> None:
    os.environ[THREADS_ENV] = str(max(1, len(os.sched_getaffinity(0)) // workers))  # inherited by its workers
    api = BakerAPI(max_batch_size=BATCH, batch_timeout=0.01, api_path="/tts")
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=workers, timeout=120)
    server.run(host="127.0.0.1", port=port, num_api_servers=1, generate_client_file=False, log_level="warning")


def wav_bytes(audio: Any, rate: int) -> bytes:
    """16-bit WAV exactly as ttsd encodes it (the same encoder, so both servers pay the same for it)."""
    from ttsd.audio import AudioSpec, encode

    return encode(audio, rate, AudioSpec(format="wav")).data


@contextlib.contextmanager
def run_server(kind: str, tag: str, litserve_workers: int = 2) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if kind == "ttsd":
        env = {"TTSD_HOST": "127.0.0.1", "TTSD_PORT": str(port), "TTSD_LOG_LEVEL": "warning", "TTSD_VOICES": "baker",
               "TTSD_VOICE": "baker", "TTSD_DEVICE": "cpu", "TTSD_CACHE_BYTES": "0", **TTSD_ENV}  # fmt: skip
        cmd, ready = [sys.executable, "-m", "ttsd", "serve"], "/readyz"
    else:
        env = {}
        cmd = [sys.executable, __file__, "serve-litserve", "--port", str(port), "--litserve-workers",
               str(litserve_workers)]  # fmt: skip
        ready = "/health"
    # LitServe runs its API server and inference worker as child processes: stop the whole group.
    with running(cmd, env=env, log=OUT / f"server-{tag}.log", ready_url=url + ready, timeout_s=240, group=True):
        with httpx.Client(timeout=60) as c:  # the same warm-up request for both
            c.post(f"{url}/tts", json={"text": "欢迎使用中文语音合成服务。", "format": "wav"}).raise_for_status()
        yield url


def loadtest(url: str, tag: str, concurrency: int, seconds: int) -> dict[str, Any]:
    out = OUT / f"loadtest-{tag}.json"
    return loadtest_report(url, clients=concurrency, seconds=seconds, texts=TEXTS, out=out, echo=True)


def litserve_batch_sizes(since_line: int) -> tuple[float | None, int]:
    path = OUT / "litserve-batches.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    rows = [json.loads(line) for line in lines[since_line:]]
    mean = statistics.mean(r["requests"] for r in rows) if rows else None
    return mean, len(lines)


def summary(report: dict[str, Any], mean_batch: float | None) -> dict[str, Any]:
    return {
        "audio_s_per_s": report["audio_seconds_per_s"],
        "req_per_s": report["requests_per_s"],
        "p50_ms": report["latency_s"].get("p50", 0) * 1000,
        "p99_ms": report["latency_s"].get("p99", 0) * 1000,
        "short_p50_ms": report["short_latency_s"].get("p50", 0) * 1000,
        "short_p99_ms": report["short_latency_s"].get("p99", 0) * 1000,
        "errors": report["errors"],
        "mean_batch": mean_batch,
        "uptime": os.getloadavg(),
    }


def compare(args: argparse.Namespace) -> int:
    runs: dict[str, list[dict[str, Any]]] = {"ttsd": [], "litserve": []}
    seen = 0
    for pair in range(args.pairs):
        for kind in ("ttsd", "litserve"):
            tag = f"{kind}-{pair + 1}"
            print(f"== {tag} {time.strftime('%H:%M:%S', time.gmtime())} UTC, load {os.getloadavg()}", flush=True)
            with run_server(kind, tag, args.litserve_workers) as url:
                _, seen = litserve_batch_sizes(0)
                report = loadtest(url, tag, args.concurrency, args.seconds)
                mean = report["mean_batch_size"] if kind == "ttsd" else litserve_batch_sizes(seen)[0]
            runs[kind].append(summary(report, mean))
    med = {k: {f: statistics.median(r[f] for r in rs if r[f] is not None) for f in
               ("audio_s_per_s", "req_per_s", "p50_ms", "p99_ms", "short_p50_ms", "short_p99_ms")}
           for k, rs in runs.items()}  # fmt: skip
    ratios = {f: med["ttsd"][f] / med["litserve"][f] for f in med["ttsd"] if med["litserve"][f]}
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{os.cpu_count()} CPUs",
              "concurrency": args.concurrency, "seconds": args.seconds, "litserve_workers": args.litserve_workers,
              "ttsd_env": TTSD_ENV, "runs": runs, "medians": med,
              "ttsd_over_litserve": ratios}  # fmt: skip
    text = json.dumps(result, indent=1)
    (OUT / "result.json").write_text(text)
    print(text)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="compare", choices=("compare", "serve-litserve"))
    parser.add_argument("--port", type=int, default=8123, help="serve-litserve: port on 127.0.0.1")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--litserve-workers", type=int, default=2, help="LitServe workers_per_device")
    parser.add_argument("--env", action="append", default=[], metavar="TTSD_X=V", help="extra ttsd setting")
    args = parser.parse_args()
    TTSD_ENV.update(item.split("=", 1) for item in args.env)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.mode == "serve-litserve":
        litserve_main(args.port, args.litserve_workers)
        return 0
    return compare(args)


if __name__ == "__main__":
    raise SystemExit(main())
