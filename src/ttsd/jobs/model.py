"""What a long-form job is: its settings, what was submitted, and what a client sees of it (plain data)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttsd.audio import AudioSpec
from ttsd.controls import Controls
from ttsd.pipeline.request import InputType, SynthesisRequest


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobsConfig:
    """The job service's knobs (the composition root fills them from ``TTSD_JOBS_*``).

    * ``directory``: job records (``jobs.sqlite3``) and audio; ``None`` turns jobs off.
    * ``max_chars``: longest accepted input. ``quota_bytes``: disk the jobs may hold at once (estimated at
      submission; 0 = no limit). ``retention_s``: finished jobs are removed this long after they ended.
    * ``concurrency``: jobs run at once by this process; ``parallel``: sentences of one job in flight at once.
    * ``lease_s``: a running job's lease; a job whose lease lapsed (its process died) is taken over.
    * ``callback_hosts``: hosts a ``callback_url`` may point at (none: callbacks are refused).
    * ``owner``: this process's name in leases.
    * ``store``: ``sqlite`` (records in ``<directory>/jobs.sqlite3``) or a ``redis://`` URL (records, queue and
      leases shared by replicas, whose ``directory`` must then be one shared volume).
    """

    directory: Path | None
    store: str = "sqlite"
    max_chars: int = 1_000_000
    quota_bytes: int = 20 * 1024**3
    retention_s: float = 7 * 86_400.0
    concurrency: int = 1
    parallel: int = 8
    lease_s: float = 15.0
    callback_hosts: tuple[str, ...] = ()
    owner: str = "ttsd"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """What was submitted: the synthesis request's fields (text apart) and the output wanted."""

    voice: str | None = None
    input_type: InputType = "text"
    controls: Controls = field(default_factory=Controls)
    format: str = "wav"
    sample_rate: int | None = None
    volume: float = 1.0
    subtitles: str | None = None
    callback_url: str | None = None

    @property
    def audio(self) -> AudioSpec:
        return AudioSpec(format=self.format, sample_rate=self.sample_rate, volume=self.volume)

    def request(self, text: str) -> SynthesisRequest:
        """The background synthesis request for one part of the job."""
        return SynthesisRequest(
            text=text, controls=self.controls, voice=self.voice, input_type=self.input_type, background=True
        )

    def to_json(self) -> dict[str, Any]:
        c = self.controls
        return {
            "voice": self.voice,
            "input_type": self.input_type,
            "controls": {
                "speed": c.speed, "pitch": c.pitch, "intonation": c.intonation, "energy": c.energy,
                "variation": c.variation, "seed": c.seed, "emotion": c.emotion,
            },
            "format": self.format,
            "sample_rate": self.sample_rate,
            "volume": self.volume,
            "subtitles": self.subtitles,
            "callback_url": self.callback_url,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobSpec:
        return cls(
            voice=data["voice"],
            input_type=data["input_type"],
            controls=Controls(**data["controls"]),
            format=data["format"],
            sample_rate=data["sample_rate"],
            volume=data["volume"],
            subtitles=data["subtitles"],
            callback_url=data["callback_url"],
        )


@dataclass(frozen=True, slots=True)
class Chapter:
    title: str
    start_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class JobView:
    """A job as a client sees it (``GET /v1/jobs/{id}``)."""

    id: str
    status: JobStatus
    characters: int
    characters_done: int
    parts: int
    parts_done: int
    audio_s: float
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: str | None
    spec: JobSpec
    output_bytes: int = 0
    eta_s: float | None = None
    chapters: tuple[Chapter, ...] = ()
    worker: str | None = None

    @property
    def progress(self) -> float:
        if self.status is JobStatus.SUCCEEDED:
            return 1.0
        return 0.0 if self.characters == 0 else min(1.0, self.characters_done / self.characters)
