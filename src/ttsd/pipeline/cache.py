"""Sentence audio cache: an in-process LRU of synthesized sentences, bounded in bytes.

What is cached is the voice's *native* output (:class:`~ttsd.voices.base.Rendered`): float32 mono PCM at the
voice's own sample rate and the samples per id, for one sentence, before any joining. Output format, sample
rate and volume are applied afterwards (the engine's output stage), so they are deliberately not part of the
key: one cached sentence serves a WAV request at 24 kHz and an MP3 request at 16 kHz alike.

The key (:func:`cache_key`) covers everything that changes those samples: the voice name, its model version,
its precision, a free-form ``variant`` (the inference mode, e.g. ``fast``/``exact``), the sentence's model
input ids (the text after normalization and phonemization, which is what the model sees; the Voice protocol
requires ids to identify the sentence, so text-in backends put code points there) and
:meth:`ttsd.controls.Controls.cache_key` (speed, pitch, ... and the seed when variation is on). ``variation``
without a seed asks for new audio on every call: such a key is ``fresh`` and never read from or stored in the
cache (a request repeating a sentence still synthesizes it once, as for any key).

An optional second tier (``shared``, :mod:`ttsd.pipeline.shared_cache`: Redis, ``TTSD_CACHE_URL``) is shared by
the replicas of a pool: a local miss asks it (a hit there counts as ``shared_hit`` and is kept locally too), and
what is stored goes to both.

Not thread-safe: the engine uses it from the event loop only.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, NamedTuple, Protocol

from ttsd.controls import Controls
from ttsd.metrics import Metrics
from ttsd.voices.base import Rendered, Utterance, VoiceInfo

# Rough per-entry bookkeeping cost (key tuple, dict slot, array header) counted against the byte budget.
ENTRY_OVERHEAD_BYTES = 256


class CacheKey(NamedTuple):
    voice: str
    model_version: str
    precision: str
    variant: str
    ids: tuple[int, ...]
    controls: tuple[object, ...]
    fresh: bool = False  # variation without a seed: new audio every time, never read from or stored in the cache


def cache_key(info: VoiceInfo, utterance: Utterance, controls: Controls, *, variant: str = "") -> CacheKey:
    """The key of one sentence's audio; see the module docstring for what is (and is not) in it."""
    return CacheKey(
        voice=info.name,
        model_version=info.model_version,
        precision=info.precision,
        variant=variant,
        ids=utterance.ids,
        controls=controls.cache_key(),
        fresh=controls.variation and controls.seed is None,
    )


class SharedTier(Protocol):
    """A cache shared by processes (``RedisSentenceCache``): never raises, a failure is a miss."""

    def get(self, key: tuple[Any, ...]) -> Rendered | None: ...

    def put(self, key: tuple[Any, ...], audio: Rendered) -> None: ...


class SentenceCache:
    """LRU of sentence waveforms holding at most ``max_bytes`` (samples plus a small per-entry overhead).

    ``max_bytes == 0`` turns the cache off (every lookup is a miss, nothing is stored, and no metrics are
    counted). Stored arrays are read-only copies: a hit hands out the same array to every caller, so callers
    must not modify it in place.
    """

    def __init__(self, *, max_bytes: int, metrics: Metrics | None = None, shared: SharedTier | None = None) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self._max_bytes = max_bytes
        self._metrics = metrics
        self._shared = shared
        self._entries: OrderedDict[CacheKey, Rendered] = OrderedDict()
        self._bytes = 0

    @property
    def enabled(self) -> bool:
        return self._max_bytes > 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> Rendered | None:
        """The cached audio (read-only) and a hit, or None and a miss (a ``fresh`` key: None, nothing counted)."""
        if not self.enabled or key.fresh:
            return None
        audio = self._entries.get(key)
        if audio is not None:
            self._entries.move_to_end(key)
        elif self._shared is not None and (audio := self._shared.get(key)) is not None:
            self._store(key, audio)
            self._count("shared_hit")
            return self._entries.get(key, audio)
        self._count("hit" if audio is not None else "miss")
        return audio

    def put(self, key: CacheKey, audio: Rendered) -> None:
        """Store a read-only copy of ``audio``, evicting least recently used entries to stay in budget.

        Audio larger than the whole budget is not stored (locally); audio of a ``fresh`` key (variation, no seed)
        is not stored anywhere.
        """
        if self.enabled and self._shared is not None and not key.fresh:
            self._shared.put(key, audio)
        self._store(key, audio)

    def _store(self, key: CacheKey, audio: Rendered) -> None:
        cost = _cost(audio)
        if not self.enabled or key.fresh or cost > self._max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= _cost(old)
        self._entries[key] = _frozen(audio)
        self._bytes += cost
        while self._bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= _cost(evicted)

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.cache_requests.labels(result=result).inc()


def _cost(audio: Rendered) -> int:
    return audio.nbytes + ENTRY_OVERHEAD_BYTES


def _frozen(audio: Rendered) -> Rendered:
    wave = audio.waveform.copy()
    wave.setflags(write=False)
    durations = None
    if audio.durations is not None:
        durations = audio.durations.copy()
        durations.setflags(write=False)
    return Rendered(wave, durations)
