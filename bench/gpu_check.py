"""The GPU check's stages, run one after another inside a time budget (``bench/gpu_check.sh`` wraps this):

* ``tests``: ``pytest -m "gpu or integration"`` over tests/unit and the parity tests, ``--torch-device DEVICE``.
* ``bench``: ``bench/gpu_bench.py`` per voice (precisions x batch sizes), one process per voice.
* ``load``: per voice, a ``ttsd serve`` (cache off, ``TTSD_DEVICE``) under ``ttsd loadtest --stream`` at each
  client count, then a ``max_batch_size=1`` server at the ``--unbatched-clients`` counts.

Every stage is bounded: a stage (or a load run) that would not fit in what is left of ``--budget-s`` is
recorded as skipped with that reason, and load durations shrink to fit. Logs and JSON go to ``--work``;
``results.json`` there holds every figure, and the summary table (``bench/gpu_summary.py``) is printed last.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_summary import format_summary

ROOT = Path(__file__).resolve().parents[1]
TEST_PATHS = (
    "tests/unit",
    "tests/integration/test_baker_parity.py",
    "tests/integration/test_mbmelgan_parity.py",
    "tests/integration/test_gpu_precision.py",
)
UNLOADABLE = ("UnknownVoice", "BackendUnavailable")  # gpu_bench skip reasons that rule the voice out
SERVER_START_S = 40.0  # what a load run reserves for the server's start (load + warm-up)


class Budget:
    """Seconds left of the whole check."""

    def __init__(self, *, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self._deadline - time.monotonic()


def say(message: str) -> None:
    print(f"== {time.strftime('%H:%M:%S')} {message}", flush=True)


def run_logged(cmd: list[str], *, log: Path, timeout: float, env: dict[str, str] | None = None) -> int:
    """Run ``cmd`` with stdout+stderr appended to ``log``. Past ``timeout`` it gets SIGINT (pytest then still
    writes its report), then SIGKILL 15 s later; a timed-out run returns 124."""
    with log.open("a", encoding="utf-8") as sink:
        sink.write(f"$ {' '.join(cmd)}\n")
        sink.flush()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            return proc.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        sink.write(f"\ntimed out after {timeout:.0f} s\n")
    return 124


def junit_counts(path: Path) -> dict[str, Any]:
    """passed / failed / errors / skipped_tests counts and the failing test ids, from pytest's ``--junitxml``."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {k: sum(int(s.get(k, "0")) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    passed = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
    failing = [
        f"{case.get('classname', '')}::{case.get('name', '')}"
        for case in root.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    return {
        "passed": passed,
        "failed": total["failures"],
        "errors": total["errors"],
        "skipped_tests": total["skipped"],
        "failing": failing,
    }


def stage_tests(args: argparse.Namespace, budget: Budget) -> dict[str, Any]:
    if budget.left() < 60:
        return {"skipped": "time budget"}
    xml = args.work / "pytest.xml"
    say(f"tests on {args.device} (pytest.log)")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "gpu or integration",
        *args.tests,
        "--torch-device",
        args.device,
        "-p",
        "no:cacheprovider",
        "-q",
        "-rfE",
        "--continue-on-collection-errors",
        f"--junitxml={xml}",
    ]
    rc = run_logged(cmd, log=args.work / "pytest.log", timeout=min(args.tests_timeout_s, budget.left() - 30))
    if not xml.is_file():
        return {"skipped": f"pytest wrote no report (exit {rc}); see pytest.log", "rc": rc}
    counts = junit_counts(xml)
    if rc == 124:
        counts["failing"] = [*counts["failing"], f"(interrupted after {args.tests_timeout_s:.0f} s)"]
        counts["errors"] += 1
    return {"rc": rc, **counts}


