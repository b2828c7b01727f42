"""Helpers for the text-in WebSocket tests: ttsd's own server (its protocols and limits) on the fake voice, in a
thread, and a small client over the ``websockets`` package.

* ``ws_service(...)``: context manager -> :class:`WsService` (base URLs, the fake service, settings); settings
  overrides, fake-voice faults and an admission config are arguments.
* ``talk(url, messages, ...)``: open a session, send the messages (dicts as JSON, ``str``/``bytes`` as they
  are), read to the end; returns a :class:`Transcript` (audio bytes, JSON frames, close code).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.service.api_helpers import live_server
from tests.service.fakes import FakeService, fake_engine, make_settings
from ttsd.api import create_app
from ttsd.config import Settings
from ttsd.metrics import Metrics
from ttsd.pipeline.admission import AdmissionConfig
from ttsd.voices.options import FakeOptions

WS_PATH = "/v1/audio/speech/ws"


@dataclass
class WsService:
    url: str  # http://127.0.0.1:PORT
    fake: FakeService
    settings: Settings

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + WS_PATH

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.fake.metric(name, labels)

    @property
    def queue_depth(self) -> int:
        return self.fake.engine.queue_depth


@contextlib.contextmanager
def ws_service(
    *, faults: FakeOptions | None = None, admission: AdmissionConfig | None = None, **overrides: Any
) -> Iterator[WsService]:
    values: dict[str, Any] = {"max_text_chars": 5000, "max_phonemes": 160, "cache_bytes": 0}
    values.update(overrides)
    settings = make_settings(**values)
    fake = fake_engine(settings, Metrics(), faults=faults, admission=admission)
    app = create_app(settings, engine=fake.engine, metrics=fake.metrics)
    with live_server(app, settings=settings) as url:
        yield WsService(url=url, fake=fake, settings=settings)


@dataclass
class Transcript:
    audio: bytearray = field(default_factory=bytearray)
    frames: list[dict[str, Any]] = field(default_factory=list)  # JSON frames, in order
    binary_frames: int = 0
    close_code: int | None = None
    first_audio_at: float | None = None  # perf_counter

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == kind]

    @property
    def error(self) -> dict[str, Any] | None:
        errors = self.of_type("error")
        return errors[0] if errors else None


async def read_all(ws: ClientConnection, transcript: Transcript, timeout_s: float = 20.0) -> Transcript:
    """Read frames until the server closes the socket."""
    try:
        async with asyncio.timeout(timeout_s):
            async for frame in ws:
                if isinstance(frame, bytes):
                    if transcript.first_audio_at is None:
                        transcript.first_audio_at = time.perf_counter()
                    transcript.audio.extend(frame)
                    transcript.binary_frames += 1
                else:
                    transcript.frames.append(json.loads(frame))
    except ConnectionClosed:
        pass
    transcript.close_code = ws.close_code
    return transcript


async def send(ws: ClientConnection, message: dict[str, Any] | str | bytes) -> None:
    await ws.send(json.dumps(message, ensure_ascii=False) if isinstance(message, dict) else message)


async def talk(
    url: str, messages: Sequence[dict[str, Any] | str | bytes], *, timeout_s: float = 20.0, **connect_args: Any
) -> Transcript:
    """Send every message (the server may close early: later sends are skipped), then read to the close."""
    transcript = Transcript()
    async with connect(url, max_size=None, **connect_args) as ws:
        reader = asyncio.create_task(read_all(ws, transcript, timeout_s))
        with contextlib.suppress(ConnectionClosed):
            for message in messages:
                await send(ws, message)
        await reader
    return transcript


def pieces(text: str, sizes: Sequence[int] = (2, 3, 4, 1)) -> list[dict[str, Any]]:
    """``text`` as ``text`` messages of the given sizes in turn (an LLM writing)."""
    out, i, k = [], 0, 0
    while i < len(text):
        n = sizes[k % len(sizes)]
        out.append({"type": "text", "text": text[i : i + n]})
        i += n
        k += 1
    return out
