"""GET /v1/audio/speech/ws: text in while it is being written, audio out in order (on ttsd's own server)."""

from __future__ import annotations

import httpx
import numpy as np

from tests.service.ws_helpers import pieces, talk, ws_service

TEXT = "您好，欢迎致电客服中心。请问有什么可以帮您？您的订单号是A1234，金额是2.5元；预计明天送达。谢谢！"


async def test_the_session_speaks_what_the_whole_text_would() -> None:
    with ws_service() as svc:
        transcript = await talk(
            svc.ws_url, [{"type": "config", "response_format": "pcm"}, *pieces(TEXT), {"type": "end"}]
        )
        async with httpx.AsyncClient(base_url=svc.url, timeout=30) as client:
            answer = await client.post("/v1/audio/speech", json={"input": TEXT, "response_format": "pcm"})
        whole = answer.content
    assert transcript.close_code == 1000, transcript.frames
    assert transcript.error is None
    streamed = np.frombuffer(bytes(transcript.audio), dtype=np.int16)
    reference = np.frombuffer(whole, dtype=np.int16)
    assert abs(len(streamed) - len(reference)) <= 0.02 * len(reference)
    assert np.array_equal(streamed, reference), "same sentences, same pauses, same samples"
    (done,) = transcript.of_type("done")
    assert done["audio_seconds"] == round(len(streamed) / svc.fake.voice.sample_rate, 3)
    assert transcript.binary_frames >= 5, "one frame per sentence at least, each as it completes"


async def test_sentence_frames_carry_text_and_times_in_order() -> None:
    with ws_service() as svc:
        transcript = await talk(svc.ws_url, [{"type": "config", "timestamps": True}, *pieces(TEXT), {"type": "end"}])
    sentences = transcript.of_type("sentence")
    assert [s["index"] for s in sentences] == list(range(len(sentences)))
    assert "".join(s["text"] for s in sentences).startswith("您好，欢迎致电客服中心。")
    ends = [s["end"] for s in sentences]
    assert all(s["start"] < s["end"] for s in sentences)
    assert ends == sorted(ends)
    assert sentences[0]["timestamps"][0]["text"] == "您"
    assert transcript.frames[-1]["type"] == "done"
    assert transcript.frames[-1]["audio_seconds"] >= ends[-1]


async def test_flush_speaks_an_unfinished_sentence_now() -> None:
    with ws_service() as svc:
        from websockets.asyncio.client import connect

        async with connect(svc.ws_url) as ws:
            await ws.send('{"type": "text", "text": "您好，我想查询"}')
            await ws.send('{"type": "flush"}')
            first = await ws.recv()
            assert isinstance(first, bytes)
            assert len(first) > 0
            await ws.send('{"type": "end"}')
            rest = [await ws.recv() for _ in range(1)]
            assert '"done"' in str(rest[-1])


async def test_a_wav_session_is_one_playable_stream() -> None:
    with ws_service() as svc:
        transcript = await talk(
            svc.ws_url, [{"type": "config", "response_format": "wav"}, *pieces(TEXT), {"type": "end"}]
        )
    assert bytes(transcript.audio[:4]) == b"RIFF"
    assert bytes(transcript.audio[8:12]) == b"WAVE"


async def test_a_long_session_is_held_to_progress_not_to_one_deadline() -> None:
    """Each sentence comes well within the timeout, the whole session takes several times longer: it finishes."""
    from ttsd.voices.options import FakeOptions

    text = "".join(f"第{k}句。" for k in range(12))
    with ws_service(faults=FakeOptions(delay_ms_per_batch=150), request_timeout_s=1.0, max_batch_size=1) as svc:
        transcript = await talk(svc.ws_url, [{"type": "text", "text": text}, {"type": "end"}], timeout_s=30)
    assert transcript.error is None
    assert transcript.close_code == 1000
    assert len(transcript.of_type("done")) == 1
