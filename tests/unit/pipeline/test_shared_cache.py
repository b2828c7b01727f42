"""The shared second tier of the sentence cache (TTSD_CACHE_URL): the LRU asks it on a miss and feeds it on a put;
on a real redis-server, two processes' caches share audio, entries round-trip exactly, and an unreachable Redis is
a miss, never an error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ttsd.controls import Controls
from ttsd.metrics import Metrics
from ttsd.pipeline.cache import CacheKey, SentenceCache, cache_key
from ttsd.pipeline.shared_cache import RedisSentenceCache, decode, digest, encode
from ttsd.voices.base import Rendered, Utterance, VoiceInfo

INFO = VoiceInfo(name="v", sample_rate=24000, model_version="1", device="cpu", precision="fp32")


def key(n: int, *, precision: str = "fp32", speed: float = 1.0) -> CacheKey:
    info = VoiceInfo(name="v", sample_rate=24000, model_version="1", device="cpu", precision=precision)
    return cache_key(info, Utterance(text=str(n), phonemes=(), ids=(n, n + 1)), Controls(speed=speed))


def audio(samples: int, *, durations: bool = True) -> Rendered:
    wave = np.sin(np.arange(samples, dtype=np.float32) / 7).astype(np.float32)
    return Rendered(wave, np.arange(samples // 10, dtype=np.int64) if durations else None)


class DictTier:
    def __init__(self) -> None:
        self.entries: dict[str, Rendered] = {}

    def get(self, key: tuple[Any, ...]) -> Rendered | None:
        return self.entries.get(digest(key))

    def put(self, key: tuple[Any, ...], audio: Rendered) -> None:
        self.entries[digest(key)] = audio


def lookups(metrics: Metrics, result: str) -> float:
    return metrics.registry.get_sample_value("ttsd_cache_requests_total", {"result": result}) or 0.0


def test_a_local_miss_is_answered_by_the_shared_tier_and_kept_locally() -> None:
    tier = DictTier()
    first, second = Metrics(), Metrics()
    writer = SentenceCache(max_bytes=1 << 20, metrics=first, shared=tier)
    reader = SentenceCache(max_bytes=1 << 20, metrics=second, shared=tier)
    writer.put(key(1), audio(100))
    found = reader.get(key(1))
    assert found is not None
    assert np.array_equal(found.waveform, audio(100).waveform)
    assert (lookups(second, "shared_hit"), lookups(second, "miss")) == (1, 0)
    assert reader.get(key(1)) is not None
    assert lookups(second, "hit") == 1  # kept in the local tier
    assert reader.get(key(2)) is None
    assert lookups(second, "miss") == 1


def test_a_disabled_cache_shares_nothing() -> None:
    tier = DictTier()
    cache = SentenceCache(max_bytes=0, shared=tier)
    cache.put(key(1), audio(10))
    assert tier.entries == {}
    assert cache.get(key(1)) is None


def test_keys_differ_by_everything_that_changes_the_audio() -> None:
    assert digest(key(1)) == digest(key(1))
    assert len({digest(key(1)), digest(key(2)), digest(key(1, precision="bf16")), digest(key(1, speed=1.1))}) == 4


@pytest.mark.parametrize("durations", [True, False])
def test_entries_round_trip_exactly_and_garbage_is_refused(durations: bool) -> None:
    original = audio(333, durations=durations)
    back = decode(encode(original))
    assert back is not None
    assert np.array_equal(back.waveform, original.waveform)
    assert (back.durations is None) == (not durations)
    if durations:
        assert back.durations is not None
        assert original.durations is not None
        assert np.array_equal(back.durations, original.durations)
    assert decode(b"") is None
    assert decode(encode(original)[:-3]) is None


def test_two_caches_share_audio_through_a_real_redis(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    metrics = Metrics()
    one = SentenceCache(max_bytes=1 << 20, shared=RedisSentenceCache(redis_url))
    other = SentenceCache(max_bytes=1 << 20, metrics=metrics, shared=RedisSentenceCache(redis_url))
    one.put(key(7), audio(2400))
    found = other.get(key(7))
    assert found is not None
    assert np.array_equal(found.waveform, audio(2400).waveform)
    assert lookups(metrics, "shared_hit") == 1
    assert redis.Redis.from_url(redis_url).ttl(digest(key(7))) > 0  # entries expire


def test_an_unreachable_redis_is_a_miss(caplog: pytest.LogCaptureFixture) -> None:
    cache = SentenceCache(max_bytes=1 << 20, shared=RedisSentenceCache("redis://127.0.0.1:1/0"))
    cache.put(key(1), audio(10))  # no exception
    assert cache.get(key(1)) is not None  # the local tier still works
    assert cache.get(key(2)) is None
    warnings = [r for r in caplog.records if "shared sentence cache unavailable" in r.getMessage()]
    assert len(warnings) == 1  # said once, not per lookup
