"""Worker placement: how many model worker processes each device gets, and how many intra-op threads each.

Rule (docs/batching.md has the figures behind it):

* a GPU gets one worker (``workers_per_device`` overrides), bound to it;
* the CPU's cores are split into workers x threads. By default one thread per worker up to 4 cores (on 2
  cores, two one-thread workers beat one two-thread worker: intra-op threads wait on each other whenever the
  front end takes a core), two threads per worker above that. Given only ``workers_per_device``, threads are
  the cores divided among them; given only ``threads``, workers are the cores divided by it.

Each voice family gets this plan (its own pool), so the families' workers share the cores when both are busy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

SMALL_CPU_CORES = 4  # up to this many cores, one intra-op thread per CPU worker


@dataclass(frozen=True, slots=True)
class WorkerSlot:
    """One worker of the plan: its device, its intra-op threads (CPU) and its index within the family."""

    index: int
    device: str
    threads: int


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, which container CPU sets restrict), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_split(cores: int, *, workers: int | None = None, threads: int | None = None) -> tuple[int, int]:
    """``(workers, threads per worker)`` for ``cores`` CPU cores; see the module docstring."""
    cores = max(1, cores)
    if workers and threads:
        return workers, threads
    if workers:
        return workers, max(1, cores // workers)
    if threads:
        return max(1, cores // threads), threads
    per_worker = 1 if cores <= SMALL_CPU_CORES else 2
    return max(1, cores // per_worker), per_worker


def plan_workers(
    devices: Sequence[str], *, workers_per_device: int | None, threads: int | None, cores: int
) -> list[WorkerSlot]:
    """Every worker of one family's pool, device by device (``workers_per_device`` None = the rule)."""
    slots: list[WorkerSlot] = []
    for device in devices:
        if device.startswith("cuda"):
            count, per_worker = workers_per_device or 1, threads or 1
        else:
            count, per_worker = cpu_split(cores, workers=workers_per_device, threads=threads)
        first = len(slots)
        slots += [WorkerSlot(index=first + k, device=device, threads=per_worker) for k in range(count)]
    return slots


def describe(slots: Sequence[WorkerSlot]) -> str:
    """``cpu: 2 workers x 1 thread`` style summary for the log."""
    parts: list[str] = []
    for device in dict.fromkeys(slot.device for slot in slots):
        mine = [slot for slot in slots if slot.device == device]
        parts.append(f"{device}: {len(mine)} worker(s) x {mine[0].threads} thread(s)")
    return "; ".join(parts)
