"""Helpers for the hostile-load tests: ttsd's own server (``ttsd.api.server.build_server``: guarded protocol,
draining server) on 127.0.0.1 in a thread, over the fake voice, and raw-socket clients."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from tests.service.api_helpers import free_port
from tests.service.fakes import fake_engine, make_settings
from ttsd.api import create_app
from ttsd.api.server import DrainingServer, build_server
from ttsd.bootstrap import build_jobs
from ttsd.config import Settings
from ttsd.metrics import Metrics
from ttsd.voices.fake import FakeVoice
from ttsd.voices.options import FakeOptions


@dataclass
class Guarded:
    url: str
    port: int
    server: DrainingServer
    voice: FakeVoice
    settings: Settings

    def open_connections(self) -> int:
        return len(self.server.server_state.connections)


@contextlib.contextmanager
def guarded_service(
    *, faults: FakeOptions | None = None, with_jobs: bool = False, **overrides: Any
) -> Iterator[Guarded]:
    """``with_jobs``: with the long-form job service (give ``jobs_dir``)."""
    settings = make_settings(**overrides)
    fake = fake_engine(settings, Metrics(), faults=faults)
    voice = fake.voice
    jobs = build_jobs(settings, fake.engine, fake.metrics) if with_jobs else None
    app = create_app(settings, engine=fake.engine, metrics=fake.metrics, jobs=jobs)
    port = free_port()
    server = build_server(app, settings, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    thread = threading.Thread(target=server.run, name="ttsd-guarded-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), timeout_s=15)
        yield Guarded(url, port, server, voice, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def wait_until(predicate: Any, *, timeout_s: float = 10.0, every_s: float = 0.02) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(every_s)


def raw_connection(port: int, *, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    return sock


def is_closed_by_peer(sock: socket.socket, *, timeout_s: float = 0.2) -> bool:
    """True when the server has closed (EOF or reset); False when it is still open and silent."""
    sock.settimeout(timeout_s)
    try:
        data = sock.recv(65536)
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return data == b"" or data.startswith(b"HTTP/1.1 408")


def read_response(sock: socket.socket, *, timeout_s: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout_s)
    parts: list[bytes] = []
    with contextlib.suppress(ConnectionError):
        while chunk := sock.recv(65536):
            parts.append(chunk)
    return b"".join(parts)


def post_head(path: str, *, content_length: int | None, chunked: bool = False, close: bool = True) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
