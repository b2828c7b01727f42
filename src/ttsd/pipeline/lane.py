"""A lane: one loaded voice family with its executor, batcher and admission budget.

Each family runs on its own lane, so the batcher never mixes voices in a batch and a slow family (Kokoro on a
CPU) cannot hold another's queue: their batches alternate on the cores, one batch in flight per lane.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ttsd.config import BatchConfig
from ttsd.metrics import Metrics
from ttsd.pipeline.admission import Admission, AdmissionConfig
from ttsd.serving.batcher import Batcher
from ttsd.serving.executors import Executor
from ttsd.voices.base import Voice


@dataclass(frozen=True, slots=True)
class LoadedVoice:
    """What the composition root hands the engine for each family: the voice and the executor that runs it."""

    voice: Voice
    executor: Executor


class Lane:
    """See the module docstring. Use from the event loop only."""

    def __init__(
        self,
        *,
        loaded: LoadedVoice,
        batch: BatchConfig,
        admission: AdmissionConfig,
        metrics: Metrics,
        on_fatal: Callable[[BaseException], None] | None = None,
        on_depth: Callable[[], None] | None = None,
    ) -> None:
        voice = loaded.voice
        if not voice.info.batchable:
            batch = replace(batch, max_batch_size=1)
        metrics.add_voice(voice.info.name)
        self.voice = voice
        self.executor = loaded.executor
        self.admission = Admission(config=admission)
        # Long-form jobs' sentences count here, apart from interactive work (their pace is set by the job runner).
        self.background_admission = Admission(config=replace(admission, max_backlog_s=0.0))
        self.batcher = Batcher(
            executor=loaded.executor,
            config=batch,
            metrics=metrics,
            estimate_frames=voice.estimate_frames,
            sample_rate=voice.sample_rate,
            voice=voice.info.name,
            on_batch=self._observe,
            on_fatal=on_fatal,
            on_depth=on_depth,
        )

    def _observe(self, *, audio_s: float, model_s: float) -> None:
        self.admission.observe(audio_s=audio_s, model_s=model_s)
        self.background_admission.observe(audio_s=audio_s, model_s=model_s)

    @property
    def name(self) -> str:
        return self.voice.info.name

    async def start(self, *, warmup: bool) -> None:
        await self.batcher.start()
        if warmup:
            await self.executor.call(self.voice.warmup)

    async def drain(self, timeout_s: float) -> None:
        await self.batcher.drain(timeout_s)
        self.executor.close(wait=False)
