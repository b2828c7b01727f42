"""A sentence cache shared by the replicas of a pool (``TTSD_CACHE_URL=redis://...``), behind the in-process LRU.

The LRU (:class:`~ttsd.pipeline.cache.SentenceCache`) stays the first tier; on a miss it asks this one, and what is
synthesized goes to both, so one replica's common prompts (greetings, IVR menus) are every replica's. Entries
expire after ``ttl_s``; Redis's own memory policy bounds the rest. Keys are a digest of the whole
:class:`~ttsd.pipeline.cache.CacheKey` (voice, model version, precision, variant, ids, controls), so replicas
running another model or precision never share audio.

The shared tier is never in the way: an error (Redis down, a timeout) is logged once and counts as a miss; calls
are short blocking round trips on the event loop (a loopback or same-zone Redis answers in well under a
millisecond), with a 50 ms socket timeout.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from typing import Any

import numpy as np

from ttsd.voices.base import Rendered

log = logging.getLogger(__name__)

PREFIX = "ttsd:sentence:"
TIMEOUT_S = 0.05
_HEADER = struct.Struct("<IB")  # samples, whether durations follow


class RedisSentenceCache:
    """The shared tier on Redis; see the module docstring."""

    def __init__(self, url: str, *, ttl_s: int = 86_400) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
        self._ttl_s = ttl_s
        self._failing = False
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)

    def get(self, key: tuple[Any, ...]) -> Rendered | None:
        try:
            data = self._redis.get(digest(key))
        except self._errors as exc:
            self._failed(exc)
            return None
        self._failing = False
        return decode(data) if isinstance(data, bytes) else None

    def put(self, key: tuple[Any, ...], audio: Rendered) -> None:
        try:
            self._redis.set(digest(key), encode(audio), ex=self._ttl_s)
        except self._errors as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            log.warning("shared sentence cache unavailable (%s); serving from the local cache only", exc)
        self._failing = True


def digest(key: tuple[Any, ...]) -> str:
    """A stable name for a cache key across processes (its repr holds only strings, numbers and None)."""
    return PREFIX + hashlib.sha256(repr(tuple(key)).encode()).hexdigest()


def encode(audio: Rendered) -> bytes:
    wave = np.asarray(audio.waveform, dtype="<f4")
    parts = [_HEADER.pack(len(wave), audio.durations is not None), wave.tobytes()]
    if audio.durations is not None:
        parts.append(np.asarray(audio.durations, dtype="<i8").tobytes())
    return b"".join(parts)


def decode(data: bytes) -> Rendered | None:
    """The audio back, or ``None`` for bytes that are not an entry (never trusted blindly)."""
    if len(data) < _HEADER.size:
        return None
    samples, has_durations = _HEADER.unpack_from(data)
    end = _HEADER.size + 4 * samples
    if len(data) < end or (len(data) - end) % 8 or (not has_durations and len(data) != end):
        return None
    wave = np.frombuffer(data, dtype="<f4", count=samples, offset=_HEADER.size).astype(np.float32)
    durations = np.frombuffer(data, dtype="<i8", offset=end).astype(np.int64) if has_durations else None
    return Rendered(wave, durations)
