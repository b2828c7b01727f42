"""OpenAPI == server: strict request types, the sample-rate rules, ``emotion: ""``, the security scheme only
with a key, CORS preflight with a key, HEAD probes, 504s at INFO, and every documented status code of every
operation reached by a real request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.api_helpers import API_KEY, Service, running_service
from tests.service.fakes import make_settings
from ttsd.api.schemas import SpeechRequest, TTSRequest
from ttsd.bootstrap import build_app
from ttsd.pipeline.engine import State
from ttsd.voices.options import FakeOptions

AUTH = {"Authorization": f"Bearer {API_KEY}"}
TEXT = "你好。"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("speed", True),
        ("pitch", False),
        ("volume", "1.0"),
        ("stream", 0),
        ("stream", "true"),
        ("variation", 1),
        ("seed", True),
        ("seed", 1.5),
        ("sample_rate", 11025),
    ],
)
async def test_types_are_strict(field: str, value: object) -> None:
    async with running_service() as svc:
        for path, body in (("/tts", {"text": TEXT}), ("/v1/audio/speech", {"input": TEXT})):
            response = await svc.client.post(path, json={**body, field: value})
            assert response.status_code == 422, (path, field, value, response.text)
            assert response.json()["error"]["param"] == field


async def test_empty_emotion_means_none() -> None:
    async with running_service() as svc:
        for path, body in (("/tts", {"text": TEXT}), ("/v1/audio/speech", {"input": TEXT})):
            response = await svc.client.post(path, json={**body, "emotion": ""})
            assert response.status_code == 200, response.text
        unknown = await svc.client.post("/tts", json={"text": TEXT, "emotion": "angry"})
        assert unknown.status_code == 422
    for model in (TTSRequest, SpeechRequest):
        assert model.model_json_schema()["properties"]["emotion"]["anyOf"] == [{"type": "string"}, {"type": "null"}]


@pytest.mark.parametrize(
    ("fmt", "rate", "message"),
    [
        ("opus", 22050, "opus sample_rate must be one of 8000, 12000, 16000, 24000, 48000, got 22050"),
        ("opus", 44100, "opus sample_rate must be one of 8000, 12000, 16000, 24000, 48000, got 44100"),
        ("ulaw", 16000, "ulaw sample_rate must be one of 8000, got 16000"),
    ],
)
async def test_sample_rates_a_codec_cannot_use_are_refused(fmt: str, rate: int, message: str) -> None:
    async with running_service() as svc:
        response = await svc.client.post("/tts", json={"text": TEXT, "format": fmt, "sample_rate": rate})
        assert response.status_code == 422
        assert response.json()["error"] == {"code": "invalid_parameter", "message": message, "param": "sample_rate"}


async def test_ulaw_is_8khz_and_opus_keeps_a_native_rate() -> None:
    async with running_service() as svc:
        ulaw = await svc.client.post("/tts", json={"text": TEXT, "format": "ulaw", "sample_rate": 8000})
        assert (ulaw.status_code, ulaw.headers["x-sample-rate"]) == (200, "8000")
        opus = await svc.client.post("/tts", json={"text": TEXT, "format": "opus", "sample_rate": 12000})
        assert (opus.status_code, opus.headers["x-sample-rate"]) == (200, "12000")
    description = TTSRequest.model_json_schema()["properties"]["sample_rate"]["description"]
    assert "opus takes only 8000, 12000, 16000, 24000, 48000" in description
    assert "ulaw only 8000" in description


def test_bearer_scheme_and_401_only_with_a_key() -> None:
    open_spec = build_app(make_settings()).openapi()
    assert "securitySchemes" not in open_spec.get("components", {})
    for path in ("/v1/voices", "/v1/models"):
        assert "401" not in open_spec["paths"][path]["get"]["responses"]
    keyed = build_app(make_settings(api_key=API_KEY)).openapi()
    assert keyed["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path in ("/tts", "/v1/audio/speech", "/v1/voices", "/v1/models"):
        (operation,) = keyed["paths"][path].values()
        assert "401" in operation["responses"], path
        assert operation["security"] == [{"HTTPBearer": []}]


async def test_cors_preflight_and_401_with_an_api_key() -> None:
    origin = "https://app.example"
    async with running_service(api_key=API_KEY, cors_origins=(origin,)) as svc:
        preflight = await svc.client.options(
            "/v1/audio/speech",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "POST" in preflight.headers["access-control-allow-methods"]
        # The browser can read the 401 (it carries the CORS headers), and a plain OPTIONS still needs the key.
        denied = await svc.client.post("/tts", json={"text": TEXT}, headers={"Origin": origin})
        assert denied.status_code == 401
        assert denied.headers["access-control-allow-origin"] == origin
        assert (await svc.client.options("/tts")).status_code == 401


async def test_head_probes_have_no_body() -> None:
    async with running_service() as svc:
        for path in ("/healthz", "/readyz"):
            response = await svc.client.head(path)
            assert response.status_code == 200
            assert response.content == b""
        svc.engine.state = State.DRAINING
        assert (await svc.client.head("/readyz")).status_code == 503
        svc.engine.state = State.READY


async def test_client_deadline_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    async with running_service(faults=FakeOptions(delay_ms_per_batch=300)) as svc:
        with caplog.at_level(logging.INFO, logger="ttsd.api.errors"):
            response = await _behind_busy(_post("/tts", {"text": TEXT, "timeout_s": 0.05}, headers={}))(svc)
        assert response.status_code == 504
        records = [r for r in caplog.records if r.name == "ttsd.api.errors"]
        assert [r.levelno for r in records] == [logging.INFO]
        assert "DeadlineExceeded on /tts" in records[0].getMessage()


# -- every documented status code is reachable ----------------------------------------------------------

Trigger = Callable[[Service], Awaitable[httpx.Response]]


def _post(path: str, body: Any, **kwargs: Any) -> Trigger:
    async def trigger(svc: Service) -> httpx.Response:
        return await svc.client.post(path, json=body, headers=kwargs.get("headers", AUTH))

    return trigger


def _raw(path: str, content: bytes) -> Trigger:
    async def trigger(svc: Service) -> httpx.Response:
        headers = {**AUTH, "Content-Type": "application/json"}
        return await svc.client.post(path, content=content, headers=headers)

    return trigger


def _get(path: str, *, method: str = "GET", auth: bool = True) -> Trigger:
    async def trigger(svc: Service) -> httpx.Response:
        return await svc.client.request(method, path, headers=AUTH if auth else {})

    return trigger


def _while(state: State, inner: Trigger) -> Trigger:
    """``inner`` while the engine is in ``state`` (draining, or failed)."""

    async def trigger(svc: Service) -> httpx.Response:
        saved = svc.engine.state
        svc.engine.state = state
        try:
            return await inner(svc)
        finally:
            svc.engine.state = saved

    return trigger


def _behind_busy(inner: Trigger) -> Trigger:
    """``inner`` while another request keeps the (slow) voice busy, so ``inner`` waits in the queue."""

    async def trigger(svc: Service) -> httpx.Response:
        busy = asyncio.create_task(svc.client.post("/tts", json={"text": "忙。"}, headers=AUTH))
        await asyncio.sleep(0.05)
        try:
            return await inner(svc)
        finally:
            await busy

    return trigger


def _speech_triggers(path: str, text_field: str) -> dict[str, Trigger]:
    body = {text_field: TEXT}
    return {
        "200": _post(path, body),
        "400": _raw(path, b"{not json"),
        "401": _post(path, body, headers={}),
        "413": _post(path, {text_field: "长" * 600}),
        "422": _post(path, {**body, "speed": 100}),
        "503": _while(State.DRAINING, _post(path, body)),
        "504": _behind_busy(_post(path, {**body, "timeout_s": 0.05})),
    }


UNKNOWN_JOB = "job_0123456789abcdef0123"


async def _job(svc: Service, text: str = TEXT, *, done: bool = True) -> str:
    """A job's id: a finished one (``done``), else one just submitted (queued or running: slow voice)."""
    answer = await svc.client.post("/v1/jobs", json={"input": text, "response_format": "wav"}, headers=AUTH)
    job_id = str(answer.json()["id"])
    while done and (await svc.client.get(f"/v1/jobs/{job_id}", headers=AUTH)).json()["status"] != "succeeded":  # noqa: ASYNC110
        await asyncio.sleep(0.02)  # the job runs in the service: polling is what a client does
    return job_id


