"""``GET /v1/audio/speech/ws``: text in over a WebSocket while it is still being written, audio out as sentences
complete (README "Streaming text in").

The route opens one engine session (``engine.open_session``) and runs two tasks until either ends: a reader
(client messages -> ``session.feed/flush/end``; it stops reading while the session's read-ahead is full, so a
fast sender is held back by TCP) and a writer (``session.output()`` -> binary audio frames, ``sentence`` and
``done`` JSON frames). Whatever ends the session - done, an error frame and its close code, the client gone, the
idle timeout - closes it, which cancels its queued work at once. The API key and the Origin rules are checked on
the upgrade (:mod:`ttsd.api.ws_guard`); messages larger than ``TTSD_WS_MAX_MESSAGE_BYTES`` are refused by the
protocol itself (close 1009).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from ttsd.api.deps import ServiceState
from ttsd.api.errors import count_rejection, status_of
from ttsd.api.middleware import GONE_EXTENSION
from ttsd.api.session_messages import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_TRY_LATER,
    ClientMessage,
    ConfigMessage,
    EndMessage,
    FlushMessage,
    ProtocolError,
    TextMessage,
    parse,
)
from ttsd.errors import QueueFull, TTSError
from ttsd.pipeline.session import Session, SessionDone, SpokenSentence

log = logging.getLogger(__name__)
router = APIRouter(tags=["speech"])

PATH = "/v1/audio/speech/ws"
SUBPROTOCOL = "ttsd"
KEY_SUBPROTOCOL = "ttsd-key."  # browsers cannot set headers on a WebSocket: the key may come as a subprotocol
_BURST_S = 0.05  # messages may arrive this far ahead of the pace before the reader waits


class _Gone(Exception):
    """The client closed the socket (or the protocol closed it: a message too large)."""


@router.websocket(PATH)
async def speech_ws(websocket: WebSocket) -> None:
    """Text in (JSON ``config``/``text``/``flush``/``end``), audio out (binary frames, JSON ``sentence``/``done``/
    ``error``)."""
    state: ServiceState = websocket.app.state.service
    await websocket.accept(subprotocol=_subprotocol(websocket.scope.get("subprotocols") or []))
    await _Connection(websocket, state).run()


def _subprotocol(offered: list[str]) -> str | None:
    if SUBPROTOCOL in offered:
        return SUBPROTOCOL
    return next((p for p in offered if p.startswith(KEY_SUBPROTOCOL)), None)


@dataclass(slots=True)
class _Connection:
    websocket: WebSocket
    state: ServiceState
    session: Session | None = None
    _slot: float = 0.0

    async def run(self) -> None:
        try:
            await self._serve()
        except _Gone:
            pass
        except ProtocolError as exc:
            await self._fail(exc.code, exc.message, exc.close)
        except TTSError as exc:
            count_rejection(self.state.metrics, exc)
            await self._fail(exc.code, exc.message, _close_code(exc), _retry_after(exc))
        except Exception:
            log.exception("WebSocket session failed")
            await self._fail("internal_error", "internal server error", CLOSE_INTERNAL)
        else:
            await self._close(CLOSE_NORMAL)
        finally:
            if self.session is not None:
                self.session.close()

    async def _serve(self) -> None:
        first = await self._next()
        config = first if isinstance(first, ConfigMessage) else ConfigMessage(type="config")
        settings = self.state.settings
        self.session = self.state.engine.open_session(
            config.session_config(
                max_chars=settings.ws_max_session_chars, read_ahead_chars=settings.ws_read_ahead_chars
            )
        )
        writer = asyncio.create_task(self._write(self.session, timestamps=config.timestamps), name="ttsd-ws-writer")
        reader = asyncio.create_task(
            self._read(self.session, None if first is config else first), name="ttsd-ws-reader"
        )
        tasks = {reader, writer}
        gone = (self.websocket.scope.get("extensions") or {}).get(GONE_EXTENSION, {}).get("event")
        if gone is not None:  # ttsd's protocol: the client leaving ends the session even while nothing reads
            tasks.add(asyncio.create_task(_until(gone), name="ttsd-ws-gone"))
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        errors = [exc for exc in (task.exception() for task in done) if exc is not None]
        if errors:  # what ended the session (the writer returns when it is done); the client gone matters least
            raise min(errors, key=lambda exc: isinstance(exc, _Gone))

    async def _read(self, session: Session, message: ClientMessage | None) -> None:
        while True:
            if message is None:
                message = await self._next()
            if session.ended:
                raise ProtocolError("message_after_end", f"no message may follow 'end' (got {message.type!r})")
            if isinstance(message, ConfigMessage):
                raise ProtocolError("config_after_text", "'config' must be the first message, and only one")
            if isinstance(message, TextMessage):
                session.take(message.text)
            elif isinstance(message, FlushMessage):
                session.flush()
            elif isinstance(message, EndMessage):
                session.end()
            message = None if session.has_room else await self._await_room(session)

    async def _await_room(self, session: Session) -> ClientMessage | None:
        """Wait for the read-ahead to have room, still listening to the client: a client that leaves meanwhile
        cancels its work at once. Returns the one message that may have come meanwhile (read, not acted on)."""
        listener = asyncio.create_task(self._next(), name="ttsd-ws-listen")
        room = asyncio.create_task(session.room(), name="ttsd-ws-room")
        try:
            await asyncio.wait({listener, room}, return_when=asyncio.FIRST_COMPLETED)
            if listener.done():
                message = listener.result()  # raises _Gone / ProtocolError at once
                await room
                return message
            return await listener
        finally:
            for task in (listener, room):
                task.cancel()

    async def _write(self, session: Session, *, timestamps: bool) -> None:
        try:
            async for event in session.output():
                if isinstance(event, SessionDone):
                    await self.websocket.send_text(
                        json.dumps({"type": "done", "audio_seconds": round(event.audio_seconds, 3)})
                    )
                    return
                if event.data:
                    await self.websocket.send_bytes(event.data)
                if timestamps and event.sentence is not None:
                    await self.websocket.send_text(_sentence_frame(event.sentence))
        except (WebSocketDisconnect, OSError):
            raise _Gone from None

    async def _next(self) -> ClientMessage:
        """The next client message, paced to ``TTSD_WS_MAX_MESSAGES_PER_S``; the idle timeout applies while the
        session has nothing to speak."""
        idle_s = self.state.settings.ws_idle_timeout_s
        while True:
            try:
                async with asyncio.timeout(idle_s):
                    message = await self.websocket.receive()
                break
            except TimeoutError:
                if self.session is not None and (self.session.busy or self.session.ended):
                    continue
                raise ProtocolError(
                    "idle_timeout", f"no message for {idle_s:g} s: session closed", CLOSE_GOING_AWAY
                ) from None
        if message["type"] == "websocket.disconnect":
            raise _Gone
        await self._pace()
        text = message.get("text")
        return parse(text if text is not None else message.get("bytes"))

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._slot = max(self._slot, now - _BURST_S) + 1.0 / self.state.settings.ws_max_messages_per_s
        if self._slot > now:
            await asyncio.sleep(self._slot - now)

    async def _fail(self, code: str, message: str, close: int, retry_after: float | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if retry_after is not None:
            frame["retry_after"] = retry_after
        with contextlib.suppress(Exception):
            await self.websocket.send_text(json.dumps(frame, ensure_ascii=False))
        await self._close(close)

    async def _close(self, code: int) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(code)


async def _until(gone: asyncio.Event) -> None:
    await gone.wait()
    raise _Gone


def _sentence_frame(sentence: SpokenSentence) -> str:
    stamps = [{"text": t.text, "start": round(t.start, 3), "end": round(t.end, 3)} for t in sentence.timestamps]
    frame = {
        "type": "sentence",
        "index": sentence.index,
        "text": sentence.text,
        "start": round(sentence.start, 3),
        "end": round(sentence.end, 3),
        "timestamps": stamps,
    }
    return json.dumps(frame, ensure_ascii=False)


def _close_code(exc: TTSError) -> int:
    status = status_of(exc)
    if status in (503, 504):
        return CLOSE_TRY_LATER
    return CLOSE_POLICY if status < 500 else CLOSE_INTERNAL


def _retry_after(exc: TTSError) -> float | None:
    if isinstance(exc, QueueFull):
        return float(max(1, math.ceil(exc.retry_after_s)))
    return 1.0 if status_of(exc) == 503 else None
