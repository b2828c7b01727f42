"""Executors: run a voice's blocking calls off the event loop.

The server runs each family on a pool of worker processes (:class:`ttsd.serving.pool.WorkerPool`,
``capacity`` batches at once); the in-process executors here serve the Python API, ``ttsd synth``, tests,
and a server started with ``TTSD_WORKERS_PER_DEVICE=0``. Both own exactly one worker thread, so a voice
(which is not thread-safe, see :mod:`ttsd.voices.base`) only ever sees one call at a time, and the event
loop stays free for HTTP, health checks and the batcher. :class:`CpuExecutor` is the CPU flavour (torch's
intra-op threads do the parallel work: the voice sets them); :class:`CudaExecutor` is the CUDA flavour (its
thread binds the CUDA device).

torch is never imported at module level: CPU-only and fake-voice deployments import this module without it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from ttsd.errors import BackendDead, BackendError, BackendUnavailable, TTSError
from ttsd.voices.base import BatchItem, BatchOutput, Voice

log = logging.getLogger(__name__)

T = TypeVar("T")


class Executor(Protocol):
    """What the batcher and the engine need from an executor."""

    @property
    def name(self) -> str:
        """``cpu-thread`` or ``cuda-thread`` (exported in ``ttsd_build_info``)."""
        ...

    @property
    def device(self) -> str: ...

    @property
    def capacity(self) -> int:
        """Batches it can run at once (live workers); the batcher keeps at most this many in flight."""
        ...

    def watch(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` when capacity may have grown (a worker freed or replaced)."""
        ...

    async def run(self, items: Sequence[BatchItem]) -> BatchOutput:
        """Run one batch through the voice. Raises :class:`BackendError` if the voice fails."""
        ...

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the model thread (warm-up and other whole-model work)."""
        ...

    def close(self, *, wait: bool = True) -> None:
        """Stop the worker thread; ``wait=False`` abandons a batch still running."""
        ...


class _ThreadExecutor:
    """One worker thread running ``voice.run_batch``; subclasses choose how the thread is prepared."""

    name = "thread"

    def __init__(self, *, voice: Voice, device: str, watchdog_s: float | None = None) -> None:
        self._voice = voice
        self._device = device
        self._watchdog_s = watchdog_s
        self._dead: str | None = None
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"ttsd-model-{device}", initializer=self._init_thread
        )

    @property
    def device(self) -> str:
        return self._device

    @property
    def capacity(self) -> int:
        return 1

    def watch(self, listener: Callable[[], None]) -> None:
        """One thread, no replacements: the batcher's own bookkeeping sees it free up."""

    def _init_thread(self) -> None:
        """Runs once in the worker thread before any batch."""

    async def run(self, items: Sequence[BatchItem]) -> BatchOutput:
        """One batch; a batch running past the watchdog, or a model thread that dies, is :class:`BackendDead`."""
        batch = tuple(items)
        try:
            async with asyncio.timeout(self._watchdog_s):
                return await self.call(lambda: self._voice.run_batch(batch))
        except TimeoutError:
            self._dead = f"a batch ran longer than the {self._watchdog_s:g} s watchdog"
            log.critical("voice %s: %s; the model thread is wedged", self._voice.info.name, self._dead)
            raise BackendDead("the speech model stopped responding; this server is restarting") from None
        except TTSError:
            raise
        except Exception as exc:
            # Details (tensors, paths, CUDA messages) go to the log only; clients get a stable message.
            log.exception("voice %s failed on a batch of %d item(s)", self._voice.info.name, len(batch))
            raise BackendError("speech synthesis failed on the server") from exc
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
                raise
            self._dead = f"the model thread died ({type(exc).__name__})"
            log.critical("voice %s: %s", self._voice.info.name, self._dead, exc_info=exc)
            raise BackendDead("the speech model failed fatally; this server is restarting") from exc

    async def call(self, fn: Callable[[], T]) -> T:
        if self._dead is not None:
            raise BackendDead(f"the speech model is unavailable: {self._dead}")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn)

    def close(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)


class CpuExecutor(_ThreadExecutor):
    """CPU: one batch at a time on one worker thread; the voice's torch threads use the cores."""

    name = "cpu-thread"

    def __init__(self, *, voice: Voice, device: str = "cpu", watchdog_s: float | None = None) -> None:
        super().__init__(voice=voice, device=device, watchdog_s=watchdog_s)


