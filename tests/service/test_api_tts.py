"""POST /tts and POST /v1/audio/speech over ASGI on the fake voice: audio is valid, at the right rate and
length, in every format; base64 JSON, streaming and the OpenAI-shaped request all work."""

from __future__ import annotations

import base64
import io

import av
import httpx
import numpy as np
import pytest
import soundfile as sf

from tests.service.api_helpers import Service, running_service
from tests.service.fakes import expected_samples
from ttsd.audio import FORMATS
from ttsd.voices.fake import SAMPLE_RATE

TEXT = "欢迎使用中文语音合成服务。今天天气很好！"


def decode_any(data: bytes, fmt: str, rate: int) -> tuple[np.ndarray, int]:
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768, rate
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
        return samples.astype(np.float32), stream.rate


async def test_tts_returns_wav_of_the_expected_length(service: Service) -> None:
    # the original curl: -H "Content-Type: application/json" -d '{"text": "..."}'
    body = '{"text": "欢迎使用中文语音合成服务"}'.encode()
    response = await service.client.post("/tts", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    audio, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    info = sf.info(io.BytesIO(response.content))
    assert (info.subtype, rate) == ("PCM_16", SAMPLE_RATE)
    assert len(audio) == expected_samples(service.fake, "欢迎使用中文语音合成服务")
    assert np.sqrt(np.mean(audio**2)) > 0.1  # a tone, not silence
    assert float(response.headers["x-audio-duration"]) == pytest.approx(len(audio) / rate, abs=1e-3)


async def test_tts_joins_sentences_with_pauses(service: Service) -> None:
    response = await service.client.post("/tts", json={"text": TEXT})
    audio, _ = sf.read(io.BytesIO(response.content), dtype="float32")
    assert len(audio) == expected_samples(service.fake, TEXT)
    assert response.headers["x-sentences"] == "2"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_every_format_decodes(client: httpx.AsyncClient, fmt: str) -> None:
    response = await client.post("/tts", json={"text": TEXT, "format": fmt})
    assert response.status_code == 200, response.text
    rate = int(response.headers["x-sample-rate"])
    duration = float(response.headers["x-audio-duration"])
    samples, decoded_rate = decode_any(response.content, fmt, rate)
    assert len(samples) / decoded_rate == pytest.approx(duration, abs=0.1)
    assert np.abs(samples).max() > 0.1


@pytest.mark.parametrize(("fmt", "rate"), [("wav", 8000), ("wav", 44100), ("mp3", 16000), ("flac", 48000)])
async def test_sample_rate_is_honoured(client: httpx.AsyncClient, fmt: str, rate: int) -> None:
    response = await client.post("/tts", json={"text": TEXT, "format": fmt, "sample_rate": rate})
    assert response.status_code == 200
    _, decoded_rate = decode_any(response.content, fmt, rate)
    assert decoded_rate == rate == int(response.headers["x-sample-rate"])


async def test_ulaw_is_8khz_mulaw_wav(client: httpx.AsyncClient) -> None:
    response = await client.post("/tts", json={"text": TEXT, "format": "ulaw"})
    info = sf.info(io.BytesIO(response.content))
    assert (info.format, info.subtype, info.samplerate) == ("WAV", "ULAW", 8000)


async def test_speed_and_volume_change_the_audio(service: Service) -> None:
    normal = await service.client.post("/tts", json={"text": TEXT})
    fast_quiet = await service.client.post("/tts", json={"text": TEXT, "speed": 2.0, "volume": 0.5})
    a, _ = sf.read(io.BytesIO(normal.content), dtype="float32")
    b, _ = sf.read(io.BytesIO(fast_quiet.content), dtype="float32")
    assert len(b) == expected_samples(service.fake, TEXT, speed=2.0) < len(a)
    assert np.abs(b).max() == pytest.approx(np.abs(a).max() * 0.5, rel=0.02)


async def test_base64_encoding_returns_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/tts", json={"text": TEXT, "encoding": "base64", "format": "flac"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert (body["format"], body["media_type"], body["sample_rate"]) == ("flac", "audio/flac", SAMPLE_RATE)
    audio, rate = sf.read(io.BytesIO(base64.b64decode(body["audio"])))
    assert len(audio) / rate == pytest.approx(body["duration_s"], abs=1e-3)
    assert body["sentences"] == 2
    assert body["characters"] == len(TEXT)


async def test_streamed_tts_equals_whole_pcm(client: httpx.AsyncClient) -> None:
    whole = await client.post("/tts", json={"text": TEXT, "format": "pcm"})
    streamed = await client.post("/tts", json={"text": TEXT, "format": "wav", "stream": True})
    assert streamed.status_code == 200
    assert streamed.content[:4] == b"RIFF"
    assert streamed.content[44:] == whole.content


async def test_openai_route_defaults_to_mp3(service: Service) -> None:
    response = await service.client.post("/v1/audio/speech", json={"model": "tts-1", "input": TEXT, "voice": "alloy"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    samples, rate = decode_any(response.content, "mp3", SAMPLE_RATE)
    assert len(samples) / rate == pytest.approx(expected_samples(service.fake, TEXT) / SAMPLE_RATE, abs=0.1)


@pytest.mark.parametrize("voice", ["alloy", "echo", "shimmer", "fake", None])
@pytest.mark.parametrize("model", ["tts-1", "tts-1-hd", "ttsd", "fake"])
async def test_openai_voice_and_model_names_are_accepted(
    client: httpx.AsyncClient, voice: str | None, model: str
) -> None:
    body = {"model": model, "input": "你好。", "response_format": "pcm"}
    if voice is not None:
        body["voice"] = voice
    response = await client.post("/v1/audio/speech", json=body)
    assert response.status_code == 200, response.text
    assert len(response.content) > 0


async def test_openai_route_takes_extensions(service: Service) -> None:
    response = await service.client.post(
        "/v1/audio/speech",
        json={"input": TEXT, "response_format": "wav", "speed": 1.5, "pitch": 1.0, "intonation": 0.5,
              "energy": 1.2, "volume": 0.8, "sample_rate": 16000, "seed": 7, "variation": True,
              "instructions": "ignored", "some_future_field": 1},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    info = sf.info(io.BytesIO(response.content))
    assert info.samplerate == 16000
    assert info.duration == pytest.approx(expected_samples(service.fake, TEXT, speed=1.5) / SAMPLE_RATE, abs=0.01)


async def test_voices_and_models(client: httpx.AsyncClient) -> None:
    voices = (await client.get("/v1/voices")).json()
    assert voices["object"] == "list"
    card = voices["data"][0]
    assert card["id"] == "fake"
    assert card["default"] is True
    assert "alloy" in card["aliases"]
    assert card["sample_rate"] == SAMPLE_RATE
    models = {m["id"] for m in (await client.get("/v1/models")).json()["data"]}
    assert {"tts-1", "tts-1-hd", "ttsd"} <= models


async def test_cached_sentences_are_reported() -> None:
    async with running_service(cache_bytes=1 << 20) as svc:
        first = await svc.client.post("/tts", json={"text": TEXT})
        second = await svc.client.post("/tts", json={"text": TEXT})
    assert first.headers["x-cached-sentences"] == "0"
    assert second.headers["x-cached-sentences"] == "2"
    assert first.content == second.content


@pytest.mark.parametrize("fmt", FORMATS)
async def test_streamed_formats_decode(service: Service, fmt: str) -> None:
    response = await service.client.post(
        "/v1/audio/speech", json={"input": TEXT, "response_format": fmt, "stream": True}
    )
    assert response.status_code == 200, response.text
    rate = int(response.headers["x-sample-rate"])
    samples, decoded_rate = decode_any(response.content, fmt, rate)
    expected = expected_samples(service.fake, TEXT) / SAMPLE_RATE
    assert len(samples) / decoded_rate == pytest.approx(expected, abs=0.1)


async def test_variation_without_a_seed_is_never_served_from_the_cache() -> None:
    async with running_service(cache_bytes=1 << 20) as svc:
        fresh = [await svc.client.post("/tts", json={"text": TEXT, "variation": True}) for _ in range(2)]
        seeded = [await svc.client.post("/tts", json={"text": TEXT, "variation": True, "seed": 3}) for _ in range(2)]
    assert [r.headers["x-cached-sentences"] for r in fresh] == ["0", "0"]
    assert [r.headers["x-cached-sentences"] for r in seeded] == ["0", "2"]


@pytest.mark.parametrize(
    "body",
    [
        {"text": TEXT},
        {"text": TEXT, "stream": True},
        {"text": TEXT, "timestamps": True},
        {"text": TEXT, "stream": True, "timestamps": True},
        {"text": TEXT, "encoding": "base64"},
    ],
)
async def test_every_audio_response_names_its_voice(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    response = await client.post("/tts", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-voice"] == "fake"


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    given = await client.post("/tts", json={"text": TEXT}, headers={"X-Request-Id": "trace-7.a"})
    made = await client.post("/tts", json={"text": TEXT}, headers={"X-Request-Id": "bad id with spaces"})
    refused = await client.post("/tts", json={"text": ""})
    assert given.headers["x-request-id"] == "trace-7.a"
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 16
    assert refused.status_code == 422
    assert refused.headers["x-request-id"]