def _on_job(method: str, suffix: str = "", *, done: bool = True, **kwargs: Any) -> Trigger:
    """``method /v1/jobs/{id}<suffix>`` on a job of its own (finished, or still queued/running)."""

    async def trigger(svc: Service) -> httpx.Response:
        job_id = await _job(svc, "、".join(["一句话。"] * 30), done=False) if not done else await _job(svc)
        headers = {**AUTH, **kwargs.get("headers", {})}
        return await svc.client.request(method, f"/v1/jobs/{job_id}{suffix}", headers=headers)

    return trigger


def _job_triggers() -> dict[tuple[str, str], dict[str, Trigger]]:
    submit = {"input": TEXT}
    upload = "/v1/jobs/upload"

    def text_upload(content: bytes, params: dict[str, str], *, auth: bool = True) -> Trigger:
        async def trigger(svc: Service) -> httpx.Response:
            headers = {**(AUTH if auth else {}), "Content-Type": "text/plain"}
            return await svc.client.post(upload, content=content, params=params, headers=headers)

        return trigger

    def submissions(post: Callable[[str, dict[str, str]], Trigger]) -> dict[str, Trigger]:
        return {
            "202": post(TEXT, {}),
            "413": post("长" * 2001, {}),
            "422": post(TEXT, {"speed": "100"}),
            "503": _while(State.DRAINING, post(TEXT, {})),
            "507": post("长" * 1900, {}),  # about 46 MB of audio against a 21 MB budget
        }

    as_json = {
        **submissions(lambda text, extra: _post("/v1/jobs", {"input": text, **extra})),
        "400": _raw("/v1/jobs", b"{not json"),
        "401": _post("/v1/jobs", submit, headers={}),
    }
    as_text = {
        **submissions(lambda text, extra: text_upload(text.encode(), extra)),
        "401": text_upload(TEXT.encode(), {}, auth=False),
    }
    missing = f"/v1/jobs/{UNKNOWN_JOB}"
    return {
        ("post", "/v1/jobs"): as_json,
        ("post", upload): as_text,
        ("get", "/v1/jobs"): {
            "200": _get("/v1/jobs"), "401": _get("/v1/jobs", auth=False), "422": _get("/v1/jobs?limit=0"),
        },
        ("get", "/v1/jobs/{job_id}"): {
            "200": _on_job("GET"), "401": _get(missing, auth=False), "404": _get(missing), "422": _get("/v1/jobs/x"),
        },
        ("get", "/v1/jobs/{job_id}/audio"): {
            "200": _on_job("GET", "/audio"),
            "206": _on_job("GET", "/audio", headers={"Range": "bytes=0-9"}),
            "401": _get(f"{missing}/audio", auth=False),
            "404": _get(f"{missing}/audio"),
            "409": _on_job("GET", "/audio", done=False),
            "416": _on_job("GET", "/audio", headers={"Range": "bytes=999999999-"}),
            "422": _get("/v1/jobs/x/audio"),
        },
        ("get", "/v1/jobs/{job_id}/subtitles"): {
            "200": _on_job("GET", "/subtitles"),
            "401": _get(f"{missing}/subtitles", auth=False),
            "404": _get(f"{missing}/subtitles"),
            "409": _on_job("GET", "/subtitles", done=False),
            "422": _on_job("GET", "/subtitles?format=ass"),
        },
        ("post", "/v1/jobs/{job_id}/cancel"): {
            "200": _on_job("POST", "/cancel", done=False),
            "401": _get(f"{missing}/cancel", method="POST", auth=False),
            "404": _get(f"{missing}/cancel", method="POST"),
            "409": _on_job("POST", "/cancel"),
            "422": _get("/v1/jobs/x/cancel", method="POST"),
        },
        ("delete", "/v1/jobs/{job_id}"): {
            "204": _on_job("DELETE"),
            "401": _get(missing, method="DELETE", auth=False),
            "404": _get(missing, method="DELETE"),
            "422": _get("/v1/jobs/x", method="DELETE"),
        },
    }  # fmt: skip


