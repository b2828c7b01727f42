"""Fuzzing the endpoint with markup: whatever SSML-like text arrives, ``/tts`` answers 200, 413 or 422 with a
JSON error, fast; never a 500, a hang or a crash (the parser's own hostile cases are in tests/unit)."""

from __future__ import annotations

import time

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.service.api_helpers import live_service

pytestmark = pytest.mark.slow  # subprocesses or real servers: run by `make test`, not `make test-fast`

TAGS = ["speak", "p", "s", "break", "prosody", "say-as", "phoneme", "sub", "voice", "emphasis", "x", "!DOCTYPE"]
ATTRS = ['time="500ms"', 'time="-1s"', 'rate="200%"', 'pitch="+90st"', 'volume="x-loud"', 'interpret-as="digits"',
         'alphabet="py"', 'ph="ni3 hao3"', 'alias="别名"', 'name="fake"', 'name="nobody"', 'strength="x-strong"',
         'format="ymd"', 'rate="abc"', "&amp;", "&bogus;", '"']  # fmt: skip
PIECES = st.one_of(
    st.sampled_from(TAGS).map(lambda t: f"<{t}>"),
    st.sampled_from(TAGS).map(lambda t: f"</{t}>"),
    st.tuples(st.sampled_from(TAGS), st.sampled_from(ATTRS)).map(lambda p: f"<{p[0]} {p[1]}>"),
    st.tuples(st.sampled_from(TAGS), st.sampled_from(ATTRS)).map(lambda p: f"<{p[0]} {p[1]}/>"),
    st.sampled_from(["你好", "382915", "，", "。", "GPU", "<!--", "-->", "<![CDATA[", "]]>", "\x00", "&#0;"]),
    st.text(max_size=5),
)
DOCUMENTS = st.lists(PIECES, max_size=30).map(lambda parts: "<speak>" + "".join(parts) + "</speak>")


def test_markup_never_breaks_the_endpoint() -> None:
    with live_service(max_text_chars=300) as svc, httpx.Client(base_url=svc.url, timeout=10) as client:

        @given(document=DOCUMENTS)
        @seed(20261201)
        @settings(max_examples=120, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def run(document: str) -> None:
            started = time.monotonic()
            response = client.post("/tts", json={"text": document, "input_type": "ssml", "format": "pcm"})
            assert response.status_code in (200, 413, 422), (response.status_code, response.text, document)
            if response.status_code != 200:
                assert response.json()["error"]["message"]
            assert time.monotonic() - started < 5.0, document

        run()
        assert client.get("/healthz").status_code == 200
