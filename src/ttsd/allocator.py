"""The C allocator's settings for a long-running server: memory a request used goes back to the system.

glibc's malloc adapts its mmap threshold upwards each time a large block is freed (up to 32 MB on 64-bit), so
after the first long utterance every later audio buffer and model activation comes from the heap, whose freed
pages a busy process rarely returns: a server that served one long request keeps its peak. :func:`tune` fixes
the threshold (blocks of :data:`MMAP_THRESHOLD` or more are mapped on their own and unmapped when freed),
trims the heap top above :data:`TRIM_THRESHOLD`, and caps the per-thread arenas at :data:`ARENA_MAX` (each
model, front-end and loop thread otherwise gets its own, and their free pages add up). onnxruntime's own arena is
handled by the Kokoro session (it shrinks after each call).

Only on glibc; elsewhere (musl, macOS) nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

MMAP_THRESHOLD = 1 << 20
TRIM_THRESHOLD = 32 << 20
ARENA_MAX = 2
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune() -> bool:
    """Apply the settings above to this process (call once, early: before the models load); whether it could."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    done = all(
        mallopt(option, value) == 1
        for option, value in (
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (_M_ARENA_MAX, ARENA_MAX),
        )
    )
    log.debug("malloc: mmap threshold %d, trim threshold %d, %d arenas", MMAP_THRESHOLD, TRIM_THRESHOLD, ARENA_MAX)
    return done
