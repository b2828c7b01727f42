"""The worker pool (ttsd.serving.pool) with real spawned worker processes running the fake voice: batches,
several devices, and faults (kill -9, a model thread that dies, a hung batch, a crash loop) injected through
the fake voice's options and signals."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable

import pytest

from ttsd.errors import BackendDead, BackendUnavailable
from ttsd.metrics import Metrics
from ttsd.serving.pool import WorkerLost, WorkerPool
from ttsd.serving.worker import WorkerSpec
from ttsd.text.plain import PlainFrontend
from ttsd.voices.base import BatchItem
from ttsd.voices.fake import FakeVoice, frames_for, tone_hz
from ttsd.voices.options import FakeOptions, VoiceOptions

pytestmark = pytest.mark.slow  # spawns processes

VOICE = FakeVoice(options=VoiceOptions())


def item(text: str) -> BatchItem:
    (sentence,) = PlainFrontend().sentences(text, budget=VOICE.budget)
    return BatchItem(utterance=VOICE.encode(sentence))


def specs(n: int, faults: FakeOptions | None = None, devices: tuple[str, ...] = ("cpu",)) -> list[WorkerSpec]:
    return [
        WorkerSpec(
            family="fake",
            index=k,
            options=VoiceOptions(device=devices[k % len(devices)], threads=1, fake=faults or FakeOptions()),
            warmup=False,
        )
        for k in range(n)
    ]


@pytest.fixture
async def make_pool() -> AsyncIterator[Callable[..., WorkerPool]]:
    made: list[WorkerPool] = []
    metrics = Metrics()

    def make(worker_specs: list[WorkerSpec], **kwargs: float) -> WorkerPool:
        pool = WorkerPool(specs=worker_specs, metrics=metrics, **kwargs)  # type: ignore[arg-type]
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.close(wait=False)


async def started(pool: WorkerPool) -> WorkerPool:
    await asyncio.to_thread(pool.start)
    pool.watch(lambda: None)
    return pool


async def until(predicate: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def sample(pool: WorkerPool, name: str) -> float:
    value = pool._metrics.registry.get_sample_value(name, {"voice": "fake"})
    return 0.0 if value is None else value


async def test_batches_run_side_by_side_on_every_worker(make_pool: Callable[..., WorkerPool]) -> None:
    pool = await started(make_pool(specs(2, FakeOptions(delay_ms_per_batch=400)), watchdog_s=30))
    assert pool.capacity == 2
    assert len(set(pool.pids())) == 2
    assert os.getpid() not in pool.pids()
    running = asyncio.gather(pool.run([item("第一句")]), pool.run([item("第二句"), item("第三句")]))
    await until(lambda: all(slot.busy for slot in pool._slots))  # two batches at once, one per worker
    outputs = await running
    (first,), (_second, third) = (o.waveforms for o in outputs)
    assert len(first) == frames_for(item("第一句").utterance) * 300
    assert [len(d) for d in outputs[1].durations] == [4, 4]  # three characters + eos each
    assert tone_hz(item("第三句").utterance.ids) > 0
    assert third.flags.writeable


async def test_the_plan_binds_each_worker_to_its_device(make_pool: Callable[..., WorkerPool]) -> None:
    pool = await started(make_pool(specs(2, devices=("cuda:0", "cuda:1"))))  # the fake voice takes any device
    assert pool.device == "cuda:0,cuda:1"
    assert pool.info is not None
    assert pool.info.device == "cuda:0"
    labels = {"voice": "fake", "worker": "1", "device": "cuda:1", "threads": "1"}
    assert pool._metrics.registry.get_sample_value("ttsd_worker_info", labels) == 1


async def test_a_worker_killed_mid_batch_is_replaced_and_its_batch_retried(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = await started(make_pool(specs(2, FakeOptions(delay_ms_per_batch=1500)), watchdog_s=30))
    running = asyncio.ensure_future(pool.run([item("一"), item("二")]))
    await until(lambda: any(slot.busy for slot in pool._slots))
    (victim,) = [slot.worker.pid for slot in pool._slots if slot.busy and slot.worker is not None]
    await asyncio.sleep(0.3)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    output = await running
    assert len(output.waveforms) == 2  # the requests in the batch still succeed
    await until(lambda: pool.capacity == 2 and victim not in pool.pids())
    assert sample(pool, "ttsd_worker_restarts_total") == 1
    assert not alive(victim)


async def test_a_dying_model_thread_is_retried_once_then_the_batch_fails_alone(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = await started(make_pool(specs(2, FakeOptions(die_on="毒")), crash_limit=5))
    with pytest.raises(WorkerLost, match="crashed"):
        await pool.run([item("有毒"), item("好的")])
    assert sample(pool, "ttsd_worker_restarts_total") == 2  # tried on two workers, not item by item
    await until(lambda: pool.capacity == 2)
    assert len((await pool.run([item("好的")])).waveforms) == 1


async def test_a_hung_batch_is_killed_at_the_watchdog_and_retried(make_pool: Callable[..., WorkerPool]) -> None:
    pool = await started(make_pool(specs(1, FakeOptions(hang_on="卡", hang_s=60)), watchdog_s=0.5, crash_limit=5))
    (pid,) = pool.pids()
    with pytest.raises(WorkerLost):
        await pool.run([item("卡住")])  # hangs on the first worker and on its replacement
    assert not alive(pid)
    await until(lambda: pool.capacity == 1)
    assert len((await pool.run([item("好的")])).waveforms) == 1


async def test_a_crash_loop_kills_the_pool(make_pool: Callable[..., WorkerPool]) -> None:
    pool = await started(make_pool(specs(2, FakeOptions(die_on="毒")), crash_limit=3, crash_window_s=60))
    with pytest.raises(WorkerLost):
        await pool.run([item("毒一")])
    with pytest.raises((WorkerLost, BackendDead)):
        await pool.run([item("毒二")])
    with pytest.raises(BackendDead, match=r"keeps crashing|unavailable"):
        await pool.run([item("好的")])


async def test_a_worker_that_cannot_load_fails_the_start(make_pool: Callable[..., WorkerPool]) -> None:
    bad = [WorkerSpec(family="no-such-family", index=0, options=VoiceOptions(), warmup=False)]
    with pytest.raises(Exception, match="unknown voice"):
        await asyncio.to_thread(make_pool(bad).start)
    pool = make_pool(specs(1), start_timeout_s=0.001)
    with pytest.raises(BackendUnavailable, match="did not load"):
        await asyncio.to_thread(pool.start)


async def test_close_leaves_no_worker_behind(make_pool: Callable[..., WorkerPool]) -> None:
    pool = await started(make_pool(specs(2)))
    pids = pool.pids()
    pool.close()
    assert not any(alive(pid) for pid in pids)
