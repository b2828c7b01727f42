"""Against a real uvicorn server on 127.0.0.1: the official OpenAI client, chunked streaming that starts
before the synthesis ends, disconnects that cancel queued work, and probes that stay fast during long
batches."""

from __future__ import annotations

import io
import statistics
import threading
import time

import av
import httpx
import numpy as np
import pytest
import soundfile as sf
from openai import OpenAI

from tests.service.api_helpers import API_KEY, live_service
from tests.service.fakes import expected_samples
from ttsd.voices.fake import SAMPLE_RATE
from ttsd.voices.options import FakeOptions

pytestmark = pytest.mark.slow  # a real uvicorn server per test (about 8 s in all); `make test` runs them

TEXT = "欢迎使用中文语音合成服务。今天天气很好！"
FOUR = "第一句话。第二句话。第三句话。第四句话。"
SIX = "一号句子。二号句子。三号句子。四号句子。五号句子。六号句子。"


def wait_for(predicate, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def test_openai_client_non_streaming() -> None:
    with (
        live_service(api_key=API_KEY) as svc,
        OpenAI(base_url=f"{svc.url}/v1", api_key=API_KEY, max_retries=0) as client,  # closed: no leaked sockets
    ):
        response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="wav")
        audio, rate = sf.read(io.BytesIO(response.read()), dtype="float32")
        assert rate == SAMPLE_RATE
        assert len(audio) == expected_samples(svc.fake, TEXT)
        mp3 = client.audio.speech.create(model="tts-1-hd", voice="echo", input=TEXT, speed=1.25)
        with av.open(io.BytesIO(mp3.read()), mode="r") as container:
            samples = sum(f.samples for f in container.decode(audio=0))
        assert samples / SAMPLE_RATE == pytest.approx(expected_samples(svc.fake, TEXT, 1.25) / SAMPLE_RATE, abs=0.1)
        assert {m.id for m in client.models.list()} >= {"tts-1", "tts-1-hd", "ttsd"}


def test_openai_client_wrong_key_gets_401() -> None:
    import openai

    with (
        live_service(api_key=API_KEY) as svc,
        OpenAI(base_url=f"{svc.url}/v1", api_key="wrong", max_retries=0) as client,  # closed: no leaked sockets
    ):
        with pytest.raises(openai.AuthenticationError) as err:
            client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
        assert err.value.status_code == 401
        assert svc.metric("ttsd_rejected_total", reason="unauthorized") == 1


def test_openai_client_streaming_pcm() -> None:
    with (
        live_service(max_batch_size=1, faults=FakeOptions(delay_ms_per_batch=100)) as svc,
        OpenAI(base_url=f"{svc.url}/v1", api_key="unused", max_retries=0) as client,  # closed: no leaked sockets
    ):
        chunks: list[bytes] = []
        with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="nova", input=FOUR, response_format="pcm", extra_body={"stream": True}
        ) as response:
            assert response.headers["content-type"] == "audio/pcm"
            assert response.headers.get("transfer-encoding") == "chunked"
            chunks.extend(response.iter_bytes())
        pcm = np.frombuffer(b"".join(chunks), dtype="<i2")
        assert len(pcm) == expected_samples(svc.fake, FOUR)
        assert svc.metric("ttsd_time_to_first_audio_seconds_count", route="/v1/audio/speech") == 1


def test_stream_first_chunk_arrives_before_synthesis_ends() -> None:
    with live_service(max_batch_size=1, faults=FakeOptions(delay_ms_per_batch=250)) as svc:
        body = {"text": FOUR, "format": "wav", "stream": True}
        started = time.perf_counter()
        first_at = None
        batches_at_first = None
        data = b""
        with httpx.stream("POST", f"{svc.url}/tts", json=body, timeout=30) as response:
            assert response.status_code == 200
            for chunk in response.iter_bytes():
                if first_at is None and chunk:
                    first_at = time.perf_counter() - started
                    batches_at_first = len(svc.voice.batches)
                data += chunk
        total = time.perf_counter() - started
        assert first_at is not None
        assert batches_at_first is not None
        assert batches_at_first < 4  # sentences were still to be synthesized
        assert first_at < total - 0.4  # at least two of the four 250 ms batches ran after the first bytes
        audio, rate = sf.read(io.BytesIO(data), dtype="float32")  # a streamed WAV with unknown length
        assert rate == SAMPLE_RATE
        assert len(audio) == expected_samples(svc.fake, FOUR)


def test_disconnect_cancels_queued_items() -> None:
    with live_service(max_batch_size=1, faults=FakeOptions(delay_ms_per_batch=300)) as svc:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{svc.url}/tts", json={"text": SIX}, timeout=httpx.Timeout(5, read=0.45))
        # six 300 ms batches would take 1.8 s; the client left after ~0.45 s
        wait_for(lambda: svc.metric("ttsd_rejected_total", reason="cancelled") >= 1)
        time.sleep(1.0)
        ran = len(svc.voice.batches)
        assert ran <= 3, svc.voice.batches
        assert svc.metric("ttsd_request_duration_seconds_count", route="/tts", status="499") == 1


def test_stream_disconnect_cancels_the_rest() -> None:
    with live_service(max_batch_size=1, faults=FakeOptions(delay_ms_per_batch=300)) as svc:
        with httpx.stream("POST", f"{svc.url}/tts", json={"text": SIX, "stream": True}, timeout=10) as response:
            assert response.status_code == 200
            next(response.iter_bytes())  # the first sentence arrived; now hang up
        wait_for(lambda: svc.metric("ttsd_rejected_total", reason="cancelled") >= 1)
        time.sleep(1.0)
        assert len(svc.voice.batches) <= 3


def test_healthz_is_fast_during_a_long_synthesis() -> None:
    with live_service(faults=FakeOptions(delay_ms_per_batch=1500)) as svc:
        result: dict[str, int] = {}

        def synthesize() -> None:
            result["status"] = httpx.post(f"{svc.url}/tts", json={"text": TEXT}, timeout=30).status_code

        worker = threading.Thread(target=synthesize)
        worker.start()
        wait_for(lambda: len(svc.voice.batches) == 1)
        timings = []
        with httpx.Client(base_url=svc.url) as client:
            for _ in range(7):
                started = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                timings.append(time.perf_counter() - started)
                assert client.get("/readyz").status_code == 200
        still_running = worker.is_alive()
        worker.join(30)
        assert still_running, "the synthesis should still have been running while probing"
        assert result["status"] == 200
        assert statistics.median(timings) < 0.05, timings
