"""Property tests of the pure batching policy (ttsd.serving.policy)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttsd.config import BatchConfig
from ttsd.serving.policy import (
    Dispatch,
    PendingItem,
    Wait,
    bucket_of,
    next_batch,
    padded_frames,
    priority_key,
    prune,
)

# Timing-independent: a loaded 2-core CI box must not turn slow examples into failures.
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

EDGES = (16, 32, 64)

configs = st.builds(
    BatchConfig,
    max_batch_size=st.integers(1, 8),
    max_wait_ms=st.sampled_from([0.0, 5.0, 20.0]),
    max_batch_frames=st.integers(50, 600),
    max_queue=st.just(10_000),
    bucket_edges=st.just(EDGES),
    overtake_s_per_frame=st.sampled_from([0.0, 0.0001, 0.01]),
)


@st.composite
def queues(draw: st.DrawFn) -> dict[int, list[PendingItem]]:
    """Buckets of items with increasing arrival times, as the batcher would hold them."""
    n = draw(st.integers(0, 30))
    buckets: dict[int, list[PendingItem]] = {}
    t = 0.0
    for seq in range(n):
        t += draw(st.sampled_from([0.0, 0.001, 0.004, 0.01]))
        length = draw(st.integers(1, 100))
        item = PendingItem(
            seq=seq,
            length=length,
            frames=draw(st.integers(1, 400)),
            enqueued_at=t,
            deadline=t + draw(st.sampled_from([0.005, 0.02, 1.0, math.inf])),
            urgent=draw(st.sampled_from([False, False, False, True])),
        )
        buckets.setdefault(bucket_of(length, EDGES), []).append(item)
    return buckets


def live(items: list[PendingItem], now: float) -> list[PendingItem]:
    return [item for item in items if now < item.deadline]


def tiers(buckets: dict[int, list[PendingItem]]) -> list[list[PendingItem]]:
    """Each bucket's urgent items and its other items, each in FIFO order (empty tiers left out)."""
    split = ([i for i in items if i.urgent is urgent] for items in buckets.values() for urgent in (True, False))
    return [tier for tier in split if tier]


def is_due(tier: list[PendingItem], now: float, cfg: BatchConfig) -> bool:
    """A tier is due when urgent or by age (or by max_wait 0), regardless of how full it is."""
    alive = live(tier, now)
    if not alive:
        return False
    return alive[0].urgent or cfg.max_wait_ms == 0 or now >= alive[0].enqueued_at + cfg.max_wait_ms / 1000


@RELAXED
@given(queues(), configs, st.floats(0.0, 0.2), st.booleans())
def test_dispatch_invariants(buckets: dict[int, list[PendingItem]], cfg: BatchConfig, now: float, idle: bool) -> None:
    decision = next_batch(buckets, now, cfg, executor_idle=idle)
    if not isinstance(decision, Dispatch):
        return
    assert idle, "nothing is dispatched while the executor is busy"
    batch = list(decision.items)
    urgent = batch[0].urgent
    source = live([i for i in buckets[decision.bucket] if i.urgent is urgent], now)
    # One tier of one bucket (urgent items only, or none), FIFO prefix of its live items, never an expired one.
    assert batch == source[: len(batch)]
    assert all(now < item.deadline for item in batch)
    assert 1 <= len(batch) <= cfg.max_batch_size
    cost = padded_frames(batch)
    assert decision.padded_frames == cost
    assert cost <= cfg.max_batch_frames or len(batch) == 1
    # Greedy: the batch stops only at a cap (size or frames) or at the end of the bucket.
    if len(batch) < len(source) and len(batch) < cfg.max_batch_size:
        assert padded_frames([*batch, source[len(batch)]]) > cfg.max_batch_frames
    # No tier that is due (urgent, or by age) has a head with a smaller priority key than the batch's.
    head = priority_key(batch[0], cfg)
    for tier in tiers(buckets):
        if is_due(tier, now, cfg):
            assert head <= priority_key(live(tier, now)[0], cfg)


