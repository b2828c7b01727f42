"""SIGTERM under load, for docs/benchmarks.md (issue 23): ``ttsd serve`` with both families loaded (CPU,
defaults otherwise), 8 mixed clients in flight (per family: two streams and two whole-file requests, one of each
on the OpenAI endpoint), SIGTERM ``--signal-after-s`` after they started. Then, for every admitted request: did
it run to its end (200 and a complete body) or was it cut; requests refused at admission (503) are counted
apart (every client here sends before the signal, so none should be); and how long the process took to exit, with
its exit status.

    python bench/drain_bench.py                          # the defaults: TTSD_DRAIN_TIMEOUT_S=25
    python bench/drain_bench.py --drain-timeout-s 60 --baker-chars 400 --kokoro-chars 60

Results also go to artifacts/drain_bench/result.json.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from servers import ttsd_server

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts" / "drain_bench"
SENTENCE = "服务关闭的时候正在合成的请求必须完整结束，"


@dataclass
class Outcome:
    name: str
    status: int = 0
    bytes: int = 0
    complete: bool = False
    error: str = ""
    ended_s: float = 0.0


def text(chars: int, tag: int) -> str:
    """``chars`` characters, different for every client (no cache hits between them)."""
    body = "".join(f"第{tag}段第{i}句，" + SENTENCE for i in range(chars // len(SENTENCE) + 1))
    return body[:chars].rstrip("，") + "。"


def client(url: str, path: str, payload: dict[str, object], outcome: Outcome, t0: float) -> None:
    try:
        with httpx.stream("POST", url + path, json=payload, timeout=600) as response:
            outcome.status = response.status_code
            body = b""
            for data in response.iter_bytes():
                outcome.bytes += len(data)
                if response.status_code != 200:
                    body += data
            outcome.complete = response.status_code == 200
            if body:
                outcome.error = json.loads(body)["error"]["message"]
    except httpx.HTTPError as exc:
        outcome.error = type(exc).__name__
    outcome.ended_s = round(time.monotonic() - t0, 2)


def plan(args: argparse.Namespace) -> list[tuple[str, str, dict[str, object]]]:
    calls: list[tuple[str, str, dict[str, object]]] = []
    for family, chars in (("baker", args.baker_chars), ("kokoro", args.kokoro_chars)):
        for n, stream in enumerate((True, True, False, False)):
            tag = len(calls)
            kind = "stream" if stream else "whole"
            if n % 2:  # the OpenAI endpoint
                body = {"input": text(chars, tag), "voice": family, "stream": stream, "model": "ttsd"}
                calls.append((f"{family}-openai-{kind}", "/v1/audio/speech", body))
            else:
                body = {"text": text(chars, tag), "voice": family, "stream": stream}
                calls.append((f"{family}-tts-{kind}", "/tts", body))
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drain-timeout-s", type=float, default=25.0)
    parser.add_argument("--signal-after-s", type=float, default=3.0)
    parser.add_argument("--baker-chars", type=int, default=400)
    parser.add_argument("--kokoro-chars", type=int, default=60)
    args = parser.parse_args()
    env = {"TTSD_VOICE": "baker", "TTSD_VOICES": "baker,kokoro", "TTSD_DEVICE": "cpu",
           "TTSD_DRAIN_TIMEOUT_S": str(args.drain_timeout_s), "TTSD_MAX_BACKLOG_S": "0",
           "TTSD_REQUEST_TIMEOUT_S": "600", "TTSD_LOG_LEVEL": "info"}  # fmt: skip
    with ttsd_server("drain", env, log_dir=OUT, timeout_s=600) as (url, proc):
        t0 = time.monotonic()
        outcomes, threads = [], []
        for name, path, body in plan(args):
            outcome = Outcome(name)
            thread = threading.Thread(target=client, args=(url, path, body, outcome, t0))
            thread.start()
            outcomes.append(outcome)
            threads.append(thread)
        time.sleep(args.signal_after_s)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=args.drain_timeout_s + 60)
        exit_s = time.monotonic() - signalled
        for thread in threads:
            thread.join(30)
    # Refused at admission: "the service is draining"; a 503 after admission is a whole-file answer cut at the budget.
    admitted = [o for o in outcomes if "is draining" not in o.error]
    result = {
        "drain_timeout_s": args.drain_timeout_s,
        "signal_after_s": args.signal_after_s,
        "exit_code": code,
        "exit_s": round(exit_s, 1),
        "admitted": len(admitted),
        "completed": sum(o.complete for o in admitted),
        "cut": sum(not o.complete for o in admitted),
        "refused_503": len(outcomes) - len(admitted),
        "clients": [asdict(o) for o in outcomes],
        "server_cut_lines": [
            line for line in (OUT / "server-drain.log").read_text(errors="replace").splitlines() if "cut" in line
        ],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "result.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
