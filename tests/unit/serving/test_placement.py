"""The worker plan (ttsd.serving.placement) and the pool's device list (executors.select_devices)."""

from __future__ import annotations

import pytest

from ttsd.errors import BackendUnavailable
from ttsd.serving.executors import select_devices
from ttsd.serving.placement import WorkerSlot, cpu_split, describe, plan_workers


@pytest.mark.parametrize(
    ("cores", "workers", "threads", "expected"),
    [
        (2, None, None, (2, 1)),  # the measured default on 2 cores: two one-thread workers
        (4, None, None, (4, 1)),
        (8, None, None, (4, 2)),
        (16, None, None, (8, 2)),
        (1, None, None, (1, 1)),
        (8, 2, None, (2, 4)),  # workers given: the cores divided among them
        (8, None, 4, (2, 4)),  # threads given: the workers that fit
        (2, 3, 2, (3, 2)),  # both given: as asked
    ],
)
def test_cpu_split(cores: int, workers: int | None, threads: int | None, expected: tuple[int, int]) -> None:
    assert cpu_split(cores, workers=workers, threads=threads) == expected


def test_one_worker_per_gpu_and_the_cpu_rule_for_the_cpu() -> None:
    slots = plan_workers(["cuda:0", "cuda:1"], workers_per_device=None, threads=None, cores=16)
    assert slots == [WorkerSlot(0, "cuda:0", 1), WorkerSlot(1, "cuda:1", 1)]
    cpu = plan_workers(["cpu"], workers_per_device=None, threads=None, cores=2)
    assert cpu == [WorkerSlot(0, "cpu", 1), WorkerSlot(1, "cpu", 1)]
    assert describe(cpu) == "cpu: 2 worker(s) x 1 thread(s)"


def test_workers_per_device_applies_to_every_device_with_unique_indices() -> None:
    slots = plan_workers(["cuda:0", "cuda:1"], workers_per_device=2, threads=None, cores=4)
    assert [(s.index, s.device) for s in slots] == [(0, "cuda:0"), (1, "cuda:0"), (2, "cuda:1"), (3, "cuda:1")]


def _gpus(usable: set[str]):  # type: ignore[no-untyped-def]
    def probe(device: str) -> tuple[bool, str]:
        ok = device == "cuda" or device in usable
        return ok, "Fake GPU" if ok else "broken"

    return probe


def test_auto_takes_every_usable_gpu() -> None:
    devices, reason = select_devices("auto", probe=_gpus({"cuda:0", "cuda:2"}), count=lambda: 3)
    assert devices == ["cuda:0", "cuda:2"]
    assert "2 usable GPU(s)" in reason


def test_cpu_and_a_named_gpu_are_one_device() -> None:
    assert select_devices("cpu", probe=_gpus(set()), count=lambda: 3)[0] == ["cpu"]
    assert select_devices("auto", probe=lambda d: (False, "none"), count=lambda: 0)[0] == ["cpu"]


def test_listed_devices_are_each_checked() -> None:
    assert select_devices("auto", ["cuda:1", "cuda:0", "cuda:1"], probe=_gpus({"cuda:0", "cuda:1"}))[0] == [
        "cuda:1",
        "cuda:0",
    ]
    with pytest.raises(BackendUnavailable, match="cuda:3"):
        select_devices("auto", ["cuda:3"], probe=_gpus({"cuda:0"}))


def test_the_removed_uvicorn_workers_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from ttsd.config import ConfigError, load_settings

    monkeypatch.setenv("TTSD_WORKERS", "4")
    with pytest.raises(ConfigError, match="TTSD_WORKERS_PER_DEVICE"):
        load_settings()
    monkeypatch.setenv("TTSD_WORKERS", "1")  # the old default is harmless
    assert load_settings().workers_per_device is None
