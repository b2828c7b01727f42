"""Text-in sessions (GET /v1/audio/speech/ws) under a simulated LLM: 2-4 characters every 50 ms.

    PYTHONPATH=src python bench/session_bench.py --voice baker --sessions 1 --rounds 20
    PYTHONPATH=src python bench/session_bench.py --voice baker --sessions 32 --rounds 1
    PYTHONPATH=src python bench/session_bench.py --voice kokoro --sessions 1 --rounds 10

Each session writes a customer-service answer (4-5 sentences, distinct per session) the way an LLM does and
reads the audio back. Figures: for every sentence, the time from sending the message that completes it (its
stop) to the first audio frame of that sentence (sentence frames say which frame starts which sentence);
the headline is the FIRST sentence of each session, p50/p99 over all sessions of all rounds. Then every
session's audio is compared with the whole text sent at once (POST /v1/audio/speech, pcm): same length and
the same samples (order and no mixing between sessions). The server is started here (`ttsd serve`, cache off)
and stopped at the end. Results are printed and written to artifacts/session_bench/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from servers import ttsd_server
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts" / "session_bench"
STOPS = "。！？；"
ANSWER = (
    "您好，我是智能客服小安，很高兴为您服务。",
    "您的订单号是DD2026{n:04d}，已经在{h}点{m}分从仓库发出。",
    "预计明天下午送达，请保持电话畅通！",
    "如果还有其他问题，可以随时联系我们；",
    "祝您生活愉快，再见。",
)


@dataclass
class Result:
    text: str
    sent_at: list[tuple[int, float]] = field(default_factory=list)  # (end offset of text sent so far, time)
    frames: list[tuple[float, bytes | dict[str, object]]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    error: str | None = None

    def latencies(self) -> list[float]:
        """Per sentence: completing message -> its first audio frame (seconds)."""
        stops = [i + 1 for i, ch in enumerate(self.text) if ch in STOPS]
        sentence_audio: list[float] = []
        last_audio = None
        for at, frame in self.frames:
            if isinstance(frame, bytes):
                last_audio = at if last_audio is None else last_audio
            elif frame.get("type") == "sentence":
                assert last_audio is not None
                sentence_audio.append(last_audio)
                last_audio = None
        out = []
        for stop, heard in zip(stops, sentence_audio, strict=False):
            sent = next(t for end, t in self.sent_at if end >= stop)
            out.append(heard - sent)
        return out


def answer(n: int) -> str:
    rng = random.Random(n)
    return "".join(ANSWER).format(n=n, h=rng.randint(8, 20), m=rng.randint(10, 59))


async def session(url: str, text: str, rng: random.Random) -> Result:
    result = Result(text=text)
    async with connect(url, max_size=None) as ws:

        async def read() -> None:
            async for frame in ws:
                now = time.perf_counter()
                if isinstance(frame, bytes):
                    result.audio.extend(frame)
                    result.frames.append((now, frame))
                else:
                    message = json.loads(frame)
                    result.frames.append((now, message))
                    if message["type"] in ("done", "error"):
                        return

        reader = asyncio.create_task(read())
        try:
            await ws.send(json.dumps({"type": "config", "response_format": "pcm", "timestamps": True}))
            i = 0
            while i < len(text):
                n = rng.randint(2, 4)
                await ws.send(json.dumps({"type": "text", "text": text[i : i + n]}, ensure_ascii=False))
                i += n
                result.sent_at.append((min(i, len(text)), time.perf_counter()))
                await asyncio.sleep(0.05)
            await ws.send(json.dumps({"type": "end"}))
        except ConnectionClosed:
            pass  # refused: the error frame says why
        await asyncio.wait_for(reader, 120)
    errors = [f for _, f in result.frames if isinstance(f, dict) and f.get("type") == "error"]
    if errors:
        result.error = str(errors[0].get("code"))
    return result


def check(base: str, results: list[Result]) -> tuple[int, float]:
    """Sessions whose audio equals the whole text's (length and samples), and the largest sample difference."""
    same, worst = 0, 0.0
    with httpx.Client(base_url=base, timeout=300) as client:
        for result in results:
            answer = client.post("/v1/audio/speech", json={"input": result.text, "response_format": "pcm"})
            if answer.status_code != 200:
                print(f"  whole-text reference failed ({answer.status_code}): {answer.text[:200]}")
                continue
            whole = answer.content
            a = np.frombuffer(bytes(result.audio), dtype=np.int16).astype(np.float64)
            b = np.frombuffer(whole, dtype=np.int16).astype(np.float64)
            if len(a) != len(b):
                print(f"  length differs: session {len(a)} samples, whole text {len(b)}")
                continue
            diff = float(np.max(np.abs(a - b))) / 32768 if len(a) else 0.0
            worst = max(worst, diff)
            same += diff < 0.05  # batching pads differently; anything mixed or out of order differs wholesale
    return same, worst


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(url: str, sessions: int, rounds: int) -> list[Result]:
    results: list[Result] = []
    for r in range(rounds):
        texts = [answer(r * sessions + k) for k in range(sessions)]
        rngs = [random.Random(1000 * r + k) for k in range(sessions)]
        results += await asyncio.gather(*(session(url, t, g) for t, g in zip(texts, rngs, strict=True)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", default="baker")
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--max-backlog-s", default=None, help="TTSD_MAX_BACKLOG_S for the server (0: no admission)")
    args = parser.parse_args()
    env = {"TTSD_VOICES": args.voice, "TTSD_VOICE": args.voice, "TTSD_CACHE_BYTES": "0"}
    if args.max_backlog_s is not None:
        env["TTSD_MAX_BACKLOG_S"] = args.max_backlog_s
    with ttsd_server(f"session-{args.voice}-{args.sessions}", env, log_dir=OUT) as (base, _):
        ws_url = "ws" + base.removeprefix("http") + "/v1/audio/speech/ws"
        asyncio.run(run(ws_url, 1, 1))  # warm the path once (not counted)
        started = time.perf_counter()
        results = asyncio.run(run(ws_url, args.sessions, args.rounds))
        wall = time.perf_counter() - started
        refused = [r for r in results if r.error is not None]
        results = [r for r in results if r.error is None]
        print("first sentence (ms):", [round(r.latencies()[0] * 1000) for r in results], flush=True)
        same, worst = check(base, results)
    first = [r.latencies()[0] * 1000 for r in results] or [float("nan")]
    every = [x * 1000 for r in results for x in r.latencies()] or [float("nan")]
    figures = {
        "voice": args.voice,
        "sessions": args.sessions,
        "rounds": args.rounds,
        "first_sentence_ms": {"p50": pct(first, 0.5), "p99": pct(first, 0.99), "max": max(first), "n": len(first)},
        "every_sentence_ms": {"p50": pct(every, 0.5), "p99": pct(every, 0.99), "max": max(every), "n": len(every)},
        "mean_first_ms": statistics.fmean(first),
        "sessions_refused": {code: sum(r.error == code for r in refused) for code in {r.error for r in refused}},
        "sessions_equal_to_whole_text": f"{same}/{len(results)}",
        "largest_sample_difference": round(worst, 4),
        "wall_s": round(wall, 1),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.voice}-{args.sessions}.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    return 0 if same == len(results) and not refused else 1


if __name__ == "__main__":
    sys.exit(main())
