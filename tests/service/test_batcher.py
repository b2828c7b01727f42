"""The asyncio batcher (ttsd.serving.batcher) driven by a gated fake executor: no sleeps decide outcomes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import pytest

from ttsd.config import BatchConfig
from ttsd.errors import BackendError, DeadlineExceeded, ShuttingDown
from ttsd.metrics import Metrics
from ttsd.serving.batcher import Batcher, RenderedFuture
from ttsd.voices.base import BatchItem, BatchOutput, Rendered, Utterance

T = TypeVar("T")
SR = 1000


class GateExecutor:
    """Runs batches on the event loop, each waiting for ``gate`` to open; fails batches holding ``bad``
    (with a BackendError) or ``boom`` (with a RuntimeError, as a buggy executor would)."""

    name = "gate"
    device = "cpu"

    def __init__(self, capacity: int = 1) -> None:
        self.capacity = capacity
        self.listeners: list[Callable[[], None]] = []
        self.gate = asyncio.Event()
        self.batches: list[tuple[str, ...]] = []
        self.running = 0
        self.max_running = 0
        self.started = asyncio.Event()

    async def run(self, items: Sequence[BatchItem]) -> BatchOutput:
        texts = tuple(item.utterance.text for item in items)
        self.batches.append(texts)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        self.started.set()
        try:
            await self.gate.wait()
        finally:
            self.running -= 1
        if any("bad" in text for text in texts):
            raise BackendError("speech synthesis failed on the server")
        if any("boom" in text for text in texts):
            raise RuntimeError("not a domain error")
        frames = [len(item.utterance.ids) for item in items]
        return BatchOutput(
            waveforms=[np.full(n * 10, float(n), dtype=np.float32) for n in frames],
            acoustic_seconds=0.01,
            vocoder_seconds=0.01,
            padded_frames=max(frames) * len(frames),
            frames=sum(frames),
        )

    async def call(self, fn: Callable[[], T]) -> T:
        return fn()

    def watch(self, listener: Callable[[], None]) -> None:
        self.listeners.append(listener)

    def close(self, *, wait: bool = True) -> None:
        pass


def item(text: str, length: int = 4) -> BatchItem:
    return BatchItem(utterance=Utterance(text=text, phonemes=(), ids=tuple(range(length))))


def far() -> float:
    return asyncio.get_running_loop().time() + 60


async def settle() -> None:
    """Let the batcher loop and callbacks run."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
def executor() -> GateExecutor:
    return GateExecutor()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def make_batcher(executor: GateExecutor, metrics: Metrics) -> AsyncIterator[Callable[..., Batcher]]:
    made: list[Batcher] = []

    def make(**config: Any) -> Batcher:
        cfg = replace(BatchConfig(max_batch_size=4, max_wait_ms=0.0, max_queue=8), **config)
        batcher = Batcher(
            executor=executor,
            config=cfg,
            metrics=metrics,
            estimate_frames=lambda u, c: len(u.ids),
            sample_rate=SR,
            voice="v",
        )
        made.append(batcher)
        return batcher

    yield make
    for batcher in made:
        await batcher.stop()


def sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


async def start_blocked(batcher: Batcher, executor: GateExecutor) -> RenderedFuture:
    """Start the batcher and occupy the executor with one item ('first')."""
    await batcher.start()
    (first,) = batcher.submit([item("first")], deadline=far())
    await executor.started.wait()
    return first


async def test_items_that_wait_are_batched_together(
    make_batcher: Callable[..., Batcher], executor: GateExecutor
) -> None:
    batcher = make_batcher()
    first = await start_blocked(batcher, executor)
    futures = batcher.submit([item(f"s{i}") for i in range(6)], deadline=far())
    await settle()
    assert batcher.queue_depth == 6
    executor.gate.set()
    results = await asyncio.gather(first, *futures)
    assert executor.batches == [("first",), ("s0", "s1", "s2", "s3"), ("s4", "s5")]
    assert all(len(r.waveform) == 40 for r in results)
    assert executor.max_running == 1


async def test_a_batch_never_mixes_buckets(make_batcher: Callable[..., Batcher], executor: GateExecutor) -> None:
    batcher = make_batcher(bucket_edges=(8, 16))
    first = await start_blocked(batcher, executor)
    futures = batcher.submit([item("short", 4), item("long", 12), item("short2", 5)], deadline=far())
    executor.gate.set()
    await asyncio.gather(first, *futures)
    assert executor.batches[1:] == [("short", "short2"), ("long",)]


