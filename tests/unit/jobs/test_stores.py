"""The job stores' shared contract, on SQLite and on a real redis-server alike: claims, leases (a lapsed one is
taken over, a lost one refuses commits), checkpoints, ends, listing and housekeeping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ttsd.jobs.model import JobStatus
from ttsd.jobs.records import Store
from ttsd.jobs.store import JobStore

SPEC = {"voice": None, "callback_url": None}


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        made: Store = JobStore(tmp_path / "jobs.sqlite3")
    else:
        import redis

        from ttsd.jobs.redis_store import RedisJobStore

        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        made = RedisJobStore(url)
    try:
        yield made
    finally:
        made.close()


def test_claim_commit_finish(store: Store) -> None:
    store.create("a", spec=SPEC, characters=10, parts=2, reserved=1000, now=1.0)
    store.create("b", spec=SPEC, characters=5, parts=1, reserved=500, now=2.0)
    assert store.claim("one", now=10.0, lease_s=5.0) == "a"  # oldest first
    row = store.get("a")
    assert row is not None
    assert (row.status, row.owner, row.started_at) == (JobStatus.RUNNING, "one", 10.0)
    assert store.commit_part("a", "one", idx=1, samples=300, sample_rate=24_000, characters=4, cues=[[0, 1, "x"]])
    assert store.commit_part("a", "one", idx=0, samples=200, sample_rate=24_000, characters=6, cues=[])
    assert [(p.idx, p.samples, p.cues) for p in store.parts("a")] == [(0, 200, []), (1, 300, [[0, 1, "x"]])]
    row = store.get("a")
    assert row is not None
    assert (row.parts_done, row.characters_done, row.samples_done, row.sample_rate) == (2, 10, 500, 24_000)
    assert store.used_bytes() == 1500
    assert store.backlog_chars() == 5
    assert not store.finish("a", "two", status=JobStatus.SUCCEEDED, now=11.0)  # not the holder
    assert store.finish("a", "one", status=JobStatus.SUCCEEDED, now=11.0, output_bytes=700, chapters=[["t", 0.0]])
    row = store.get("a")
    assert row is not None
    assert (row.status, row.output_bytes, row.chapters, row.finished_at) == (
        JobStatus.SUCCEEDED,
        700,
        [["t", 0.0]],
        11.0,
    )
    assert store.parts("a") == []  # checkpoints go once the job has ended
    assert store.used_bytes() == 700 + 500
    counts = store.counts()
    assert (counts[JobStatus.SUCCEEDED], counts[JobStatus.QUEUED]) == (1, 1)


def test_a_lapsed_lease_is_taken_over_and_the_old_holder_is_refused(store: Store) -> None:
    store.create("a", spec=SPEC, characters=10, parts=2, reserved=0, now=1.0)
    assert store.claim("dead", now=10.0, lease_s=5.0) == "a"
    assert store.claim("alive", now=12.0, lease_s=5.0) is None  # the lease holds
    assert store.renew("a", "dead", until=20.0)
    assert store.claim("alive", now=19.0, lease_s=5.0) is None
    assert store.claim("alive", now=21.0, lease_s=5.0) == "a"  # lapsed: taken over
    assert not store.commit_part("a", "dead", idx=0, samples=1, sample_rate=1, characters=1, cues=[])
    assert not store.renew("a", "dead", until=40.0)
    assert store.commit_part("a", "alive", idx=0, samples=1, sample_rate=1, characters=1, cues=[])
    row = store.get("a")
    assert row is not None
    assert (row.owner, row.started_at, row.parts_done) == ("alive", 10.0, 1)


def test_a_released_job_is_claimed_again_at_once(store: Store) -> None:
    store.create("a", spec=SPEC, characters=10, parts=2, reserved=0, now=1.0)
    assert store.claim("one", now=10.0, lease_s=60.0) == "a"
    store.release("a", "one")
    row = store.get("a")
    assert row is not None
    assert (row.status, row.owner) == (JobStatus.QUEUED, None)
    assert store.claim("two", now=11.0, lease_s=60.0) == "a"


def test_cancel_by_anyone_then_listing_and_removal(store: Store) -> None:
    for k, name in enumerate("abcde"):
        store.create(name, spec=SPEC, characters=1, parts=1, reserved=0, now=float(k))
    assert store.claim("one", now=10.0, lease_s=5.0) == "a"
    assert store.finish("a", None, status=JobStatus.CANCELLED, now=11.0)
    assert not store.finish("a", None, status=JobStatus.CANCELLED, now=12.0)  # already ended
    assert not store.commit_part("a", "one", idx=0, samples=1, sample_rate=1, characters=1, cues=[])
    assert [r.id for r in store.page(limit=3, after=None, status=None)] == ["e", "d", "c"]
    assert [r.id for r in store.page(limit=3, after="c", status=None)] == ["b", "a"]
    assert [r.id for r in store.page(limit=9, after=None, status=JobStatus.CANCELLED)] == ["a"]
    assert store.expired(before=11.5) == ["a"]
    assert store.expired(before=10.0) == []
    assert store.delete("a")
    assert store.get("a") is None
    assert not store.delete("a")
    assert store.claim("one", now=20.0, lease_s=5.0) == "b"


def test_callbacks_pending_after_the_end(store: Store) -> None:
    store.create("a", spec={**SPEC, "callback_url": "http://h/x"}, characters=1, parts=1, reserved=0, now=1.0)
    assert store.callbacks_due() == []  # not ended yet
    assert store.finish("a", None, status=JobStatus.FAILED, now=2.0, error="boom")
    assert store.callbacks_due() == ["a"]
    store.set_callback("a", "delivered")
    assert store.callbacks_due() == []
    row = store.get("a")
    assert row is not None
    assert (row.error, row.callback) == ("boom", "delivered")