def stage_bench(args: argparse.Namespace, voice: str, budget: Budget) -> dict[str, Any]:
    if budget.left() < 45:
        return {"skipped": "time budget"}
    out = args.work / f"bench-{voice}.json"
    say(f"bench {voice}: {' '.join(args.precisions)} at batch {' '.join(map(str, args.batch_sizes))}")
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "gpu_bench.py"),
        "--voice",
        voice,
        "--device",
        args.device,
        "--batch-sizes",
        *map(str, args.batch_sizes),
        "--repeats",
        str(args.repeats),
        "--json",
        str(out),
    ]
    for precision in args.precisions:
        cmd += ["--precision", precision]
    synthetic = voice == "kokoro" and not kokoro_installed()
    if synthetic:  # the 92 MB model cannot be carried: time the port on random weights (gpu_bench.py's doc)
        cmd.append("--synthetic-weights")
    timeout = min(args.bench_timeout_s, budget.left() - 15)
    rc = run_logged(cmd, log=args.work / f"bench-{voice}.log", timeout=timeout)
    if not out.is_file():
        return {"skipped": f"gpu_bench.py exit {rc}; see bench-{voice}.log"}
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))  # written after every precision
    if synthetic:
        report["unservable"] = "Kokoro assets not installed here: throughput on synthetic weights, no load runs"
    return annotate_bench(report, rc=rc, note=f"(124: past {timeout:.0f} s); see bench-{voice}.log")


def kokoro_installed() -> bool:
    """Whether the real Kokoro assets can load here (the packages and voices that ``make install`` fetches)."""
    try:
        from ttsd.voices.options import VoiceOptions
        from ttsd.voices.registry import installed
    except ImportError:
        return False
    return installed("kokoro", VoiceOptions())


def annotate_bench(report: dict[str, Any], *, rc: int, note: str) -> dict[str, Any]:
    """Mark a run that stopped early ``partial``, and a voice that no precision could load ``unloadable``."""
    if rc != 0:
        report["partial"] = f"gpu_bench.py exit {rc} {note}"
    reasons = {r.get("skipped", "") for r in report["results"]}
    if report["results"] and all(reason.startswith(UNLOADABLE) for reason in reasons):
        report["unloadable"] = "; ".join(sorted(reasons))  # every precision: the voice itself is not here
    return report


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def server(
    args: argparse.Namespace, voice: str, max_batch: int, log: Path, extra: dict[str, str] | None = None
) -> Iterator[str]:
    """``ttsd serve`` on a free loopback port (``extra``: more TTSD_* settings); yields its URL once /readyz
    answers 200."""
    port = free_port()
    env = {
        **os.environ,
        "TTSD_HOST": "127.0.0.1",
        "TTSD_PORT": str(port),
        "TTSD_VOICE": voice,
        "TTSD_DEVICE": args.device,
        "TTSD_CACHE_BYTES": "0",
        "TTSD_MAX_BATCH_SIZE": str(max_batch),
        "TTSD_PRECISION": args.server_precision,
        **(extra or {}),
    }
    with log.open("a", encoding="utf-8") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ttsd", "serve"], stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=ROOT
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + SERVER_START_S * 3
            while not _ready(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server ({voice}, max batch {max_batch}) not ready; see {log.name}")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def load_run(args: argparse.Namespace, url: str, name: str, clients: int, seconds: float) -> dict[str, Any]:
    out = args.work / f"load-{name}-{clients}.json"
    say(f"load {name}: {clients} clients for {seconds:.0f} s")
    cmd = [
        sys.executable,
        "-m",
        "ttsd",
        "loadtest",
        "--url",
        url,
        "--concurrency",
        str(clients),
        "--duration",
        f"{seconds:.1f}",
        "--stream",
        "--texts",
        str(ROOT / "bench" / "texts_mixed.txt"),
        "--timeout",
        str(args.request_timeout_s),
        "--json",
        str(out),
    ]
    rc = run_logged(cmd, log=args.work / "loadtest.log", timeout=seconds + args.request_timeout_s + 30)
    if not out.is_file():
        return {"skipped": f"loadtest exit {rc}; see loadtest.log"}
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))["reports"][0]
    report.pop("samples", None)  # kept in the load-*.json file
    return {"report": report, "rc": rc}


def per_device(args: argparse.Namespace) -> list[str]:
    """The devices to load one by one (throughput per GPU, next to the whole pool's "batched" runs): given,
    else every GPU when there are several (``cpu`` in CPU mode, to exercise the path)."""
    if args.per_device is not None:
        return list(args.per_device)
    if not args.device.startswith("cuda"):
        return ["cpu"]
    import torch

    count = torch.cuda.device_count()
    return [f"cuda:{k}" for k in range(count)] if count > 1 else []


def _plan(args: argparse.Namespace) -> list[tuple[str, int, list[int], dict[str, str]]]:
    """(mode, server max batch size, client counts, extra settings) for each server a voice gets. "batched"
    serves on the whole worker pool (every GPU); a device's own row serves on that device alone."""
    plans = [("batched", args.max_batch_size, list(args.clients), {})]
    if args.unbatched_clients:
        plans.append(("unbatched", 1, list(args.unbatched_clients), {}))
    top = [max(args.clients)]
    plans += [(device, args.max_batch_size, top, {"TTSD_DEVICES": device}) for device in per_device(args)]
    return plans