async def test_max_queue_is_a_capacity_to_wait_for_not_a_refusal(
    make_batcher: Callable[..., Batcher], executor: GateExecutor, metrics: Metrics
) -> None:
    """Refusing is admission's job: the batcher's bound is awaited (room()), and submitting past it is a bug
    that queues nothing (all or nothing)."""
    batcher = make_batcher(max_queue=4, max_batch_size=1)
    first = await start_blocked(batcher, executor)
    queued = batcher.submit([item("a"), item("b"), item("c")], deadline=far())
    await asyncio.wait_for(batcher.room(1), 1.0)  # one more fits: at once
    with pytest.raises(RuntimeError, match="room"):
        batcher.submit([item("x"), item("y")], deadline=far())
    assert batcher.queue_depth == 3
    assert sample(metrics, "ttsd_queue_depth") == 3
    waiting = asyncio.create_task(batcher.room(2))
    await asyncio.sleep(0.02)
    assert not waiting.done()  # 3 + 2 > 4: waits for the queue to drain
    executor.gate.set()
    await asyncio.wait_for(waiting, 1.0)
    late = batcher.submit([item("x"), item("y")], deadline=far())
    await asyncio.gather(first, *queued, *late)
    assert sorted(t for batch in executor.batches for t in batch) == ["a", "b", "c", "first", "x", "y"]


async def test_deadline_drops_queued_items(
    make_batcher: Callable[..., Batcher], executor: GateExecutor, metrics: Metrics
) -> None:
    batcher = make_batcher()
    first = await start_blocked(batcher, executor)
    loop = asyncio.get_running_loop()
    late = batcher.submit([item("late1"), item("late2")], deadline=loop.time() + 0.05)
    for future in late:
        with pytest.raises(DeadlineExceeded):
            await future
    assert batcher.queue_depth == 0
    executor.gate.set()
    await first
    await settle()
    assert executor.batches == [("first",)]


async def test_cancelled_items_leave_the_queue(
    make_batcher: Callable[..., Batcher], executor: GateExecutor, metrics: Metrics
) -> None:
    batcher = make_batcher()
    first = await start_blocked(batcher, executor)
    gone = batcher.submit([item("gone1"), item("gone2")], deadline=far())
    kept = batcher.submit([item("kept")], deadline=far())
    for future in gone:
        future.cancel()
    await settle()
    assert batcher.queue_depth == 1
    executor.gate.set()
    await asyncio.gather(first, *kept)
    assert executor.batches == [("first",), ("kept",)]


async def test_cancelling_a_running_item_discards_its_result_only(
    make_batcher: Callable[..., Batcher], executor: GateExecutor
) -> None:
    batcher = make_batcher()
    await batcher.start()
    a, b = batcher.submit([item("a"), item("b")], deadline=far())
    await executor.started.wait()
    a.cancel()
    executor.gate.set()
    assert len((await b).waveform) == 40
    assert a.cancelled()
    assert executor.batches == [("a", "b")]


async def test_a_failing_batch_fails_only_the_bad_item(
    make_batcher: Callable[..., Batcher], executor: GateExecutor, metrics: Metrics
) -> None:
    batcher = make_batcher()
    first = await start_blocked(batcher, executor)
    good1, bad, good2 = (batcher.submit([item(t)], deadline=far())[0] for t in ("good1", "bad", "good2"))
    executor.gate.set()
    await first
    assert len((await good1).waveform) == len((await good2).waveform) == 40
    with pytest.raises(BackendError):
        await bad
    # The batch of three failed, then each item ran alone.
    assert executor.batches[1:] == [("good1", "bad", "good2"), ("good1",), ("bad",), ("good2",)]


async def test_unexpected_executor_errors_become_backend_errors(
    make_batcher: Callable[..., Batcher], executor: GateExecutor
) -> None:
    batcher = make_batcher()
    await batcher.start()
    executor.gate.set()
    (boom,) = batcher.submit([item("boom")], deadline=far())
    with pytest.raises(BackendError):
        await boom
    (fine,) = batcher.submit([item("fine")], deadline=far())
    assert len((await fine).waveform) == 40  # the batcher survived