@RELAXED
@given(queues(), configs, st.floats(0.0, 0.2))
def test_wait_means_nothing_is_due(buckets: dict[int, list[PendingItem]], cfg: BatchConfig, now: float) -> None:
    decision = next_batch(buckets, now, cfg, executor_idle=True)
    if not isinstance(decision, Wait):
        return
    for tier in tiers(buckets):
        assert not is_due(tier, now, cfg)
        assert len(live(tier, now)) < cfg.max_batch_size
    if any(live(items, now) for items in buckets.values()):
        assert decision.wake_at is not None
        assert decision.wake_at > now


def test_busy_executor_waits_for_deadlines_only() -> None:
    cfg = BatchConfig(max_batch_size=2, max_wait_ms=0)
    items = [PendingItem(seq=i, length=5, frames=10, enqueued_at=0.0, deadline=1.0 + i) for i in range(3)]
    assert next_batch({0: items}, 0.5, cfg, executor_idle=False) == Wait(wake_at=1.0)
    assert next_batch({}, 0.5, cfg, executor_idle=True) == Wait(wake_at=None)


def test_lone_oversize_item_runs_alone_and_at_once() -> None:
    cfg = BatchConfig(max_batch_size=8, max_wait_ms=1000, max_batch_frames=100)
    big = PendingItem(seq=0, length=300, frames=500, enqueued_at=0.0, deadline=math.inf)
    small = PendingItem(seq=1, length=300, frames=10, enqueued_at=0.0, deadline=math.inf)
    decision = next_batch({5: [big, small]}, 0.0, cfg, executor_idle=True)
    assert decision == Dispatch(bucket=5, items=(big,), padded_frames=500)


def test_batch_closed_by_frame_cap_goes_before_max_wait() -> None:
    cfg = BatchConfig(max_batch_size=8, max_wait_ms=1000, max_batch_frames=100)
    items = [PendingItem(seq=i, length=5, frames=40, enqueued_at=0.0, deadline=math.inf) for i in range(3)]
    assert next_batch({0: items}, 0.0, cfg, executor_idle=True) == Dispatch(
        bucket=0, items=tuple(items[:2]), padded_frames=80
    )
    # One item of 60 frames: no second item of any size fits beside it, so waiting is pointless.
    wide = PendingItem(seq=9, length=5, frames=60, enqueued_at=0.0, deadline=math.inf)
    assert isinstance(next_batch({0: [wide]}, 0.0, cfg, executor_idle=True), Dispatch)
    narrow = PendingItem(seq=9, length=5, frames=40, enqueued_at=0.0, deadline=math.inf)
    assert next_batch({0: [narrow]}, 0.0, cfg, executor_idle=True) == Wait(wake_at=1.0)


def test_full_bucket_goes_before_max_wait() -> None:
    cfg = BatchConfig(max_batch_size=2, max_wait_ms=1000)
    items = [PendingItem(seq=i, length=5, frames=10, enqueued_at=0.0, deadline=math.inf) for i in range(3)]
    decision = next_batch({0: items}, 0.0, cfg, executor_idle=True)
    assert isinstance(decision, Dispatch)
    assert decision.items == tuple(items[:2])


def test_bucket_of_edges() -> None:
    assert [bucket_of(n, EDGES) for n in (1, 16, 17, 32, 64, 65, 1000)] == [0, 0, 1, 1, 2, 3, 3]


@RELAXED
@given(queues(), st.floats(0.0, 0.2), st.sets(st.integers(0, 30)))
def test_prune_partitions_items(buckets: dict[int, list[PendingItem]], now: float, cancelled: set[int]) -> None:
    result = prune(buckets, now=now, cancelled=cancelled)
    everything = sorted(item.seq for items in buckets.values() for item in items)
    kept = [item for items in result.buckets.values() for item in items]
    assert sorted([i.seq for i in kept] + [i.seq for i in result.expired + result.cancelled]) == everything
    assert all(now < i.deadline and i.seq not in cancelled for i in kept)
    assert all(now >= i.deadline for i in result.expired)
    assert all(i.seq in cancelled for i in result.cancelled)
    for index, items in result.buckets.items():
        assert list(items) == [i for i in buckets[index] if i in items]  # order kept
        assert items


# -- simulation: the policy driven through time by a fake executor -------------------------------------------


@dataclass(frozen=True)
class Arrival:
    at: float
    length: int
    frames: int
    ttl: float
    urgent: bool = False


