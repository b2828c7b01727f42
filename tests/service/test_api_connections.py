"""Connection limits of ``ttsd serve``'s server (``ttsd.api.protocol``), with tiny limits: idle and trickling
connections are closed, the cap holds while /healthz keeps answering, and a client that stops reading a stream
is disconnected and its work cancelled."""

from __future__ import annotations

import contextlib
import threading
import time

import httpx
import pytest

from tests.service.api_helpers import metric_value
from tests.service.guarded_helpers import (
    guarded_service,
    is_closed_by_peer,
    post_head,
    raw_connection,
    read_response,
    wait_until,
)
from ttsd.voices.options import FakeOptions

pytestmark = pytest.mark.slow  # subprocesses or real servers: run by `make test`, not `make test-fast`

CAP = 8
SENTENCE = "这是一个用来测试背压的很长的句子。"


def test_idle_connections_beyond_the_cap_evict_each_other_and_healthz_keeps_answering() -> None:
    with guarded_service(max_connections=CAP, header_timeout_s=2.0) as svc:
        idle = [raw_connection(svc.port) for _ in range(3 * CAP)]
        wait_until(lambda: svc.open_connections() <= CAP + 1)
        # Every newcomer closed the connection idle for longest: the oldest ones are gone, the newest are open.
        assert all(is_closed_by_peer(sock) for sock in idle[:CAP])
        assert not any(is_closed_by_peer(sock) for sock in idle[-2:])
        for _ in range(5):
            started = time.monotonic()
            assert httpx.get(f"{svc.url}/healthz", timeout=2).status_code == 200
            assert time.monotonic() - started < 1.0
        # Connections that never send a request head are closed after header_timeout_s.
        wait_until(lambda: svc.open_connections() == 0, timeout_s=5)
        assert all(is_closed_by_peer(sock) for sock in idle)
        for sock in idle:
            sock.close()


def test_busy_cap_answers_503_but_serves_the_probes() -> None:
    with guarded_service(max_connections=2, faults=FakeOptions(delay_ms_per_batch=1500), max_batch_size=1) as svc:
        results: list[int] = []

        def slow() -> None:
            results.append(httpx.post(f"{svc.url}/tts", json={"text": "慢。"}, timeout=10).status_code)

        workers = [threading.Thread(target=slow) for _ in range(2)]
        for w in workers:
            w.start()
        wait_until(lambda: len(svc.voice.batches) >= 1)
        refused = httpx.post(f"{svc.url}/tts", json={"text": "第三个。"}, timeout=5)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "too_many_connections"
        assert httpx.get(f"{svc.url}/healthz", timeout=5).status_code == 200
        for w in workers:
            w.join(15)
        assert results == [200, 200]


def test_trickled_request_head_gets_408_and_is_closed() -> None:
    with guarded_service(header_timeout_s=1.0) as svc:
        sock = raw_connection(svc.port)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never the blank line
        started = time.monotonic()
        raw = read_response(sock, timeout_s=5)
        sock.close()
        assert raw.startswith(b"HTTP/1.1 408")
        assert b'"request_timeout"' in raw
        assert 0.8 < time.monotonic() - started < 4


def test_oversized_request_head_gets_431() -> None:
    with guarded_service() as svc:
        sock = raw_connection(svc.port)
        filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(100))  # ~100 KB of headers
        with contextlib.suppress(ConnectionError):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + filler)
        raw = read_response(sock, timeout_s=5)
        sock.close()
        assert raw.startswith(b"HTTP/1.1 431")
        assert b'"headers_too_large"' in raw
        assert httpx.get(f"{svc.url}/healthz", headers={"X-Normal": "b" * 4000}).status_code == 200


def test_idle_keep_alive_connection_is_closed() -> None:
    with guarded_service(keep_alive_timeout_s=1.0, header_timeout_s=30.0) as svc:
        sock = raw_connection(svc.port)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(5)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert read_response(sock, timeout_s=5) == b""  # EOF: closed by the server
        assert 0.5 < time.monotonic() - started < 4
        sock.close()


def test_client_that_stops_reading_is_disconnected_and_its_work_cancelled() -> None:
    text = SENTENCE * 280  # ~280 sentences, ~12 MB of WAV: far more than the socket buffers hold
    with guarded_service(
        send_timeout_s=1.0,
        max_text_chars=6000,
        max_batch_size=2,
        faults=FakeOptions(delay_ms_per_batch=20),
    ) as svc:
        sock = raw_connection(svc.port, rcvbuf=4096)
        try:
            body = f'{{"text": "{text}", "stream": true}}'.encode()
            sock.sendall(post_head("/tts", content_length=len(body)) + body)
            # The stream has started (on a loaded machine the server may not have taken the connection yet)...
            wait_until(lambda: len(svc.voice.batches) > 0, timeout_s=15)
            # ...and the server aborts it once it has had nothing to write into for send_timeout_s.
            wait_until(lambda: svc.open_connections() == 0, timeout_s=15)
            done = len(svc.voice.batches)
            time.sleep(0.5)
            assert len(svc.voice.batches) == done, "the stream's queued sentences were cancelled"
            assert sum(len(b) for b in svc.voice.batches) < 100  # of ~280 sentences
            metrics = httpx.get(f"{svc.url}/metrics").text
            assert metric_value(metrics, "ttsd_request_duration_seconds_count", route="/tts", status="499") == 1
        finally:
            sock.close()