async def test_batch_metrics(make_batcher: Callable[..., Batcher], executor: GateExecutor, metrics: Metrics) -> None:
    batcher = make_batcher()
    first = await start_blocked(batcher, executor)
    futures = batcher.submit([item("a", 2), item("b", 6)], deadline=far())
    executor.gate.set()
    await asyncio.gather(first, *futures)
    assert sample(metrics, "ttsd_batch_size_count", {"voice": "v"}) == 2
    assert sample(metrics, "ttsd_batch_size_sum", {"voice": "v"}) == 3
    assert sample(metrics, "ttsd_queue_wait_seconds_count", {"voice": "v"}) == 3
    # Second batch: frames 2 and 6 padded to 12 -> 4/12 padding; first batch has none.
    assert sample(metrics, "ttsd_batch_padding_ratio_sum", {"voice": "v"}) == pytest.approx(4 / 12)
    assert sample(metrics, "ttsd_batch_duration_seconds_count", {"voice": "v", "stage": "acoustic"}) == 2
    # 0.02 s of model time for 40 samples (0.04 s), then 0.02 s for 80 samples (0.08 s).
    assert sample(metrics, "ttsd_real_time_factor_sum", {"voice": "v"}) == pytest.approx(0.5 + 0.25)
    assert sample(metrics, "ttsd_queue_depth") == 0


async def test_max_wait_holds_a_lone_item_back(make_batcher: Callable[..., Batcher], executor: GateExecutor) -> None:
    batcher = make_batcher(max_wait_ms=300.0)
    await batcher.start()
    executor.gate.set()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    (future,) = batcher.submit([item("alone")], deadline=far())
    await asyncio.sleep(0.03)
    assert executor.batches == []  # still waiting for company
    later = batcher.submit([item("company")], deadline=far())
    await asyncio.gather(future, *later)
    assert loop.time() - t0 >= 0.3
    assert executor.batches == [("alone", "company")]


async def test_drain_finishes_queued_work_and_later_sentences_then_refuses(
    make_batcher: Callable[..., Batcher], executor: GateExecutor
) -> None:
    batcher = make_batcher()
    first = await start_blocked(batcher, executor)
    queued = batcher.submit([item("q1"), item("q2")], deadline=far())
    drain = asyncio.create_task(batcher.drain(timeout_s=5))
    await settle()
    # An admitted request's next sentence, read by the front end after the drain began: still taken.
    later = batcher.submit([item("later")], deadline=far())
    executor.gate.set()
    await drain
    results: list[Rendered] = await asyncio.gather(first, *queued, *later)
    assert len(results) == 4
    with pytest.raises(ShuttingDown):
        batcher.submit([item("new")], deadline=far())


async def test_drain_timeout_fails_leftovers(make_batcher: Callable[..., Batcher], executor: GateExecutor) -> None:
    batcher = make_batcher()
    first = await start_blocked(batcher, executor)
    (queued,) = batcher.submit([item("q")], deadline=far())
    await batcher.drain(timeout_s=0.05)
    for future in (first, queued):
        with pytest.raises(ShuttingDown):
            await future


async def test_urgent_items_run_first_in_a_batch_of_their_own(
    make_batcher: Callable[..., Batcher], executor: GateExecutor
) -> None:
    batcher = make_batcher(max_wait_ms=200.0)  # ordinary items wait for company; the urgent one does not
    first = await start_blocked(batcher, executor)
    older = batcher.submit([item("old1"), item("old2")], deadline=far())
    stream = batcher.submit([item("head"), item("rest1"), item("rest2")], deadline=far(), urgent=1)
    executor.gate.set()
    await asyncio.gather(first, *older, *stream)
    assert executor.batches == [("first",), ("head",), ("old1", "old2", "rest1", "rest2")]


async def test_a_pool_of_two_runs_two_batches_at_once_and_splits_a_lane(metrics: Metrics) -> None:
    executor = GateExecutor(capacity=2)
    batcher = Batcher(
        executor=executor,
        config=BatchConfig(max_batch_size=8, max_wait_ms=0.0, max_queue=16),
        metrics=metrics,
        estimate_frames=lambda u, c: len(u.ids),
        sample_rate=SR,
        voice="v",
    )
    await batcher.start()
    futures = batcher.submit([item(f"s{k}") for k in range(4)], deadline=far())
    await settle()
    # Two free workers: the lane's four items go out as two batches of two, side by side.
    assert executor.batches == [("s0", "s1"), ("s2", "s3")]
    assert executor.running == 2
    (late,) = batcher.submit([item("late")], deadline=far())
    await settle()
    assert executor.running == 2  # no third batch while both workers are busy
    executor.gate.set()
    await asyncio.gather(*futures, late)
    assert executor.batches[-1] == ("late",)
    assert executor.max_running == 2
    await batcher.stop()