@dataclass
class Outcome:
    dispatched_at: dict[int, float]
    expired: set[int]
    batches: list[tuple[int, ...]]


def simulate(arrivals: list[Arrival], cfg: BatchConfig, batch_s: float) -> Outcome:
    """Drive next_batch/prune like the batcher does; every batch keeps the executor busy for ``batch_s``."""
    queue: dict[int, list[PendingItem]] = {}
    outcome = Outcome(dispatched_at={}, expired=set(), batches=[])
    now, busy_until, nxt = 0.0, -1.0, 0
    while nxt < len(arrivals) or queue:
        while nxt < len(arrivals) and arrivals[nxt].at <= now:
            a = arrivals[nxt]
            item = PendingItem(
                seq=nxt,
                length=a.length,
                frames=a.frames,
                enqueued_at=a.at,
                deadline=a.at + a.ttl,
                urgent=a.urgent,
            )
            queue.setdefault(bucket_of(a.length, cfg.bucket_edges), []).append(item)
            nxt += 1
        pruned = prune(queue, now=now)
        queue = {k: list(v) for k, v in pruned.buckets.items()}
        outcome.expired.update(i.seq for i in pruned.expired)
        if not queue and nxt == len(arrivals):
            break
        decision = next_batch(queue, now, cfg, executor_idle=now >= busy_until)
        if isinstance(decision, Dispatch):
            taken = {i.seq for i in decision.items}
            queue[decision.bucket] = [i for i in queue[decision.bucket] if i.seq not in taken]
            queue = {k: v for k, v in queue.items() if v}
            outcome.dispatched_at.update(dict.fromkeys(taken, now))
            outcome.batches.append(tuple(sorted(taken)))
            busy_until = now + batch_s
            continue
        events = [busy_until, decision.wake_at, arrivals[nxt].at if nxt < len(arrivals) else None]
        now = min(e for e in events if e is not None and e > now)
    return outcome


arrival_lists = st.lists(
    st.builds(
        Arrival,
        at=st.integers(0, 200).map(lambda ms: ms / 1000),
        length=st.integers(1, 100),
        frames=st.integers(1, 400),
        ttl=st.sampled_from([0.01, 0.05, 10.0]),
        urgent=st.sampled_from([False, False, False, True]),
    ),
    max_size=40,
).map(lambda xs: sorted(xs, key=lambda a: a.at))


@RELAXED
@given(arrival_lists, configs, st.sampled_from([0.001, 0.01, 0.03]))
def test_simulation_every_item_runs_once_or_expires(arrivals: list[Arrival], cfg: BatchConfig, batch_s: float) -> None:
    outcome = simulate(arrivals, cfg, batch_s)
    ran = [seq for batch in outcome.batches for seq in batch]
    assert len(ran) == len(set(ran)), "an item ran twice"
    assert set(ran) | outcome.expired == set(range(len(arrivals)))
    assert not set(ran) & outcome.expired
    for seq, at in outcome.dispatched_at.items():
        assert at < arrivals[seq].at + arrivals[seq].ttl, "dispatched after its deadline"


@RELAXED
@given(arrival_lists, configs, st.sampled_from([0.001, 0.01, 0.03]))
def test_simulation_wait_is_bounded(arrivals: list[Arrival], cfg: BatchConfig, batch_s: float) -> None:
    """No starvation. Let K be the largest priority key of the items queued in an item's tier up to and including
    it (all arrived no later than it, so K <= its arrival + overtake_s_per_frame x the tier's largest frames).
    Only items that arrived by K can go before it, so its wait is at most max_wait + one running batch + one
    batch per item that arrived by K (itself included)."""
    no_deadlines = [Arrival(a.at, a.length, a.frames, math.inf, a.urgent) for a in arrivals]
    outcome = simulate(no_deadlines, cfg, batch_s)
    for seq, at in outcome.dispatched_at.items():
        me = no_deadlines[seq]
        tier = [
            a
            for a in no_deadlines[: seq + 1]
            if a.urgent is me.urgent and bucket_of(a.length, EDGES) == bucket_of(me.length, EDGES)
        ]
        horizon = max(a.at + (0.0 if a.urgent else cfg.overtake_s_per_frame * a.frames) for a in tier)
        ahead = sum(1 for a in no_deadlines if a.at <= horizon)
        bound = (0.0 if me.urgent else cfg.max_wait_ms / 1000) + batch_s * (1 + ahead)
        assert at - me.at <= bound + 1e-9


