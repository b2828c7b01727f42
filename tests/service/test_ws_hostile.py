"""Hostile and broken clients of GET /v1/audio/speech/ws: each gets a clear error frame or close code, never a
500 or a hang, and no other session notices."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.service.ws_helpers import Transcript, pieces, read_all, talk, ws_service
from ttsd.pipeline.admission import AdmissionConfig
from ttsd.voices.options import FakeOptions

SENTENCE = "您好，请问有什么可以帮您？"


@pytest.mark.parametrize(
    ("messages", "code", "close"),
    [
        (["not json"], "invalid_json", 1007),
        (["[1, 2]"], "invalid_message", 1008),
        ([{"type": "speak", "text": "你好"}], "invalid_message", 1008),
        ([b"\x00\x01binary"], "binary_not_accepted", 1003),
        ([{"type": "text", "text": "你好"}, {"type": "config", "voice": "fake"}], "config_after_text", 1008),
        ([{"type": "config"}, {"type": "config"}], "config_after_text", 1008),
        (
            [{"type": "text", "text": "你好。"}, {"type": "end"}, {"type": "text", "text": "再见"}],
            "message_after_end",
            1008,
        ),
        ([{"type": "text", "text": 42}], "invalid_parameter", 1008),
        ([{"type": "text", "text": "你好", "extra": 1}], "invalid_parameter", 1008),
        ([{"type": "config", "speed": 99}], "invalid_parameter", 1008),
        ([{"type": "config", "response_format": "midi"}], "invalid_parameter", 1008),
        ([{"type": "config", "response_format": "opus", "sample_rate": 22050}], "invalid_parameter", 1008),
        ([{"type": "config", "input_type": "ssml"}], "invalid_parameter", 1008),
        ([{"type": "config", "voice": "nobody"}], "unknown_voice", 1008),
        ([{"type": "text", "text": "……。"}, {"type": "end"}], "invalid_text", 1008),
    ],
)
async def test_bad_messages_get_an_error_frame_and_a_close_code(messages: list[Any], code: str, close: int) -> None:
    with ws_service() as svc:
        transcript = await talk(svc.ws_url, messages, timeout_s=10)
        assert svc.metric("ttsd_sessions_open") == 0
    assert transcript.error is not None, transcript.frames
    assert transcript.error["code"] == code
    assert transcript.error["message"]
    assert transcript.close_code == close


async def test_a_10_mb_frame_closes_with_1009_and_others_carry_on() -> None:
    with ws_service() as svc:
        other = asyncio.create_task(talk(svc.ws_url, [*pieces(SENTENCE * 3), {"type": "end"}]))
        big = await talk(svc.ws_url, [json.dumps({"type": "text", "text": "好" * (10 * 1024 * 1024 // 3)})])
        assert (await other).close_code == 1000
    assert big.close_code == 1009
    assert big.audio == b""


async def test_a_session_over_its_character_cap_is_refused() -> None:
    with ws_service(ws_max_session_chars=30) as svc:
        transcript = await talk(svc.ws_url, [*pieces(SENTENCE * 5), {"type": "end"}])
    assert transcript.error is not None
    assert transcript.error["code"] == "text_too_long"
    assert transcript.close_code == 1008


async def test_an_idle_session_times_out() -> None:
    with ws_service(ws_idle_timeout_s=0.3) as svc:
        async with connect(svc.ws_url) as ws:
            await ws.send(json.dumps({"type": "text", "text": "您好，"}))
            started = time.monotonic()
            transcript = await read_all(ws, Transcript(), timeout_s=5)
        assert svc.metric("ttsd_sessions_open") == 0
    assert time.monotonic() - started < 3
    assert transcript.error is not None
    assert transcript.error["code"] == "idle_timeout"
    assert transcript.close_code == 1001


@pytest.mark.parametrize("sentences", [40, 120])  # 120: past the read-ahead, the server has stopped reading
async def test_a_closed_socket_cancels_its_queued_work_at_once(sentences: int) -> None:
    faults = FakeOptions(delay_ms_per_batch=100)
    with ws_service(faults=faults, max_batch_size=1, ws_read_ahead_chars=500) as svc:
        async with connect(svc.ws_url) as ws:
            for k in range(sentences):
                await ws.send(json.dumps({"type": "text", "text": f"第{k}句话在这里。"}))
            for _ in range(200):
                if svc.queue_depth >= 5:
                    break
                await asyncio.sleep(0.01)
            assert svc.queue_depth >= 5, "the session's sentences are queued"
        await asyncio.sleep(0.1)
        assert svc.queue_depth == 0, "nothing of the closed session is left in the batcher 100 ms later"
        assert svc.metric("ttsd_sessions_open") == 0
        assert svc.metric("ttsd_session_characters_count") == 1


async def test_admission_refuses_mid_session_with_retry_after() -> None:
    """A session is priced as its text comes, on one ticket: alone it is never refused (it counts at most its
    window); beside other work, a sentence past the backlog limit is refused mid-session."""
    admission = AdmissionConfig(max_backlog_s=5.0, initial_rate=1.0, window_s=60.0)
    faults = FakeOptions(delay_ms_per_batch=300)
    messages = [{"type": "text", "text": f"这是第{k}个很长的句子。"} for k in range(6)]
    with ws_service(faults=faults, admission=admission) as svc:
        async with connect(svc.ws_url) as bystander:  # an open session: the busy one is no longer alone
            await bystander.send(json.dumps({"type": "text", "text": "您好，"}))
            transcript = await talk(svc.ws_url, messages)
        alone = await talk(svc.ws_url, [*messages, {"type": "end"}], timeout_s=30)
        assert svc.metric("ttsd_rejected_total", {"reason": "queue_full"}) == 1
    assert alone.close_code == 1000
    assert alone.binary_frames >= 6
    assert transcript.error is not None
    assert transcript.error["code"] == "queue_full"
    assert transcript.error["retry_after"] >= 1
    assert transcript.close_code == 1013


async def test_a_flood_of_one_character_messages_neither_fails_nor_slows_others() -> None:
    text = (SENTENCE * 800)[:10_000]
    with ws_service(ws_max_messages_per_s=100_000, ws_max_session_chars=20_000, max_batch_size=16) as svc:
        flood = asyncio.create_task(talk(svc.ws_url, [*pieces(text, (1,)), {"type": "end"}], timeout_s=120))
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        other = await talk(svc.ws_url, [{"type": "text", "text": SENTENCE}, {"type": "end"}])
        other_s = time.perf_counter() - started
        flooded = await flood
    assert other.close_code == 1000
    assert other_s < 5, f"a normal session took {other_s:.1f} s beside the flood"
    assert flooded.close_code == 1000, flooded.error
    assert flooded.of_type("done")


async def test_the_api_key_and_origin_apply_to_the_upgrade() -> None:
    with ws_service(api_key="sekrit", cors_origins=["https://app.example"]) as svc:
        with pytest.raises(InvalidStatus) as refused:
            await talk(svc.ws_url, [{"type": "end"}])
        assert refused.value.response.status_code == 401
        assert svc.metric("ttsd_rejected_total", {"reason": "unauthorized"}) == 1
        with pytest.raises(InvalidStatus) as foreign:
            await talk(svc.ws_url, [{"type": "end"}], origin="https://evil.example", subprotocols=["ttsd-key.sekrit"])
        assert foreign.value.response.status_code == 403
        by_header = await talk(
            svc.ws_url, [*pieces(SENTENCE), {"type": "end"}], additional_headers={"Authorization": "Bearer sekrit"}
        )
        host = svc.url.removeprefix("http://")
        for origin in ("https://app.example", f"http://{host}"):
            browser = await talk(
                svc.ws_url,
                [*pieces(SENTENCE), {"type": "end"}],
                origin=origin,
                subprotocols=["ttsd", "ttsd-key.sekrit"],
            )
            assert browser.close_code == 1000
    assert by_header.close_code == 1000


def _raw_frame(text: str) -> bytes:
    """A masked client text frame (mask key 0: the payload goes as it is)."""
    payload = text.encode()
    n = len(payload)
    length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    return b"\x81" + length + b"\x00\x00\x00\x00" + payload


async def test_a_client_that_reads_no_audio_is_dropped_after_the_send_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="ttsd.api.protocol")
    text = "".join(f"这是第{k}句很长的测试文本，用来产生足够多的音频。" for k in range(60))
    with ws_service(send_timeout_s=0.5, max_text_chars=5000) as svc:
        port = int(svc.url.rsplit(":", 1)[1])
        with socket.socket() as sock:  # a raw client that never reads after the handshake, with a small window
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            sock.connect(("127.0.0.1", port))
            sock.sendall(
                f"GET /v1/audio/speech/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)
            assert head.startswith(b"HTTP/1.1 101")
            config = {"type": "config", "response_format": "pcm", "sample_rate": 48000, "speed": 0.25}
            for message in (config, {"type": "text", "text": text}, {"type": "end"}):
                sock.sendall(_raw_frame(json.dumps(message, ensure_ascii=False)))
            for _ in range(100):
                if svc.metric("ttsd_sessions_open") == 1:
                    break
                await asyncio.sleep(0.01)
            for _ in range(300):
                if svc.metric("ttsd_sessions_open") == 0:
                    break
                await asyncio.sleep(0.05)
            assert svc.metric("ttsd_sessions_open") == 0, "the stalled reader was dropped and its session closed"
            assert svc.queue_depth == 0
            audio_s = svc.metric("ttsd_audio_seconds_total", {"voice": "fake"})
    assert audio_s == 0, "the session was cut, not finished (a finished one counts its audio)"
    assert any("read nothing for 0.5 s" in r.getMessage() for r in caplog.records), "dropped by the send timeout"