TRIGGERS: dict[tuple[str, str], dict[str, Trigger]] = {
    ("post", "/tts"): _speech_triggers("/tts", "text"),
    ("post", "/v1/audio/speech"): _speech_triggers("/v1/audio/speech", "input"),
    ("get", "/v1/voices"): {"200": _get("/v1/voices"), "401": _get("/v1/voices", auth=False)},
    ("get", "/v1/models"): {"200": _get("/v1/models"), "401": _get("/v1/models", auth=False)},
    ("get", "/healthz"): {"200": _get("/healthz"), "503": _while(State.FAILED, _get("/healthz"))},
    ("head", "/healthz"): {
        "200": _get("/healthz", method="HEAD"),
        "503": _while(State.FAILED, _get("/healthz", method="HEAD")),
    },
    ("get", "/readyz"): {"200": _get("/readyz"), "503": _while(State.DRAINING, _get("/readyz"))},
    ("head", "/readyz"): {
        "200": _get("/readyz", method="HEAD"),
        "503": _while(State.DRAINING, _get("/readyz", method="HEAD")),
    },
    ("get", "/metrics"): {"200": _get("/metrics")},
    ("get", "/ui/config"): {"200": _get("/ui/config")},
    **_job_triggers(),
}


@pytest.mark.slow  # about 5 s: `make test` runs it
async def test_every_documented_status_code_is_reachable(tmp_path: Path) -> None:
    async with running_service(
        api_key=API_KEY, cache_bytes=0, faults=FakeOptions(delay_ms_per_batch=200), with_jobs=True,
        jobs_dir=tmp_path, jobs_max_chars=2000, jobs_quota_gb=0.02,
    ) as svc:  # fmt: skip
        documented = {
            (method, path): set(operation["responses"])
            for path, operations in svc.app.openapi()["paths"].items()
            for method, operation in operations.items()
        }
        assert documented == {key: set(codes) for key, codes in TRIGGERS.items()}
        for (method, path), codes in TRIGGERS.items():
            for code, trigger in codes.items():
                response = await trigger(svc)
                assert str(response.status_code) == code, (method, path, code, response.text)
