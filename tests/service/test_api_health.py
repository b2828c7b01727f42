"""Probes, metrics, docs and the page over ASGI: readiness follows the engine's lifecycle, metrics move with
the DESIGN's names and labels."""

from __future__ import annotations

import asyncio
import threading

import httpx

from tests.service.api_helpers import Service, metric_value
from tests.service.fakes import make_settings
from ttsd.api import create_app
from ttsd.bootstrap import engine_config
from ttsd.errors import AssetError
from ttsd.metrics import Metrics
from ttsd.pipeline.engine import TTSEngine
from ttsd.pipeline.lane import LoadedVoice
from ttsd.serving.executors import make_executor
from ttsd.text.plain import PlainFrontend
from ttsd.voices.fake import FakeVoice
from ttsd.voices.options import VoiceOptions

TEXT = "欢迎使用中文语音合成服务。今天天气很好！"


async def test_healthz_and_readyz(service: Service) -> None:
    assert (await service.client.get("/healthz")).json() == {"status": "ok"}
    ready = await service.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "voices": ["fake"],
        "queue_depth": 0,
        "device": "cpu",
        "executor": "cpu-thread",
    }


async def test_readyz_is_503_until_the_engine_has_started() -> None:
    settings = make_settings()
    metrics = Metrics()
    release = threading.Event()
    voice = FakeVoice(options=VoiceOptions())

    def slow_load() -> list[LoadedVoice]:  # stands in for loading a real voice
        release.wait(10)
        return [LoadedVoice(voice=voice, executor=make_executor("cpu", voice))]

    engine = TTSEngine(config=engine_config(settings), metrics=metrics, frontend=PlainFrontend(), load=slow_load)
    app = create_app(settings, engine=engine, metrics=metrics)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        starting = await c.get("/readyz")
        assert starting.status_code == 503
        assert starting.json()["status"] == "starting"
        assert (await c.get("/healthz")).status_code == 200  # alive while loading
        refused = await c.post("/tts", json={"text": TEXT})
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "unavailable"
        release.set()
        for _ in range(200):
            if (await c.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.01)
        assert (await c.get("/readyz")).status_code == 200
        assert (await c.post("/tts", json={"text": TEXT})).status_code == 200


async def test_failed_startup_is_reported_by_the_probes() -> None:
    settings = make_settings()
    metrics = Metrics()
    failures: list[BaseException] = []

    def broken_load() -> list[LoadedVoice]:
        raise AssetError("model files missing")

    engine = TTSEngine(
        config=engine_config(settings),
        metrics=metrics,
        frontend=PlainFrontend(),
        load=broken_load,
        on_failure=failures.append,
    )
    app = create_app(settings, engine=engine, metrics=metrics)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        for _ in range(100):
            if failures:
                break
            await asyncio.sleep(0.01)
        assert [str(f) for f in failures] == ["model files missing"]
        ready = await c.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "failed"
        assert (await c.get("/healthz")).status_code == 503


async def test_readyz_is_503_while_draining(service: Service) -> None:
    drain = service.app.state.service.begin_drain()
    ready = await service.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "draining"
    await drain
    assert (await service.client.get("/readyz")).status_code == 503


async def test_metrics_move_with_design_names(service: Service) -> None:
    c = service.client
    assert (await c.post("/tts", json={"text": TEXT})).status_code == 200
    assert (await c.post("/v1/audio/speech", json={"input": TEXT, "stream": True})).status_code == 200
    assert (await c.post("/tts", json={"text": TEXT, "speed": 99})).status_code == 422
    scrape = await c.get("/metrics")
    assert scrape.headers["content-type"].startswith("text/plain")
    text = scrape.text

    def value(name: str, **labels: str) -> float:
        return metric_value(text, name, **labels)

    assert value("ttsd_request_duration_seconds_count", route="/tts", status="200") == 1
    assert value("ttsd_request_duration_seconds_count", route="/tts", status="422") == 1
    assert value("ttsd_request_duration_seconds_count", route="/v1/audio/speech", status="200") == 1
    assert value("ttsd_time_to_first_audio_seconds_count", route="/tts") == 1
    assert value("ttsd_time_to_first_audio_seconds_count", route="/v1/audio/speech") == 1
    assert value("ttsd_rejected_total", reason="invalid") == 1
    assert value("ttsd_characters_total", voice="fake") == 2 * len(TEXT)
    assert value("ttsd_audio_seconds_total", voice="fake") > 1.0
    assert value("ttsd_batch_size_count", voice="fake") >= 1
    assert value("ttsd_queue_depth") == 0
    for reason in ("queue_full", "timeout", "cancelled", "invalid", "unauthorized"):
        assert ("ttsd_rejected_total", frozenset({("reason", reason)})) in _keys(text)


async def test_request_duration_uses_route_templates(service: Service) -> None:
    await service.client.get("/static/style.css")
    await service.client.get("/no/such/path/123")
    text = (await service.client.get("/metrics")).text
    assert 'route="/static"' in text
    assert 'route="unmatched",status="404"' in text
    assert "/no/such/path" not in text


async def test_docs_openapi_and_page(service: Service) -> None:
    c = service.client
    spec = (await c.get("/openapi.json")).json()
    assert {"/tts", "/v1/audio/speech", "/v1/voices", "/v1/models", "/healthz", "/readyz"} <= set(spec["paths"])
    speech_schema = spec["components"]["schemas"]["SpeechRequest"]["properties"]
    assert "description" in speech_schema["input"]
    assert "sample_rate" in speech_schema
    docs = await c.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    # Offline: the docs page loads its scripts and styles from this server, never from a CDN.
    assert "cdn" not in docs.text.lower()
    assert "https://" not in docs.text
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
        assert asset in docs.text
        assert (await c.get(asset)).status_code == 200
    page = await c.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in page.text
        assert (await c.get(asset)).status_code == 200
    assert "http://" not in page.text
    assert "https://" not in page.text
    config = (await c.get("/ui/config")).json()
    assert config["max_text_chars"] == service.settings.max_text_chars
    assert config["auth_required"] is False
    assert "wav" in config["formats"]


def _keys(text: str) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    from tests.service.api_helpers import parse_metrics

    return set(parse_metrics(text))