class CudaExecutor(_ThreadExecutor):
    """CUDA: one batch in flight per device; the worker thread binds its CUDA device before any batch."""

    name = "cuda-thread"

    def _init_thread(self) -> None:
        torch = _import_torch()
        if torch is not None and self._device.startswith("cuda"):
            torch.cuda.set_device(torch.device(self._device))


def make_executor(device: str, voice: Voice, *, watchdog_s: float | None = None) -> CpuExecutor | CudaExecutor:
    """The executor for a resolved device (``cpu``, ``cuda`` or ``cuda:N``)."""
    if device.startswith("cuda"):
        return CudaExecutor(voice=voice, device=device, watchdog_s=watchdog_s)
    return CpuExecutor(voice=voice, device=device, watchdog_s=watchdog_s)


def select_device(requested: str, *, probe: Callable[[str], tuple[bool, str]] | None = None) -> tuple[str, str]:
    """Resolve ``TTSD_DEVICE`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``) to ``(device, human reason)``.

    ``auto`` picks CUDA when torch sees a device and a tiny operation on it works, else CPU. Asking for CUDA
    without a usable device raises :class:`BackendUnavailable` with the probe's explanation. ``probe`` (tests)
    replaces :func:`probe_cuda`; it is only called when CUDA is a possibility.
    """
    check = probe if probe is not None else probe_cuda
    if requested == "cpu":
        return "cpu", "CPU requested"
    if requested == "auto":
        ok, why = check("cuda")
        if ok:
            return "cuda", f"auto: CUDA is usable ({why})"
        return "cpu", f"auto: CUDA not usable ({why}); using CPU"
    if requested == "cuda" or requested.startswith("cuda:"):
        ok, why = check(requested)
        if not ok:
            raise BackendUnavailable(
                f"device {requested!r} requested but CUDA is not usable: {why}. "
                "Use device 'auto' or 'cpu', or install a CUDA build of torch."
            )
        return requested, f"{requested} requested ({why})"
    raise BackendUnavailable(f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N")


def select_devices(
    requested: str,
    listed: Sequence[str] = (),
    *,
    probe: Callable[[str], tuple[bool, str]] | None = None,
    count: Callable[[], int] | None = None,
) -> tuple[list[str], str]:
    """The devices the worker pool uses, and why: ``listed`` (``TTSD_DEVICES``) if given, each checked;
    else from ``requested`` (``TTSD_DEVICE``): ``auto`` and ``cuda`` take every usable GPU (``cuda:0`` ..
    ``cuda:n-1``; ``auto`` falls back to the CPU), ``cuda:N`` that one, ``cpu`` the CPU. ``probe`` and
    ``count`` (tests) replace :func:`probe_cuda` and torch's device count."""
    if listed:
        resolved = [select_device(device, probe=probe)[0] for device in listed]
        return list(dict.fromkeys(resolved)), "devices listed"
    device, reason = select_device(requested, probe=probe)
    if device != "cuda":
        return [device], reason
    check = probe if probe is not None else probe_cuda
    total = count() if count is not None else _cuda_count()
    usable = [f"cuda:{k}" for k in range(total) if check(f"cuda:{k}")[0]]
    return (usable or ["cuda:0"]), f"{reason}; {len(usable) or 1} usable GPU(s)"


def _cuda_count() -> int:
    torch = _import_torch()
    return 0 if torch is None else int(torch.cuda.device_count())


def probe_cuda(device: str = "cuda") -> tuple[bool, str]:
    """Whether ``device`` can run a tiny op, and why (GPU name, or what is missing)."""
    torch = _import_torch()
    if torch is None:
        return False, "torch is not installed"
    try:
        if not torch.cuda.is_available():
            return False, "torch sees no CUDA device (CPU-only build or no driver)"
        value = (torch.ones(2, device=device) * 2).sum().item()
        if value != 4:
            return False, f"a test operation on {device} returned {value}"
        return True, str(torch.cuda.get_device_name(torch.device(device)))
    except Exception as exc:  # any driver/runtime failure means "not usable", with the reason logged
        log.warning("CUDA probe on %s failed", device, exc_info=True)
        return False, f"a test operation on {device} failed: {type(exc).__name__}"


def _import_torch() -> Any:
    """torch, or None when it is not installed (imported lazily: serving must not need torch)."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None
