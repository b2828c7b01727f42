"""SIGTERM finishes admitted work: ``ttsd serve`` (fake voice, one sentence per 150 ms) as a subprocess, with
whole-file and streamed requests of both endpoints in flight, most of their sentences not yet queued when the
signal comes. ``/readyz`` goes 503 at once, a new request gets 503 with Retry-After, every admitted response
runs to its end with all its audio, and the process exits 0 (issue 23)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.service.test_api_drain import HERE, Served, _distinct, _serve

CUT_LINES = ("it is cut", "cut mid-body", "unfinished response")  # the engine's, the middleware's, the server's
pytestmark = pytest.mark.slow  # a subprocess server: run by `make test`, not `make test-fast`

BUDGET_S = 30.0


@pytest.fixture
def paced(tmp_path: Path) -> Iterator[Served]:
    argv = [str(HERE / "serve_slow_fake.py"), "delay_ms_per_batch=150"]
    env = {"TTSD_MAX_BATCH_SIZE": "1", "TTSD_CACHE_BYTES": "0", "TTSD_MAX_BACKLOG_S": "0"}
    yield from _serve(tmp_path, argv, TTSD_DRAIN_TIMEOUT_S=str(BUDGET_S), **env)


@dataclass
class Answer:
    status: int = 0
    body: bytes = b""
    error: str = ""
    first_byte: threading.Event = field(default_factory=threading.Event)


def _call(url: str, path: str, payload: dict[str, object], answer: Answer) -> None:
    try:
        with httpx.stream("POST", url + path, json=payload, timeout=60) as response:
            answer.status = response.status_code
            for data in response.iter_bytes():
                answer.body += data
                answer.first_byte.set()
    except httpx.HTTPError as exc:
        answer.error = repr(exc)
    finally:
        answer.first_byte.set()


def _start(url: str, path: str, payload: dict[str, object]) -> tuple[Answer, threading.Thread]:
    answer = Answer()
    thread = threading.Thread(target=_call, args=(url, path, payload, answer))
    thread.start()
    return answer, thread


def test_sigterm_lets_every_admitted_request_finish(paced: Served) -> None:
    long_text, other_text = _distinct(10), _distinct(8)
    calls = {
        "stream": _start(paced.url, "/tts", {"text": long_text, "stream": True, "format": "wav"}),
        "whole": _start(paced.url, "/tts", {"text": long_text, "format": "pcm"}),
        "openai-stream": _start(
            paced.url, "/v1/audio/speech", {"input": other_text, "stream": True, "response_format": "wav"}
        ),
        "openai-whole": _start(paced.url, "/v1/audio/speech", {"input": other_text, "response_format": "pcm"}),
    }
    for name in ("stream", "openai-stream"):
        assert calls[name][0].first_byte.wait(20), f"{name}: no first byte"
    time.sleep(0.3)  # the whole-file requests are admitted (their bodies are tiny)
    started = time.monotonic()
    paced.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert httpx.get(f"{paced.url}/readyz", timeout=5).status_code == 503
    refused = httpx.post(f"{paced.url}/tts", json={"text": "新来的请求。"}, timeout=5)
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    code = paced.proc.wait(timeout=BUDGET_S + 10)
    took = time.monotonic() - started
    for _, thread in calls.values():
        thread.join(10)
    answers = {name: answer for name, (answer, _) in calls.items()}
    assert code == 0
    assert took < BUDGET_S, f"exit took {took:.1f} s: the drain should end when the admitted work does"
    assert {name: (a.status, a.error) for name, a in answers.items()} == {name: (200, "") for name in answers}
    # Complete audio: each stream's WAV carries exactly the samples of the same text's whole answer.
    assert len(answers["whole"].body) > 0
    assert answers["stream"].body[44:] == answers["whole"].body
    assert answers["openai-stream"].body[44:] == answers["openai-whole"].body
    log = paced.log_text()
    assert not [line for line in log.splitlines() if any(cut in line for cut in CUT_LINES)], log[-3000:]
    assert "Traceback" not in log, log[-3000:]
