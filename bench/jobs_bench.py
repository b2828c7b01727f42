"""Long-form jobs, measured (docs/benchmarks.md, "Long-form jobs").

    python bench/jobs_bench.py resume [--chars 100000]   # fake voice: end to end, kill -9 at ~40 %, restart
    python bench/jobs_bench.py baker [--chars 3000] [--parallel 8]   # Baker, CPU: job vs stream; p50 idle vs job
    python bench/jobs_bench.py replicas [--chars 20000]  # two fake-voice replicas on one redis-server

``resume`` runs ``tests/service/serve_jobs_fake.py`` (``ttsd serve`` over a fake voice that logs every sentence it
synthesizes, with a simulated model time per batch): an uninterrupted job, then the same job killed with SIGKILL at
about 40 % and restarted on the same jobs directory. It prints the wall times, the sentences synthesized twice and
whether the two files are identical. ``baker`` runs ``ttsd serve`` with the Baker voice: the job's wall time
against the same text through one streamed request, and the p50 of short requests while idle and while a job runs,
next to the mean model time of one batch. ``replicas`` starts a redis-server and two replicas sharing it (and one
jobs directory), submits a job to the first, kills whichever replica runs it at about 40 % and times how long the
other takes to take it over and finish; the file is compared with a single replica's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from servers import free_port, running, ttsd_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.redis_helpers (the replicas measurement starts its own redis-server)
SENTENCES = (
    "清晨的阳光洒在老街的青石板上，卖豆浆的小摊已经排起了长队。",
    "他把那封信读了三遍，才慢慢地放回抽屉里。",
    "火车穿过隧道的时候，车厢里忽然安静了下来。",
    "我们约好下个月在西湖边的茶馆见面，谁也不许迟到。",
    "外婆说，做红烧肉的秘诀就是耐心，小火慢炖两个小时。",
    "图书馆三楼靠窗的位置，是整栋楼里最安静的角落。",
    "雨停之后，街道两旁的梧桐树叶闪着亮晶晶的光。",
    "她第一次站在舞台中央，心跳快得几乎听得见。",
    "这条河每年春天都会涨水，村里的老人都记得那一年的洪水。",
    "晚饭后，一家人坐在院子里，听爷爷讲他年轻时候的故事。",
)
SHORT = "您好，请问有什么可以帮您？"


def book(chars: int) -> str:
    """About ``chars`` characters of distinct sentences, in chapters of 40 sentences (our own text)."""
    parts: list[str] = []
    total = n = 0
    while total < chars:
        if n % 40 == 0:
            heading = f"\n\n第{n // 40 + 1}章\n"
            parts.append(heading)
            total += len(heading)
        sentence = f"第{n + 1}段，" + SENTENCES[n % len(SENTENCES)]
        parts.append(sentence)
        total += len(sentence)
        n += 1
    return "".join(parts).strip()


@contextlib.contextmanager
def fake_server(
    jobs_dir: Path, log: Path, out: Path, delay_ms: float, store: str = "sqlite"
) -> Iterator[tuple[str, object]]:
    port = free_port()
    env = {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "TTSD_VOICE": "fake", "TTSD_WARMUP": "false",
        "TTSD_HOST": "127.0.0.1", "TTSD_PORT": str(port), "TTSD_JOBS_DIR": str(jobs_dir), "TTSD_JOBS_LEASE_S": "2",
        "TTSD_LOG_LEVEL": "warning", "TTSD_CACHE_BYTES": "0", "TTSD_JOBS_STORE": store,
    }  # fmt: skip
    cmd = [sys.executable, str(ROOT / "tests/service/serve_jobs_fake.py"), str(log), f"delay_ms_per_batch={delay_ms}"]
    url = f"http://127.0.0.1:{port}"
    with running(cmd, env=env, log=out, ready_url=f"{url}/readyz", timeout_s=120) as proc:
        yield url, proc


def submit(url: str, text: str, fmt: str = "wav") -> str:
    answer = httpx.post(f"{url}/v1/jobs", json={"input": text, "response_format": fmt}, timeout=120)
    answer.raise_for_status()
    return str(answer.json()["id"])


def wait(url: str, job_id: str, *, progress: float = 1.0, status: str = "succeeded") -> dict[str, object]:
    while True:
        body = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=30).json()
        if body["status"] == status and float(body["progress"]) >= progress:
            return dict(body)
        if body["status"] in ("failed", "cancelled"):
            raise RuntimeError(f"job ended: {body}")
        time.sleep(0.02)


def resume(chars: int, delay_ms: float) -> dict[str, object]:
    text = book(chars)
    with tempfile.TemporaryDirectory(prefix="ttsd-jobs-bench-") as tmp:
        base = Path(tmp)
        with fake_server(base / "ref", base / "ref.log", base / "ref.out", delay_ms) as (url, _):
            started = time.monotonic()
            job = submit(url, text)
            ref = wait(url, job)
            ref_s = time.monotonic() - started
            reference = httpx.get(f"{url}/v1/jobs/{job}/audio", timeout=120).content
        jobs_dir, first, second = base / "jobs", base / "first.log", base / "second.log"
        started = time.monotonic()
        with fake_server(jobs_dir, first, base / "a.out", delay_ms) as (url, proc):
            job = submit(url, text)
            at_kill = wait(url, job, progress=0.4, status="running")
            proc.send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
            proc.wait()  # type: ignore[attr-defined]
        killed_at = time.monotonic()
        with fake_server(jobs_dir, second, base / "b.out", delay_ms) as (url, _):
            up_at = time.monotonic()
            done = wait(url, job)
            audio = httpx.get(f"{url}/v1/jobs/{job}/audio", timeout=120).content
        finished = time.monotonic()
        once, twice = first.read_text().splitlines(), second.read_text().splitlines()
        redone = len(set(once) & set(twice))
    return {
        "characters": ref["characters"],
        "sentences": ref["sentences"],
        "audio_s": ref["audio_seconds"],
        "uninterrupted_wall_s": round(ref_s, 1),
        "killed_at_progress": at_kill["progress"],
        "interrupted_wall_s_incl_restart": round(finished - started, 1),
        "restart_to_ready_s": round(up_at - killed_at, 1),
        "sentences_synthesized": len(once) + len(twice),
        "sentences_synthesized_twice": redone,
        "identical_file": audio == reference,
        "file_bytes": len(audio),
        "output_sentences_done": done["sentences_done"],
    }


def replicas(chars: int, delay_ms: float) -> dict[str, object]:
    from tests.redis_helpers import redis_server

    text = book(chars)
    with tempfile.TemporaryDirectory(prefix="ttsd-jobs-bench-") as tmp, redis_server() as store:
        base = Path(tmp)
        with fake_server(base / "ref", base / "ref.log", base / "ref.out", delay_ms) as (url, _):
            job = submit(url, text)
            wait(url, job)
            reference = httpx.get(f"{url}/v1/jobs/{job}/audio", timeout=120).content
        shared, logs = base / "shared", (base / "a.log", base / "b.log")
        with (
            fake_server(shared, logs[0], base / "a.out", delay_ms, store) as (url_a, proc_a),
            fake_server(shared, logs[1], base / "b.out", delay_ms, store) as (url_b, proc_b),
        ):
            job = submit(url_a, text)
            running = wait(url_b, job, progress=0.4, status="running")
            on_a = str(running["worker"]).split(":")[1] == url_a.rsplit(":", 1)[1]
            dying, survivor = (proc_a, url_b) if on_a else (proc_b, url_a)
            dying.send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
            dying.wait()  # type: ignore[attr-defined]
            killed = time.monotonic()
            while httpx.get(f"{survivor}/v1/jobs/{job}", timeout=30).json()["worker"] in (running["worker"], None):
                time.sleep(0.02)  # the dead replica's lease has not lapsed yet
            taken_over = time.monotonic()
            done = wait(survivor, job)
            finished = time.monotonic()
            audio = httpx.get(f"{survivor}/v1/jobs/{job}/audio", timeout=120).content
        by_a, by_b = (log.read_text().splitlines() for log in logs)
    return {
        "characters": done["characters"],
        "sentences": done["sentences"],
        "killed_at_progress": running["progress"],
        "lease_s": 2,
        "takeover_after_kill_s": round(taken_over - killed, 2),
        "finish_after_kill_s": round(finished - killed, 1),
        "sentences_synthesized": len(by_a) + len(by_b),
        "sentences_synthesized_twice": len(set(by_a) & set(by_b)),
        "identical_file": audio == reference,
    }


def _short_p50(url: str, n: int) -> float:
    times = []
    for k in range(n):
        started = time.perf_counter()
        httpx.post(f"{url}/tts", json={"text": f"{SHORT[:-1]}{k}号。"}, timeout=60).raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _batch_p50_s(url: str) -> float:
    """The median model time per batch so far, from the batch-duration histogram (both stages)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith("ttsd_batch_duration_seconds_sum{") and 'voice="baker"' in line:
            total += float(line.rsplit(" ", 1)[1])
        if line.startswith("ttsd_batch_duration_seconds_count{") and 'stage="acoustic"' in line:
            count += float(line.rsplit(" ", 1)[1])
    return total / count if count else 0.0


