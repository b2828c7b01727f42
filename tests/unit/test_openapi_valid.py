"""openapi.json is a valid OpenAPI 3.1 document (openapi-spec-validator), its examples are real (every request
example is accepted and answered with audio by the fake-voice app, every error example has the service's error
shape), and the docs pages load only files this server serves."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from pydantic import BaseModel

from ttsd.api.docs import ASSET_FILES, assets_dir
from ttsd.api.schemas import SPEECH_EXAMPLES, TTS_EXAMPLES, ErrorResponse, SpeechRequest, TTSRequest
from ttsd.bootstrap import build_app
from ttsd.config import Settings

SYNTHESIS: dict[str, type[BaseModel]] = {"/tts": TTSRequest, "/v1/audio/speech": SpeechRequest}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = build_app(Settings(voice="fake", warmup=False))
    with TestClient(app) as test_client:
        deadline = time.monotonic() + 30
        while test_client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the fake-voice app did not become ready"
            time.sleep(0.02)
        yield test_client


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def _request_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    ref = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def test_openapi_json_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1.")
    validate(spec, cls=OpenAPIV31SpecValidator)


def test_the_validator_rejects_a_broken_document(spec: dict[str, Any]) -> None:
    broken = copy.deepcopy(spec)
    del broken["paths"]["/tts"]["post"]["responses"]["200"]["description"]  # required by OpenAPI
    with pytest.raises(OpenAPIValidationError):
        validate(broken, cls=OpenAPIV31SpecValidator)


@pytest.mark.parametrize("path", sorted(SYNTHESIS))
def test_each_request_body_has_chinese_and_streaming_examples(spec: dict[str, Any], path: str) -> None:
    examples = _request_schema(spec, path)["examples"]
    assert len(examples) >= 3
    text_field = "text" if path == "/tts" else "input"
    assert all(re.search(r"[\u4e00-\u9fff]", example[text_field]) for example in examples)
    assert any(example.get("stream") is True for example in examples)
    for example in examples:
        SYNTHESIS[path].model_validate(example)  # the schema's own model accepts every example


@pytest.mark.parametrize(
    ("path", "example"),
    [("/tts", e["value"]) for e in TTS_EXAMPLES.values()]
    + [("/v1/audio/speech", e["value"]) for e in SPEECH_EXAMPLES.values()],
)
def test_every_request_example_is_answered_with_audio(client: TestClient, path: str, example: dict[str, Any]) -> None:
    response = client.post(path, json=example)
    assert response.status_code == 200, response.text
    if example.get("encoding") == "base64":
        assert response.json()["duration_s"] > 0
    else:
        assert response.headers["content-type"].startswith("audio/")
        assert len(response.content) > 1000


@pytest.mark.parametrize("path", sorted(SYNTHESIS))
def test_every_error_response_shows_the_error_body(spec: dict[str, Any], path: str) -> None:
    responses = spec["paths"][path]["post"]["responses"]
    errors = {status: r for status, r in responses.items() if status[0] in "45"}
    assert {"400", "413", "422", "503", "504"} <= set(errors)
    for status, response in errors.items():
        content = response["content"]["application/json"]
        assert content["schema"]["$ref"].endswith("/ErrorResponse")
        ErrorResponse.model_validate(content["example"])
        assert content["example"]["error"]["message"], status


def test_error_examples_match_what_the_service_answers(client: TestClient) -> None:
    answered = client.post("/tts", json={"text": "你好", "speed": 99}).json()
    documented = client.get("/openapi.json").json()["paths"]["/tts"]["post"]["responses"]["422"]
    example = documented["content"]["application/json"]["example"]
    assert answered["error"]["code"] == example["error"]["code"]
    assert answered["error"]["param"] == example["error"]["param"]
    assert answered["error"]["message"].split(":")[0] == example["error"]["message"].split(":")[0]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_files(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    urls = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert urls, "the page loads no scripts or styles"
    for url in urls:
        assert url.startswith("/docs-assets/"), url
        assert client.get(url).status_code == 200, url
    assert "https://" not in response.text


def test_the_package_ships_every_asset() -> None:
    for name in ASSET_FILES:
        assert (assets_dir() / name).stat().st_size > 1000, name
