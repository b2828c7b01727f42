"""A model worker: one spawned process that loads one voice family on one device and runs its batches.

The server talks to it over a pipe (:mod:`ttsd.serving.transport`): ``("ready", VoiceInfo)`` or
``("failed", exception)`` once it has loaded (and warmed up) its voice, then one reply per batch,
``("ok", BatchOutput)`` or ``("error", exception)``. ``None`` asks it to exit.

* It is *spawned* (a fresh interpreter), never forked: torch and onnxruntime thread pools in the server
  process would not survive a fork.
* A CUDA worker binds its device before the model loads (``torch.cuda.set_device``).
* Its allocator keeps a batch's working memory for the next batch (:func:`ttsd.allocator.tune_model`) and
  gives it back to the system once no batch has come for :data:`IDLE_TRIM_S` (:func:`ttsd.allocator.trim`).
* It never outlives the server: a thread checks the parent's pid twice a second and exits when the server is
  gone (SIGKILLed included), and the pipe's end-of-file ends the batch loop.
* A voice that raises an ``Exception`` on a batch fails that batch only (``("error", ...)``); anything that
  kills the model thread (a ``BaseException``, such as the fake voice's ``die_on`` fault) ends the process
  with :data:`DIED_EXIT`, as a segfault would: the pool replaces it.

:class:`ProcessWorker` is the server's handle on one such process (blocking calls: the pool runs them on a
thread of its own per worker).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import sys
import threading
import time
import types
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from ttsd import allocator
from ttsd.errors import BackendError, BackendUnavailable, TTSError
from ttsd.logs import configure_logging
from ttsd.serving.transport import recv_message, send_message
from ttsd.voices import registry
from ttsd.voices.base import BatchItem, BatchOutput, VoiceInfo
from ttsd.voices.options import VoiceOptions

log = logging.getLogger(__name__)

DIED_EXIT = 70  # exit status of a worker whose model thread died
_PARENT_POLL_S = 0.5
IDLE_TRIM_S = 0.5
_MAIN_LOCK = threading.Lock()


class WorkerDied(BackendError):
    """The worker process ended (crash, kill, watchdog) before answering."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSpec:
    """What one worker loads: ``family`` with ``options`` (device and threads set), warmed up or not.
    ``bind_cuda``: call ``torch.cuda.set_device(options.device)`` before loading (real CUDA devices only)."""

    family: str
    index: int
    options: VoiceOptions
    warmup: bool = True
    bind_cuda: bool = False
    log_level: str = "info"
    log_format: str = "text"

    @property
    def label(self) -> str:
        return f"{self.family}/{self.index}"


# -- the worker process ------------------------------------------------------------------------------------


def worker_main(conn: Connection, spec: WorkerSpec, parent_pid: int) -> None:
    """The spawned process's entry point."""
    configure_logging(spec.log_level, spec.log_format)
    allocator.tune_model()  # a batch's memory serves the next batch; it goes back when the worker idles
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="ttsd-parent-watch", daemon=True).start()
    try:
        if spec.bind_cuda:
            import torch

            torch.cuda.set_device(torch.device(spec.options.device))
        voice = registry.load_family(spec.family, spec.options)
        if spec.warmup:
            voice.warmup()
    except BaseException as exc:
        send_message(conn, ("failed", _portable(exc)))
        return
    send_message(conn, ("ready", voice.info))
    while True:
        try:
            if not conn.poll(IDLE_TRIM_S):
                allocator.trim()
            batch = recv_message(conn)
        except (EOFError, OSError):
            return  # the server closed the pipe or died
        if batch is None:
            return
        try:
            reply: tuple[str, Any] = ("ok", voice.run_batch(batch))
        except Exception as exc:
            reply = ("error", _portable(exc))
        except BaseException:
            logging.getLogger(__name__).critical("worker %s: the model thread died", spec.label, exc_info=True)
            os._exit(DIED_EXIT)
        try:
            send_message(conn, reply)
        except OSError:
            return


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(_PARENT_POLL_S)
        if os.getppid() != parent_pid:
            os._exit(0)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (domain errors, with their status), else a :class:`BackendError` naming it."""
    if isinstance(exc, TTSError):
        try:
            pickle.loads(pickle.dumps(exc))
            return exc
        except Exception:
            return BackendError(str(exc))
    return BackendError(f"{type(exc).__name__}: {exc}")


# -- the server's handle -----------------------------------------------------------------------------------


class ProcessWorker:
    """One worker process. Blocking methods; not thread-safe (the pool gives each worker one thread)."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.info: VoiceInfo | None = None
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def sentinel(self) -> int | None:
        """A file descriptor that becomes readable when the process ends (for the event loop to watch)."""
        return None if self._process is None else self._process.sentinel

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def launch(self) -> None:
        """Spawn the process (it starts loading at once)."""
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        process = ctx.Process(
            target=worker_main,
            args=(child, self.spec, os.getpid()),
            name=f"ttsd-worker-{self.spec.family}-{self.spec.index}",
            daemon=True,
        )
        with _MAIN_LOCK:
            # A spawned child re-runs the parent's __main__ script unless it is a module's (python -m ttsd);
            # a worker needs none of it (a bench script or a test runner would start again): hide it.
            main = sys.modules["__main__"]
            sys.modules["__main__"] = types.ModuleType("__main__")
            try:
                process.start()
            finally:
                sys.modules["__main__"] = main
        child.close()
        self._process, self._conn = process, parent

    def wait_ready(self, timeout_s: float) -> VoiceInfo:
        """Wait for the voice to load; raises what the worker raised, or :class:`BackendUnavailable`."""
        conn = self._connection()
        try:
            if not conn.poll(timeout_s):
                raise BackendUnavailable(f"model worker {self.spec.label} did not load within {timeout_s:g} s")
            kind, payload = recv_message(conn)
        except (EOFError, OSError):
            self.kill()
            raise BackendUnavailable(
                f"model worker {self.spec.label} exited while loading (status {self._exitcode()})"
            ) from None
        except BaseException:
            self.kill()
            raise
        if kind != "ready":
            self.kill()
            raise payload if isinstance(payload, BaseException) else BackendError(str(payload))
        self.info = payload
        return self.info

    def run(self, batch: Sequence[BatchItem]) -> BatchOutput:
        """One batch, blocking. :class:`WorkerDied` if the process ends before it answers."""
        conn = self._connection()
        try:
            send_message(conn, list(batch))
            kind, payload = recv_message(conn)
        except (EOFError, OSError):
            raise WorkerDied(f"model worker {self.spec.label} died (status {self._exitcode()})") from None
        if kind == "ok":
            output: BatchOutput = payload
            return output
        raise payload

    def kill(self) -> None:
        """SIGKILL (a blocked :meth:`run` then raises :class:`WorkerDied`); reaps the process."""
        if self._process is not None and self._process.is_alive():
            self._process.kill()
        if self._process is not None:
            self._process.join(5)

    def stop(self, timeout_s: float) -> None:
        """Ask the worker to exit (after the batch it is running), wait ``timeout_s``, then kill it."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                send_message(self._conn, None)
        if self._process is not None:
            self._process.join(timeout_s)
        self.kill()
        if self._conn is not None:
            self._conn.close()

    def _connection(self) -> Connection:
        if self._conn is None:
            raise BackendUnavailable(f"model worker {self.spec.label} was not started")
        return self._conn

    def _exitcode(self) -> str:
        if self._process is None:
            return "not started"
        self._process.join(1)
        code = self._process.exitcode
        return "still running" if code is None else str(code)