@RELAXED
@given(arrival_lists, st.sampled_from([0.001, 0.01, 0.03]))
def test_simulation_oldest_first_when_overtaking_is_off(arrivals: list[Arrival], batch_s: float) -> None:
    """With overtake_s_per_frame = 0 and no urgent items, the old bound holds: one batch per older item."""
    cfg = BatchConfig(max_batch_size=3, max_wait_ms=5.0, max_batch_frames=500, overtake_s_per_frame=0.0,
                      bucket_edges=EDGES)  # fmt: skip
    plain = [Arrival(a.at, a.length, a.frames, math.inf) for a in arrivals]
    outcome = simulate(plain, cfg, batch_s)
    for seq, at in outcome.dispatched_at.items():
        assert at - plain[seq].at <= cfg.max_wait_ms / 1000 + batch_s * (1 + seq) + 1e-9


def test_urgent_item_runs_at_once_and_alone() -> None:
    """A stream's head is not held back by older ordinary items of its bucket, nor by max_wait."""
    cfg = BatchConfig(max_batch_size=8, max_wait_ms=1000, overtake_s_per_frame=0.01)
    older = [PendingItem(seq=i, length=5, frames=10, enqueued_at=0.0, deadline=math.inf) for i in range(3)]
    head = PendingItem(seq=3, length=5, frames=10, enqueued_at=0.5, deadline=math.inf, urgent=True)
    rest = PendingItem(seq=4, length=5, frames=10, enqueued_at=0.5, deadline=math.inf)
    buckets = {0: [*older, head, rest]}
    assert next_batch(buckets, 0.5, cfg, executor_idle=True) == Dispatch(bucket=0, items=(head,), padded_frames=10)
    # Once it left, the ordinary items wait for max_wait (or company) as before.
    assert next_batch({0: [*older, rest]}, 0.5, cfg, executor_idle=True) == Wait(wake_at=1.0)
    # A busy executor still dispatches nothing.
    assert isinstance(next_batch(buckets, 0.5, cfg, executor_idle=False), Wait)


def test_short_item_overtakes_older_long_ones_but_not_forever() -> None:
    cfg = BatchConfig(max_batch_size=2, max_wait_ms=0, overtake_s_per_frame=0.01, bucket_edges=(16, 64))
    long_items = [PendingItem(seq=i, length=60, frames=300, enqueued_at=0.0, deadline=math.inf) for i in range(2)]
    short = PendingItem(seq=2, length=8, frames=40, enqueued_at=2.0, deadline=math.inf)
    # Keys: long 0 + 3.0 s, short 2.0 + 0.4 s: the short one goes first although it arrived 2 s later.
    decision = next_batch({1: long_items, 0: [short]}, 2.0, cfg, executor_idle=True)
    assert isinstance(decision, Dispatch)
    assert decision.items == (short,)
    # A short item arriving after the long ones' key (3.0 s) no longer overtakes them.
    late = PendingItem(seq=3, length=8, frames=40, enqueued_at=2.7, deadline=math.inf)
    decision = next_batch({1: long_items, 0: [late]}, 2.7, cfg, executor_idle=True)
    assert isinstance(decision, Dispatch)
    assert decision.items == tuple(long_items)


def test_adversarial_full_batches_in_another_bucket_do_not_starve() -> None:
    """A lone item while full batches keep arriving elsewhere runs within max_wait + 2 batches."""
    cfg = BatchConfig(max_batch_size=4, max_wait_ms=20, max_batch_frames=100_000)
    lone = Arrival(at=0.0, length=5, frames=10, ttl=math.inf)
    flood = [Arrival(at=k * 0.005, length=100, frames=500, ttl=math.inf) for k in range(400)]
    arrivals = sorted([lone, *flood], key=lambda a: a.at)
    outcome = simulate(arrivals, cfg, batch_s=0.01)
    lone_seq = arrivals.index(lone)
    assert outcome.dispatched_at[lone_seq] <= 0.020 + 2 * 0.01
    assert all(len(batch) <= cfg.max_batch_size for batch in outcome.batches)
