"""Back-pressure for streams: a stream's producer waits while too much of its audio is ready and unsent.

A slow reader (a phone on a bad network, a client reading 16 KB every 100 ms) must not make the server hold its
whole answer: :class:`UnsentAudio` tracks the pieces a stream has queued and not yet handed to its reader; the
producer (the front-end stage) waits before queueing the next one while their audio (its length once
synthesized, an estimate from the text before) passes ``limit_s`` seconds. The first piece after the reader took
the last one always goes, so a stream holds about ``limit_s`` seconds plus one piece, however slowly it is read.

Runs on the event loop only.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

# Seconds of unsent audio one stream may hold before its producer waits (24 kHz float32: 1.9 MB).
STREAM_UNSENT_AUDIO_S = 20.0
# Audio seconds a character is estimated at before its sentence is synthesized (Mandarin: 4-5 characters a second).
ESTIMATE_S_PER_CHAR = 0.25

_P = TypeVar("_P")


class UnsentAudio(Generic[_P]):
    """The pieces queued and not yet taken by the reader, in order; ``audio_s(piece)``: the seconds of audio a
    piece holds (or will)."""

    def __init__(self, *, limit_s: float, audio_s: Callable[[_P], float]) -> None:
        self._limit_s = limit_s
        self._audio_s = audio_s
        self._pieces: deque[_P] = deque()
        self._taken = asyncio.Event()

    def queued(self, piece: _P) -> None:
        self._pieces.append(piece)

    def taken(self) -> None:
        """The reader took the oldest piece."""
        if self._pieces:
            self._pieces.popleft()
        self._taken.set()

    @property
    def unsent_s(self) -> float:
        return sum(self._audio_s(piece) for piece in self._pieces)

    async def wait_for_room(self) -> None:
        """Return once the audio ready and unsent is within the limit (at once when it is)."""
        while self.unsent_s > self._limit_s:
            self._taken.clear()
            await self._taken.wait()
