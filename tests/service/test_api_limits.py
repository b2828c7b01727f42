"""Request-size limits: bodies are refused by size before they are read (or as soon as they pass the limit),
slow bodies get 408, and whole-file responses above the audio limit are refused with advice to stream."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.service.api_helpers import metric_value, running_service
from tests.service.guarded_helpers import guarded_service, post_head, raw_connection, read_response
from ttsd.audio import AudioSpec
from ttsd.errors import InvalidControl
from ttsd.pipeline.output import check_response_size

LIMIT = 64 * 1024


def _status_and_json(raw: bytes) -> tuple[int, dict[str, object], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body), head.lower()


def test_declared_oversize_body_is_refused_before_reading() -> None:
    with guarded_service(max_body_bytes=LIMIT) as svc:
        sock = raw_connection(svc.port)
        # Declares 500 MB but sends only 16 KB: a 413 can only come back if the server did not wait for the rest.
        sock.sendall(post_head("/tts", content_length=500_000_000) + b"x" * 16384)
        status, body, head = _status_and_json(read_response(sock))
        sock.close()
        assert status == 413
        assert body["error"] == {"code": "body_too_large", "message": f"the request body is larger than {LIMIT} bytes"}
        assert b"connection: close" in head
        text = httpx.get(f"{svc.url}/metrics").text
        assert metric_value(text, "ttsd_rejected_total", reason="too_large") == 1


def test_chunked_body_is_cut_off_at_the_limit() -> None:
    with guarded_service(max_body_bytes=LIMIT) as svc:
        sock = raw_connection(svc.port)
        sock.sendall(post_head("/tts", content_length=None, chunked=True))
        chunk = b"%x\r\n%s\r\n" % (8192, b"y" * 8192)
        sent = 0
        try:
            while sent < 4 * LIMIT:  # never the terminating chunk: the server must stop on its own
                sock.sendall(chunk)
                sent += 8192
        except ConnectionError:
            pass  # the server answered and closed while we were still sending
        status, body, _ = _status_and_json(read_response(sock))
        sock.close()
        assert status == 413
        assert body["error"]["code"] == "body_too_large"  # type: ignore[index]


def test_body_that_trickles_gets_408() -> None:
    with guarded_service(body_timeout_s=0.5) as svc:
        sock = raw_connection(svc.port)
        sock.sendall(post_head("/tts", content_length=100) + b'{"text": ')
        started = time.monotonic()
        status, body, _ = _status_and_json(read_response(sock))
        sock.close()
        assert status == 408
        assert body["error"]["code"] == "request_timeout"  # type: ignore[index]
        assert time.monotonic() - started < 5


async def test_bodies_under_the_limit_reach_the_route() -> None:
    async with running_service(max_body_bytes=1024) as svc:
        ok = await svc.client.post("/tts", json={"text": "你好。"})
        assert ok.status_code == 200
        big = await svc.client.post("/tts", json={"text": "你" * 2000})
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "body_too_large"


def test_check_response_size_tells_the_client_to_stream() -> None:
    spec = AudioSpec(format="wav")
    check_response_size(599.0, spec, limit_s=600.0)
    with pytest.raises(InvalidControl) as err:
        check_response_size(1200.0, spec, limit_s=600.0)
    assert err.value.param == "stream"
    assert "stream=true" in err.value.message
    assert "58 MB of wav" in err.value.message  # 1200 s x 24 kHz x 2 bytes


async def test_a_whole_file_answer_past_the_limit_is_refused_before_any_work() -> None:
    async with running_service(max_response_audio_s=5.0, max_text_chars=5000) as svc:
        long_text = "这是一个很长的句子。" * 10  # 100 characters: about 25 s of audio
        refused = await svc.client.post("/tts", json={"text": long_text})
        assert refused.status_code == 422
        assert refused.json()["error"]["param"] == "stream"
        assert svc.voice.batches == []
        streamed = await svc.client.post("/tts", json={"text": long_text, "stream": True, "format": "pcm"})
        assert streamed.status_code == 200
