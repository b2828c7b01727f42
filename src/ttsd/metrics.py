"""Every Prometheus metric ttsd exports, defined once, on a registry owned by one :class:`Metrics` object.

No module-level collectors: the app creates one ``Metrics`` and passes it down, so tests get fresh counters.
Names and labels are a contract with the dashboards and alert rules in ``deploy/``; change them together.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
RATIO_BUCKETS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
RTF_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
SESSION_CHAR_BUCKETS = (10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000)

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
REJECT_REASONS = ("queue_full", "timeout", "cancelled", "invalid", "unauthorized", "shutting_down")


class Metrics:
    """The metric set of one ttsd process."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.request_duration = Histogram(
            "ttsd_request_duration_seconds",
            "HTTP request latency.",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.time_to_first_audio = Histogram(
            "ttsd_time_to_first_audio_seconds",
            "Time from request to the first audio byte.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("ttsd_queue_depth", "Items waiting in the batcher.", registry=r)
        self.queue_wait = Histogram(
            "ttsd_queue_wait_seconds",
            "Time an item waited before its batch started.",
            ["voice"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "ttsd_batch_size", "Items per dispatched batch.", ["voice"], buckets=BATCH_SIZE_BUCKETS, registry=r
        )
        self.batch_padding_ratio = Histogram(
            "ttsd_batch_padding_ratio",
            "Share of padded frames in a batch.",
            ["voice"],
            buckets=RATIO_BUCKETS,
            registry=r,
        )
        self.batch_duration = Histogram(
            "ttsd_batch_duration_seconds",
            "Model time per batch and stage.",
            ["voice", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.audio_seconds = Counter("ttsd_audio_seconds_total", "Seconds of audio synthesized.", ["voice"], registry=r)
        self.characters = Counter("ttsd_characters_total", "Characters synthesized.", ["voice"], registry=r)
        self.real_time_factor = Histogram(
            "ttsd_real_time_factor",
            "Batch model time divided by the audio it produced.",
            ["voice"],
            buckets=RTF_BUCKETS,
            registry=r,
        )
        self.rejected = Counter("ttsd_rejected_total", "Refused or dropped requests.", ["reason"], registry=r)
        self.cache_requests = Counter("ttsd_cache_requests_total", "Sentence cache lookups.", ["result"], registry=r)
        # Text-in sessions (GET /v1/audio/speech/ws).
        self.sessions_open = Gauge("ttsd_sessions_open", "Text-in sessions open now.", registry=r)
        self.session_first_audio = Histogram(
            "ttsd_session_sentence_latency_seconds",
            "Session: time from the message completing a sentence to that sentence's first audio.",
            ["voice"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.session_characters = Histogram(
            "ttsd_session_characters",
            "Characters of text per session (observed when it closes).",
            buckets=SESSION_CHAR_BUCKETS,
            registry=r,
        )
        self.build_info = Gauge(
            "ttsd_build_info",
            "Build and runtime information (value 1).",
            ["version", "voice", "device", "precision", "executor"],
            registry=r,
        )
        self.jobs = Gauge("ttsd_jobs", "Long-form jobs by state (this store's records).", ["state"], registry=r)
        self.job_characters = Counter(
            "ttsd_job_characters_total",
            "Characters of long-form jobs synthesized (rate: job characters/s).",
            registry=r,
        )
        self.jobs_backlog = Gauge(
            "ttsd_jobs_backlog_characters", "Characters of queued and running jobs still to synthesize.", registry=r
        )
        self.workers = Gauge("ttsd_workers", "Live model worker processes per voice family.", ["voice"], registry=r)
        self.worker_info = Gauge(
            "ttsd_worker_info",
            "The worker plan (value 1): one series per model worker with its device and intra-op threads.",
            ["voice", "worker", "device", "threads"],
            registry=r,
        )
        self.worker_restarts = Counter(
            "ttsd_worker_restarts_total", "Model workers lost (died, killed, hung) and replaced.", ["voice"], registry=r
        )
        self.worker_busy = Counter(
            "ttsd_worker_busy_seconds_total",
            "Seconds a model worker spent on batches (its rate is the worker's busy ratio).",
            ["voice", "worker"],
            registry=r,
        )
        # Pre-create label sets so dashboards and alerts see zeros rather than "no data".
        for reason in REJECT_REASONS:
            self.rejected.labels(reason=reason)
        for result in ("hit", "shared_hit", "miss"):
            self.cache_requests.labels(result=result)
        for state in JOB_STATES:
            self.jobs.labels(state=state)

    def add_voice(self, voice: str) -> None:
        """Pre-create a voice family's label sets, so dashboards see zeros rather than "no data"."""
        for stage in ("acoustic", "vocoder"):
            self.batch_duration.labels(voice=voice, stage=stage)
        for histogram in (self.batch_size, self.batch_padding_ratio, self.real_time_factor, self.queue_wait):
            histogram.labels(voice=voice)
        self.audio_seconds.labels(voice=voice)
        self.characters.labels(voice=voice)
        self.worker_restarts.labels(voice=voice)
        self.session_first_audio.labels(voice=voice)

    def set_build_info(self, *, version: str, voice: str, device: str, precision: str, executor: str) -> None:
        self.build_info.clear()
        self.build_info.labels(version=version, voice=voice, device=device, precision=precision, executor=executor).set(
            1
        )

    def render(self) -> bytes:
        """The text exposition format for ``GET /metrics``."""
        return generate_latest(self.registry)
