"""Every error class has the JSON shape {"error": {"code", "message"}} and a fitting status; rejections are
counted in ttsd_rejected_total with the DESIGN's reasons."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.service.api_helpers import API_KEY, Service, running_service
from ttsd.voices.options import FakeOptions

TEXT = "欢迎使用中文语音合成服务。"


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, str] = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert "Traceback" not in response.text
    return error


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"text": ""}, 422, "invalid_parameter", "text"),
        ({}, 422, "invalid_parameter", "text"),
        ({"text": "  \n "}, 422, "invalid_text", None),
        ({"text": "好" * 501}, 413, "text_too_long", None),
        ({"text": TEXT, "speed": 5}, 422, "invalid_parameter", "speed"),
        ({"text": TEXT, "speed": "fast"}, 422, "invalid_parameter", "speed"),
        ({"text": TEXT, "pitch": -4}, 422, "invalid_parameter", "pitch"),
        ({"text": TEXT, "volume": 10}, 422, "invalid_parameter", "volume"),
        ({"text": TEXT, "format": "ogg"}, 422, "invalid_parameter", "format"),
        ({"text": TEXT, "sample_rate": 11025}, 422, "invalid_parameter", "sample_rate"),
        ({"text": TEXT, "voice": "nobody"}, 422, "unknown_voice", None),
        ({"text": TEXT, "emotion": "happy"}, 422, "invalid_parameter", "emotion"),
        ({"text": TEXT, "sped": 1.2}, 422, "invalid_parameter", "sped"),
        ({"text": TEXT, "stream": True, "encoding": "base64"}, 422, "invalid_parameter", "encoding"),
    ],
)
async def test_tts_validation_errors(
    service: Service, body: dict[str, object], status: int, code: str, param: str | None
) -> None:
    before = await service.metric("ttsd_rejected_total", reason="invalid")
    error = assert_error(await service.client.post("/tts", json=body), status, code)
    assert error.get("param") == param
    if param is not None:
        assert param in error["message"]  # the message names the field
    assert await service.metric("ttsd_rejected_total", reason="invalid") == before + 1
    assert service.voice.batches == []  # nothing reached the model


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": TEXT, "model": "dall-e-3"}, "model"),
        ({"input": TEXT, "response_format": "ogg"}, "response_format"),
        ({"input": TEXT, "speed": 0.1}, "speed"),
        ({"input": TEXT, "stream_format": "sse"}, "stream_format"),
        ({"model": "tts-1"}, "input"),
    ],
)
async def test_openai_validation_errors(service: Service, body: dict[str, object], param: str) -> None:
    error = assert_error(await service.client.post("/v1/audio/speech", json=body), 422, "invalid_parameter")
    assert error["param"] == param


async def test_unknown_openai_voice_is_an_error(service: Service) -> None:
    response = await service.client.post("/v1/audio/speech", json={"input": TEXT, "voice": "darth"})
    error = assert_error(response, 422, "unknown_voice")
    assert "darth" in error["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"text": "a",}', b"{'text': 'x'}"])
async def test_malformed_json_is_400(service: Service, raw: bytes) -> None:
    response = await service.client.post("/tts", content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [(b"[1, 2]", "application/json"), (b'"text"', "application/json"), ('{"text": "好"}'.encode(), None)],
)
async def test_body_that_is_not_a_json_object_is_400(service: Service, raw: bytes, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    error = assert_error(await service.client.post("/tts", content=raw, headers=headers), 400, "invalid_json")
    assert "Content-Type: application/json" in error["message"]


async def test_unknown_route_and_method(service: Service) -> None:
    assert_error(await service.client.get("/nope"), 404, "not_found")
    assert_error(await service.client.get("/tts"), 405, "method_not_allowed")


async def test_api_key_required_except_public_paths() -> None:
    async with running_service(api_key=API_KEY) as svc:
        c = svc.client
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}):
            response = await c.post("/tts", json={"text": TEXT}, headers=headers)
            assert_error(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"
        assert_error(await c.get("/v1/voices"), 401, "unauthorized")
        ok = await c.post("/tts", json={"text": TEXT}, headers={"Authorization": f"Bearer {API_KEY}"})
        assert ok.status_code == 200
        ok = await c.post("/v1/audio/speech", json={"input": TEXT}, headers={"X-API-Key": API_KEY})
        assert ok.status_code == 200
        for path in ("/healthz", "/readyz", "/metrics", "/", "/static/app.js", "/openapi.json", "/ui/config"):
            assert (await c.get(path)).status_code == 200, path
        assert await svc.metric("ttsd_rejected_total", reason="unauthorized") == 4
        assert (await c.get("/ui/config")).json()["auth_required"] is True


async def test_a_busy_server_refuses_at_admission_with_503_and_retry_after() -> None:
    # About 0.25 s of admitted work (10 audio seconds per second assumed before any batch): one request.
    async with running_service(max_backlog_s=0.25, faults=FakeOptions(delay_ms_per_batch=400)) as svc:
        c = svc.client
        running = asyncio.create_task(c.post("/tts", json={"text": "第一句。"}))
        await _until(lambda: len(svc.voice.batches) == 1)  # the first request is on the model
        response = await c.post("/tts", json={"text": "第二句也想进来，但是服务器正忙。"})
        assert_error(response, 503, "queue_full")
        assert int(response.headers["retry-after"]) >= 1
        assert (await running).status_code == 200
        assert await svc.metric("ttsd_rejected_total", reason="queue_full") == 1
        assert len(svc.voice.batches) == 1  # nothing of the refused request reached the model


async def test_deadline_is_504() -> None:
    async with running_service(max_batch_size=1, faults=FakeOptions(delay_ms_per_batch=500)) as svc:
        c = svc.client
        running = asyncio.create_task(c.post("/tts", json={"text": "第一句。"}))
        await _until(lambda: len(svc.voice.batches) == 1)
        response = await c.post("/tts", json={"text": "第二句。", "timeout_s": 0.1})
        assert_error(response, 504, "timeout")
        assert (await running).status_code == 200
        assert await svc.metric("ttsd_rejected_total", reason="timeout") == 1
        assert len(svc.voice.batches) == 1  # the expired item never reached the model


async def test_backend_failure_is_500_without_details() -> None:
    async with running_service(faults=FakeOptions(fail_on="坏")) as svc:
        response = await svc.client.post("/tts", json={"text": "坏句子。"})
        error = assert_error(response, 500, "backend_error")
        assert "RuntimeError" not in error["message"]
        ok = await svc.client.post("/tts", json={"text": TEXT})
        assert ok.status_code == 200  # one bad input does not break the service


async def test_unexpected_exception_is_a_bare_500() -> None:
    async with running_service() as svc:

        async def boom(*_: object) -> None:
            raise ZeroDivisionError("secret internals")

        svc.engine.speak = boom  # type: ignore[method-assign, assignment]
        response = await svc.client.post("/tts", json={"text": TEXT})
        error = assert_error(response, 500, "internal_error")
        assert "secret" not in response.text
        assert "ZeroDivision" not in response.text
        assert error["message"] == "internal server error"
        text = (await svc.client.get("/metrics")).text
        assert 'ttsd_request_duration_seconds_count{route="/tts",status="500"} 1.0' in text


async def test_draining_refuses_new_work_with_503() -> None:
    async with running_service() as svc:
        state = svc.app.state.service
        drain = state.begin_drain()
        response = await svc.client.post("/tts", json={"text": TEXT})
        assert_error(response, 503, "unavailable")
        assert response.headers["retry-after"] == "1"
        ready = await svc.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "draining"
        await drain
        assert (await svc.client.get("/readyz")).json()["status"] == "stopped"


async def _until(predicate: object, timeout_s: float = 5.0) -> None:
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


@pytest.mark.parametrize(
    "text",
    [
        "<!DOCTYPE speak><speak>你好</speak>",
        '<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY a "你好">]><speak>&a;</speak>',
    ],
)
async def test_a_doctype_makes_markup_and_is_refused_not_read_aloud(text: str) -> None:
    """``input_type`` auto (the default): a DOCTYPE at the start is markup, and DTDs are refused (422) at once,
    with nothing expanded, fetched or synthesized."""
    async with running_service() as svc:
        response = await svc.client.post("/tts", json={"text": text})
        error = assert_error(response, 422, "invalid_markup")
        assert "DTDs and entity declarations" in error["message"]
        assert "not accepted" in error["message"]