def stage_load(args: argparse.Namespace, voice: str, budget: Budget) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for mode, max_batch, client_counts, extra in _plan(args):
        heads: list[dict[str, Any]] = [{"mode": mode, "clients": c, "max_batch_size": max_batch} for c in client_counts]
        if budget.left() < SERVER_START_S + 10 * len(heads):
            runs += [{**h, "skipped": "time budget"} for h in heads]
            continue
        done: list[dict[str, Any]] = []
        try:
            log = args.work / f"server-{voice}-{mode.replace(':', '')}.log"
            with server(args, voice, max_batch, log, extra) as url:
                for i, (head, clients) in enumerate(zip(heads, client_counts, strict=True)):
                    fair = (budget.left() - 20) / (len(heads) - i) - args.request_timeout_s / 4
                    seconds = min(args.seconds, fair)
                    if seconds < min(args.seconds, 3.0):  # shrunk below a useful run
                        done.append({**head, "skipped": "time budget"})
                        continue
                    done.append(
                        {**head, "seconds": seconds, **load_run(args, url, f"{voice}-{mode}", clients, seconds)}
                    )
        except RuntimeError as err:  # the server did not come up (or died): the runs not done say why
            done += [{**h, "skipped": str(err)} for h in heads[len(done) :]]
        runs += done
    return runs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True, help="folder for logs and JSON (created)")
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    p.add_argument("--voices", default="baker,kokoro", help="comma-separated voice names")
    p.add_argument("--stages", default="tests,bench,load", help="comma-separated subset of tests,bench,load")
    p.add_argument("--tests", nargs="+", default=list(TEST_PATHS), help="pytest paths (default: %(default)s)")
    p.add_argument("--precisions", nargs="+", default=["fp16", "bf16"])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    p.add_argument("--unbatched-clients", type=int, nargs="*", default=[64])
    p.add_argument("--max-batch-size", type=int, default=64, help="the batched server's TTSD_MAX_BATCH_SIZE")
    p.add_argument(
        "--per-device",
        nargs="*",
        default=None,
        help="devices to also load one at a time (default: every GPU when there are several; cpu in CPU mode)",
    )
    p.add_argument("--server-precision", default="auto", help="TTSD_PRECISION of the servers")
    p.add_argument("--seconds", type=float, default=30.0, help="load per client count, at most")
    p.add_argument("--request-timeout-s", type=float, default=20.0)
    p.add_argument("--tests-timeout-s", type=float, default=150.0, help="the tests stage, at most")
    p.add_argument("--bench-timeout-s", type=float, default=90.0, help="the bench stage per voice, at most")
    p.add_argument("--budget-s", type=float, default=420.0, help="the whole check, at most (seconds)")
    p.add_argument("--no-print", action="store_true", help="write summary.txt without printing it")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    budget, started = Budget(seconds=args.budget_s), time.monotonic()
    args.work.mkdir(parents=True, exist_ok=True)
    stages = set(args.stages.split(","))
    results: dict[str, Any] = {
        "device": args.device,
        "hardware": "?",
        "voices": {},
        "config": vars(args) | {"work": str(args.work)},
    }
    results["tests"] = stage_tests(args, budget) if "tests" in stages else {"skipped": "stage not selected"}
    for voice in filter(None, args.voices.split(",")):
        entry: dict[str, Any] = {"bench": {"skipped": "stage not selected"}, "load": []}
        if "bench" in stages:
            entry["bench"] = stage_bench(args, voice, budget)
            results["hardware"] = entry["bench"].get("hardware", results["hardware"])
        unusable = entry["bench"].get("unloadable") or entry["bench"].get("unservable")
        if "load" in stages and unusable:
            entry["load"] = [{"mode": "-", "clients": 0, "skipped": f"voice not loadable: {unusable}"}]
        elif "load" in stages:
            entry["load"] = stage_load(args, voice, budget)
        results["voices"][voice] = entry
    results["elapsed_s"] = time.monotonic() - started
    (args.work / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = format_summary(results)
    (args.work / "summary.txt").write_text(summary + "\n", encoding="utf-8")
    if not args.no_print:
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
