"""The batching policy: pure functions from "what is queued, and when is now" to "what to run next".

No asyncio, no clocks, no voices: the batcher (:mod:`ttsd.serving.batcher`) owns time and state and asks
:func:`next_batch` what to do each time something changes. Keeping the policy pure lets property tests check
its invariants directly (``tests/unit/serving/test_policy.py``); ``docs/batching.md`` explains them.

Invariants of a :class:`Dispatch` returned by :func:`next_batch`:

* all its items come from one *tier* and are a prefix of that tier's live (unexpired) items, in FIFO order. A
  tier is the items of one bucket with the same ``urgent`` flag, so a batch never mixes buckets, and urgent
  items (a stream's first sentence) never share a batch with ordinary ones;
* it holds at most ``max_batch_size`` items;
* its padded cost (largest ``frames`` x item count) is at most ``max_batch_frames``, except a batch of one
  item that alone exceeds the cap (it runs alone rather than never);
* no item in it has reached its deadline at ``now``;
* an urgent tier is always due (it never waits ``max_wait_ms`` for company);
* ``background`` items (long-form jobs) form tiers of their own and are never due while any other live item is
  queued: they soak up idle capacity only, so an interactive item waits for at most the one background batch
  already running (background items are never urgent);
* among the tiers that are due, the one whose head has the smallest :func:`priority_key` goes first (ties:
  lower ``seq``). The key is the head's arrival time plus ``overtake_s_per_frame`` x its estimated frames (0
  for urgent items): short items overtake long ones that arrived a little earlier, but every key is finite and
  fixed at arrival, and an item arriving later than ``key`` has a larger key, so an item's wait is bounded by
  the work that arrived before its tier head's key (no starvation; see ``docs/batching.md``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from ttsd.config import BatchConfig


@dataclass(frozen=True, slots=True)
class PendingItem:
    """One queued item as the policy sees it.

    ``seq`` is unique and increases with arrival (tie-break for equal timestamps); ``length`` is the id count
    (selects the bucket); ``frames`` is the estimated mel frame count (cost cap); ``enqueued_at`` and
    ``deadline`` are on the batcher's clock, in seconds. An item is expired once ``now >= deadline``.
    ``urgent`` items (a stream's first sentence, which its client is waiting for) are due at once, batch only
    with urgent items of their bucket, and are not penalised for their length. ``background`` items (a job's
    sentences) run only when no other item is queued.
    """

    seq: int
    length: int
    frames: int
    enqueued_at: float
    deadline: float
    urgent: bool = False
    background: bool = False


Buckets = Mapping[int, Sequence[PendingItem]]
"""Bucket index -> its items, oldest first."""


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Run ``items`` (from bucket ``bucket``, one tier of it) now; ``padded_frames`` is their padded cost."""

    bucket: int
    items: tuple[PendingItem, ...]
    padded_frames: int


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to run now. Re-evaluate at ``wake_at`` (batcher clock) or on the next event, if sooner.

    ``wake_at`` is ``None`` when nothing queued can change on its own (queue empty, or the executor is busy
    and no deadline is pending: the executor finishing is itself an event).
    """

    wake_at: float | None


Decision = Dispatch | Wait


@dataclass(frozen=True, slots=True)
class Pruned:
    """Result of :func:`prune`: the buckets without dead items, and the dead items by cause."""

    buckets: dict[int, tuple[PendingItem, ...]]
    expired: tuple[PendingItem, ...]
    cancelled: tuple[PendingItem, ...]


def bucket_of(length: int, edges: Sequence[int]) -> int:
    """Bucket of an item of ``length`` ids: index of the first edge >= length, else ``len(edges)``."""
    return bisect_left(edges, length)


def padded_frames(items: Sequence[PendingItem]) -> int:
    """What a batch costs the vocoder: every item is padded to the longest one."""
    return max((item.frames for item in items), default=0) * len(items)


def priority_key(item: PendingItem, cfg: BatchConfig) -> tuple[float, int]:
    """Order among due tiers (smaller first): arrival time, delayed by the item's estimated cost.

    ``enqueued_at + overtake_s_per_frame * frames`` for ordinary items, ``enqueued_at`` for urgent ones; ``seq``
    breaks ties. Fixed at arrival, and never earlier than the arrival time.
    """
    penalty = 0.0 if item.urgent else cfg.overtake_s_per_frame * item.frames
    return (item.enqueued_at + penalty, item.seq)


def prune(buckets: Buckets, *, now: float, cancelled: Set[int] = frozenset()) -> Pruned:
    """Drop items whose deadline has passed (``now >= deadline``) or whose ``seq`` is in ``cancelled``.

    Order within each bucket is kept; empty buckets are left out. An item both cancelled and expired counts as
    cancelled (the caller went away first or at the same time; either way nobody waits for an error).
    """
    kept: dict[int, tuple[PendingItem, ...]] = {}
    expired: list[PendingItem] = []
    dropped: list[PendingItem] = []
    for index, items in buckets.items():
        live: list[PendingItem] = []
        for item in items:
            if item.seq in cancelled:
                dropped.append(item)
            elif now >= item.deadline:
                expired.append(item)
            else:
                live.append(item)
        if live:
            kept[index] = tuple(live)
    return Pruned(buckets=kept, expired=tuple(expired), cancelled=tuple(dropped))


def next_batch(
    buckets: Buckets, now: float, cfg: BatchConfig, *, executor_idle: bool, idle_workers: int = 1
) -> Decision:
    """Decide what to run at ``now``. See the module docstring for the invariants.

    Each bucket splits into three tiers: its urgent items, the ordinary ones and the background ones, each in
    FIFO order; background tiers are left out while any other tier has a live item. A tier's
    candidate batch is its longest FIFO prefix of live items that fits both ``max_batch_size`` and
    ``max_batch_frames``. The tier is *due* when it is urgent, when that batch is full (size reached, or the
    next item would break the frame cap, so waiting cannot grow it), when its oldest item has waited
    ``max_wait_ms``, or when ``max_wait_ms`` is 0 and the executor is idle. The due tier whose head has the
    smallest :func:`priority_key` runs. With a busy executor nothing is dispatched: batches keep growing until
    the executor frees up.

    ``idle_workers`` (a worker pool: how many workers are free) splits work instead of queueing it behind one
    worker: with k > 1 free, a lane's batch holds at most ceil(live items / k), and a batch that reached that
    share is full (due at once: no point waiting for company while a worker sits idle).
    """
    max_wait_s = cfg.max_wait_ms / 1000.0
    tiers = [
        (index, cand)
        for index, items in buckets.items()
        for kind in _KINDS
        if (cand := _candidate([i for i in items if _kind(i) == kind], now, cfg, idle_workers)).items
    ]
    if any(not cand.items[0].background for _, cand in tiers):  # interactive work first, always
        tiers = [(index, cand) for index, cand in tiers if not cand.items[0].background]
    if not tiers:
        return Wait(wake_at=None)
    if not executor_idle:
        return Wait(wake_at=_earliest_deadline(buckets, now))
    due = [
        (priority_key(cand.items[0], cfg), index, cand)
        for index, cand in tiers
        # Same expression as the wake-up time below, so waking at it always finds the tier due.
        if cand.items[0].urgent or cand.full or max_wait_s == 0 or now >= cand.items[0].enqueued_at + max_wait_s
    ]
    if due:
        _, index, cand = min(due, key=lambda entry: entry[0])
        return Dispatch(bucket=index, items=cand.items, padded_frames=padded_frames(cand.items))
    next_due = min(cand.items[0].enqueued_at + max_wait_s for _, cand in tiers)
    deadline = _earliest_deadline(buckets, now)
    return Wait(wake_at=next_due if deadline is None else min(next_due, deadline))


# The tiers of a bucket: urgent, ordinary, background.
_KINDS = ("urgent", "ordinary", "background")


def _kind(item: PendingItem) -> str:
    if item.background:
        return "background"
    return "urgent" if item.urgent else "ordinary"


@dataclass(frozen=True, slots=True)
class _Candidate:
    items: tuple[PendingItem, ...]
    full: bool


def _candidate(items: Sequence[PendingItem], now: float, cfg: BatchConfig, idle_workers: int = 1) -> _Candidate:
    """The FIFO prefix of live items that fits the caps, and whether it can still grow."""
    size_cap = cfg.max_batch_size
    if idle_workers > 1:
        live = sum(1 for item in items if now < item.deadline)
        size_cap = min(size_cap, max(1, -(-live // idle_workers)))
    chosen: list[PendingItem] = []
    longest = 0
    for item in items:
        if now >= item.deadline:
            continue  # expired: never dispatched; prune() reports it
        if len(chosen) >= size_cap:
            return _Candidate(tuple(chosen), full=True)
        widest = max(longest, item.frames)
        if chosen and widest * (len(chosen) + 1) > cfg.max_batch_frames:
            return _Candidate(tuple(chosen), full=True)
        chosen.append(item)
        longest = widest
    # Even an item no longer than the current longest would break the cap: the batch cannot grow.
    full = len(chosen) >= size_cap or longest * (len(chosen) + 1) > cfg.max_batch_frames
    return _Candidate(tuple(chosen), full=full and bool(chosen))


def _earliest_deadline(buckets: Buckets, now: float) -> float | None:
    live = [item.deadline for items in buckets.values() for item in items if item.deadline > now]
    return min(live, default=None)
