"""ttsd.allocator: after ``tune()``, freed large blocks go back to the system, even after a larger block was freed
(which, untuned, raises glibc's mmap threshold so that later blocks come from a heap that keeps them)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = """
import ctypes, sys
from ttsd import allocator
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20
def touched(n):
    block = libc.malloc(n)
    ctypes.memset(block, 1, n)
    return block
if sys.argv[1] == "tuned":
    assert allocator.tune()
elif sys.argv[1] in ("model", "model-trimmed"):
    assert allocator.tune_model()
libc.free(touched(24 << 20))  # untuned: the mmap threshold rises to 24 MiB
before = rss_mib()
blocks = [touched(4 << 20) for _ in range(6)]  # 24 MiB: under the trim threshold, over tune()'s mmap one
guard = touched(64)  # keeps the heap top in use
for block in blocks:
    libc.free(block)
if sys.argv[1] == "model-trimmed":
    allocator.trim()
print(rss_mib() - before)
"""


def _kept_mib(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    return float(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_freed_blocks_go_back_once_tuned() -> None:
    assert _kept_mib("untuned") >= 20  # the behaviour tune() exists for
    assert _kept_mib("tuned") < 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_model_profile_keeps_batch_memory_until_trimmed() -> None:
    """A model worker reuses a batch's blocks (no page faults on the next batch) and returns them on trim()."""
    assert _kept_mib("model") >= 20
    assert _kept_mib("model-trimmed") < 2
