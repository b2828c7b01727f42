"""The C allocator's settings for a long-running server: memory a request used goes back to the system.

glibc's malloc adapts its mmap threshold upwards each time a large block is freed (up to 32 MB on 64-bit), so
after the first long utterance every later audio buffer and model activation comes from the heap, whose freed
pages a busy process rarely returns: a server that served one long request keeps its peak. :func:`tune` fixes
the threshold (blocks of :data:`MMAP_THRESHOLD` or more are mapped on their own and unmapped when freed),
trims the heap top above :data:`TRIM_THRESHOLD`, and caps the per-thread arenas at :data:`ARENA_MAX` (each
model, front-end and loop thread otherwise gets its own, and their free pages add up). onnxruntime's own arena is
handled by the Kokoro session (it shrinks after each call).

A model worker process uses another profile (:func:`tune_model`): a 1 MiB threshold maps and unmaps every
activation of every batch, and the page faults cost a one-thread Baker worker about 15% of its throughput
(measured: 27.7 against 34.7 audio s/s, ``docs/benchmarks.md``). There blocks under :data:`MODEL_MMAP_THRESHOLD`
come from the heap and are reused batch after batch, and the worker calls :func:`trim` whenever it goes idle, so
what a long batch used still goes back once the traffic stops.

Only on glibc; elsewhere (musl, macOS) nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

MMAP_THRESHOLD = 1 << 20
MODEL_MMAP_THRESHOLD = 8 << 20
TRIM_THRESHOLD = 32 << 20
ARENA_MAX = 2
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune() -> bool:
    """Apply the settings above to this process (call once, early: before the models load); whether it could."""
    return _apply(MMAP_THRESHOLD)


def tune_model() -> bool:
    """The model worker's profile: the same, with the :data:`MODEL_MMAP_THRESHOLD`; pair it with :func:`trim`."""
    return _apply(MODEL_MMAP_THRESHOLD)


def trim() -> bool:
    """Give the heap's free pages back to the system now (``malloc_trim``); whether any went back."""
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0) == 1)
    except (OSError, AttributeError):
        return False


def _apply(mmap_threshold: int) -> bool:
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    done = all(
        mallopt(option, value) == 1
        for option, value in (
            (_M_MMAP_THRESHOLD, mmap_threshold),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (_M_ARENA_MAX, ARENA_MAX),
        )
    )
    log.debug("malloc: mmap threshold %d, trim threshold %d, %d arenas", mmap_threshold, TRIM_THRESHOLD, ARENA_MAX)
    return done
