"""Background items (long-form jobs' sentences) in the pure batching policy: they run only when nothing else is
queued, never share a batch with interactive items, and otherwise follow the same rules."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttsd.config import BatchConfig
from ttsd.serving.policy import Dispatch, PendingItem, Wait, bucket_of, next_batch, padded_frames

RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
EDGES = (16, 32, 64)
CFG = BatchConfig(max_batch_size=4, max_wait_ms=10.0, max_batch_frames=10_000, bucket_edges=EDGES)


def item(seq: int, *, at: float = 0.0, length: int = 10, background: bool = False, urgent: bool = False) -> PendingItem:
    return PendingItem(
        seq=seq, length=length, frames=length * 5, enqueued_at=at, deadline=math.inf, urgent=urgent,
        background=background,
    )  # fmt: skip


def buckets_of(*items: PendingItem) -> dict[int, list[PendingItem]]:
    out: dict[int, list[PendingItem]] = {}
    for it in items:
        out.setdefault(bucket_of(it.length, EDGES), []).append(it)
    return out


@st.composite
def mixed_queues(draw: st.DrawFn) -> dict[int, list[PendingItem]]:
    n = draw(st.integers(0, 25))
    out: dict[int, list[PendingItem]] = {}
    t = 0.0
    for seq in range(n):
        t += draw(st.sampled_from([0.0, 0.002, 0.01]))
        length = draw(st.integers(1, 100))
        it = PendingItem(
            seq=seq, length=length, frames=draw(st.integers(1, 400)), enqueued_at=t,
            deadline=t + draw(st.sampled_from([0.005, 1.0, math.inf])),
            urgent=draw(st.sampled_from([False, False, True])), background=draw(st.booleans()),
        )  # fmt: skip
        out.setdefault(bucket_of(length, EDGES), []).append(it)
    return out


@RELAXED
@given(mixed_queues(), st.floats(0.0, 0.1), st.sampled_from([0.0, 10.0]))
def test_background_runs_only_when_nothing_else_is_queued(
    buckets: dict[int, list[PendingItem]], now: float, wait_ms: float
) -> None:
    cfg = BatchConfig(max_batch_size=4, max_wait_ms=wait_ms, max_batch_frames=800, bucket_edges=EDGES)
    decision = next_batch(buckets, now, cfg, executor_idle=True)
    live = [i for items in buckets.values() for i in items if now < i.deadline]
    if isinstance(decision, Dispatch):
        kinds = {i.background for i in decision.items}
        assert len(kinds) == 1, "a batch never mixes background and interactive items"
        if kinds == {True}:
            assert all(i.background for i in live), "background ran while interactive work was queued"
            lane = [i for i in buckets[decision.bucket] if i.background and now < i.deadline]
            assert list(decision.items) == lane[: len(decision.items)]  # FIFO prefix of its own lane
            assert padded_frames(decision.items) <= cfg.max_batch_frames or len(decision.items) == 1
    elif live and all(i.background for i in live) and (wait_ms == 0 or any(now >= i.enqueued_at + 0.01 for i in live)):
        raise AssertionError("due background work waited with nothing else queued")


def test_an_interactive_item_goes_before_older_background_ones() -> None:
    queue = buckets_of(item(0, background=True), item(1, background=True), item(2, at=0.05))
    decision = next_batch(queue, 0.1, CFG, executor_idle=True)
    assert isinstance(decision, Dispatch)
    assert [i.seq for i in decision.items] == [2]


def test_background_waits_while_interactive_work_gathers_a_batch() -> None:
    # The interactive item is not due yet (max_wait 10 ms): background must not take the executor meanwhile.
    queue = buckets_of(item(0, background=True), item(1, at=0.1))
    decision = next_batch(queue, 0.105, CFG, executor_idle=True)
    assert isinstance(decision, Wait)
    assert decision.wake_at is not None
    assert math.isclose(decision.wake_at, 0.11)


def test_background_alone_batches_like_ordinary_work() -> None:
    queue = buckets_of(*(item(k, background=True) for k in range(6)))
    decision = next_batch(queue, 0.0, CFG, executor_idle=True)
    assert isinstance(decision, Dispatch)
    assert [i.seq for i in decision.items] == [0, 1, 2, 3]  # a full batch goes at once


def test_background_items_are_never_urgent_lanes() -> None:
    queue = buckets_of(item(0, background=True, urgent=True), item(1, at=0.0))
    decision = next_batch(queue, 0.0, CFG, executor_idle=True)
    assert isinstance(decision, Wait)  # the ordinary item gathers company; the background one does not jump it