def baker(chars: int, shorts: int, parallel: int) -> dict[str, object]:
    text = book(chars)
    with tempfile.TemporaryDirectory(prefix="ttsd-jobs-bench-") as tmp:
        settings = {
            "TTSD_VOICES": "baker", "TTSD_JOBS_DIR": tmp, "TTSD_CACHE_BYTES": "0", "TTSD_MAX_TEXT_CHARS": "100000",
            "TTSD_JOBS_PARALLEL": str(parallel),
        }  # fmt: skip
        with ttsd_server("jobs-baker", settings, log_dir=Path(tmp)) as (url, _):
            idle = _short_p50(url, shorts)
            started = time.perf_counter()
            body = {"text": text, "stream": True, "format": "wav"}
            with httpx.stream("POST", f"{url}/tts", json=body, timeout=3600) as answer:
                for _ in answer.iter_bytes():
                    pass
            stream_s = time.perf_counter() - started
            started = time.perf_counter()
            wait(url, submit(url, text))
            job_s = time.perf_counter() - started
            job = submit(url, text + "。")  # a second job, for the short requests to run beside
            wait(url, job, progress=0.02, status="running")
            busy = _short_p50(url, shorts)
            status = httpx.get(f"{url}/v1/jobs/{job}").json()
            batch = _batch_p50_s(url)
            httpx.delete(f"{url}/v1/jobs/{job}")
    return {
        "characters": len(text),
        "jobs_parallel": parallel,
        "stream_wall_s": round(stream_s, 1),
        "job_wall_s": round(job_s, 1),
        "short_p50_idle_ms": round(idle * 1000),
        "short_p50_with_job_ms": round(busy * 1000),
        "mean_batch_model_ms": round(batch * 1000),
        "job_still_running_after_shorts": status["status"] == "running",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("resume")
    r.add_argument("--chars", type=int, default=100_000)
    r.add_argument("--delay-ms", type=float, default=20.0, help="simulated model time per batch")
    b = sub.add_parser("baker")
    b.add_argument("--chars", type=int, default=3000)
    b.add_argument("--shorts", type=int, default=15)
    b.add_argument("--parallel", type=int, default=8, help="TTSD_JOBS_PARALLEL")
    two = sub.add_parser("replicas")
    two.add_argument("--chars", type=int, default=20_000)
    two.add_argument("--delay-ms", type=float, default=20.0, help="simulated model time per batch")
    args = parser.parse_args()
    if args.what == "resume":
        result = resume(args.chars, args.delay_ms)
    elif args.what == "replicas":
        result = replicas(args.chars, args.delay_ms)
    else:
        result = baker(args.chars, args.shorts, args.parallel)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
