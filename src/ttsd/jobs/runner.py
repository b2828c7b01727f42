"""Running one job: its unfinished parts through the engine at background priority, each committed as it ends.

``parallel`` parts are in flight at once (enough to fill batches); each finished part is written to its file and
committed (:meth:`~ttsd.jobs.store.JobStore.commit_part`), in whatever order they finish. A resumed job runs only
the parts without a committed row, so a finished sentence is never synthesized again. When every part is
committed, the output is assembled (:mod:`ttsd.jobs.assemble`) in a worker thread.

Errors: a refusal that passes (busy, deadline, the engine still starting) is retried after a pause; a part whose
text turns out to hold nothing to say is silent; a voice failure is retried twice, then fails the job. A lapsed
lease (another process took the job over, or it was removed) or the engine draining stops the run quietly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ttsd.errors import BackendDead, DeadlineExceeded, QueueFull, ShuttingDown, TextError, TTSError
from ttsd.jobs.assemble import Assembled, assemble
from ttsd.jobs.files import JobFiles
from ttsd.jobs.model import JobSpec
from ttsd.jobs.plan import Part, Plan
from ttsd.jobs.store_thread import ThreadedStore
from ttsd.metrics import Metrics
from ttsd.pipeline.engine import State, TTSEngine
from ttsd.pipeline.request import SynthesisResult
from ttsd.subtitles import build_cues

log = logging.getLogger(__name__)

RETRY_S = 0.5
VOICE_FAILURES = 3


class JobFailed(Exception):
    """The job cannot finish; ``str(exc)`` is the message its record keeps."""


class Stopped(Exception):
    """The run stops without ending the job (lease lost, job removed, engine draining)."""


@dataclass(slots=True)
class Progress:
    """What this process did on the job since it took it (for the ETA)."""

    started: float
    characters: int = 0


class JobRunner:
    """Runs one claimed job to its end; see the module docstring."""

    def __init__(
        self,
        *,
        job_id: str,
        owner: str,
        store: ThreadedStore,
        files: JobFiles,
        engine: TTSEngine,
        metrics: Metrics,
        parallel: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.job_id = job_id
        self._owner = owner
        self._store = store
        self._files = files
        self._engine = engine
        self._metrics = metrics
        self._parallel = parallel
        self._clock = clock
        self.progress = Progress(started=time.monotonic())

    async def run(self) -> Assembled:
        row = await self._store.get(self.job_id)
        if row is None:
            raise Stopped("the job was removed")
        spec = JobSpec.from_json(row.spec)
        plan = await asyncio.to_thread(self._files.read_plan, self.job_id)
        done = {p.idx for p in await self._store.parts(self.job_id)}
        todo = deque((i, part) for i, part in enumerate(plan.parts) if i not in done)
        rate = row.sample_rate
        if todo:
            async with asyncio.TaskGroup() as group:
                workers = [group.create_task(self._work(todo, spec)) for _ in range(min(self._parallel, len(todo)))]
            rate = max(w.result() for w in workers)
        return await self._assemble(plan, spec, rate)

    async def _work(self, todo: deque[tuple[int, Part]], spec: JobSpec) -> int:
        rate = 0
        while todo:
            idx, part = todo.popleft()
            result = await self._synthesize(part, spec)
            rate = result.sample_rate
            await asyncio.to_thread(self._files.write_part, self.job_id, idx, result.audio)
            cues = [[round(c.start, 3), round(c.end, 3), c.text] for c in build_cues(result.timestamps)]
            committed = await self._store.commit_part(
                self.job_id, self._owner, idx=idx, samples=len(result.audio), sample_rate=rate,
                characters=len(part.text), cues=cues,
            )  # fmt: skip
            if not committed:
                raise Stopped("the job's lease was lost or the job was removed")
            self.progress.characters += len(part.text)
            self._metrics.job_characters.inc(len(part.text))
        return rate

    async def _synthesize(self, part: Part, spec: JobSpec) -> SynthesisResult:
        failures = 0
        while True:
            try:
                return await self._engine.synthesize(spec.request(part.text))
            except (QueueFull, DeadlineExceeded):
                await asyncio.sleep(RETRY_S)
            except ShuttingDown as exc:
                if self._engine.state is not State.STARTING:
                    raise Stopped("the engine is shutting down") from exc
                await asyncio.sleep(RETRY_S)
            except TextError as exc:  # nothing to say in this part: it is silent
                log.info("job %s: part %r is silent (%s)", self.job_id, part.text[:40], exc.message)
                return _silence(self._engine, spec)
            except BackendDead as exc:
                raise Stopped("the engine failed") from exc
            except TTSError as exc:
                failures += 1
                if failures >= VOICE_FAILURES:
                    raise JobFailed(f"synthesis failed on {part.text[:60]!r}: {exc.message}") from exc
                await asyncio.sleep(RETRY_S * failures)

    async def _assemble(self, plan: Plan, spec: JobSpec, rate: int) -> Assembled:
        parts = await self._store.parts(self.job_id)
        if rate == 0:
            rate = _silence(self._engine, spec).sample_rate
        return await asyncio.to_thread(
            assemble, self._files, self.job_id, plan=plan, parts=parts, sample_rate=rate, spec=spec.audio
        )


def _silence(engine: TTSEngine, spec: JobSpec) -> SynthesisResult:
    lane, _ = engine.resolve(spec.voice)
    return SynthesisResult(
        audio=np.zeros(0, dtype=np.float32),
        sample_rate=lane.voice.sample_rate,
        sentences=0,
        characters=0,
        cached_sentences=0,
        timestamps=[],
        voice=lane.name,
    )
