"""The composition root: the only module that knows both :class:`~ttsd.config.Settings` and the voice registry.

``ttsd serve`` (and tests that want the real wiring) call :func:`build_engine`; it turns settings into typed
options objects and returns an engine that loads its voices when started. Below the API nothing sees
Settings: the engine gets an :class:`~ttsd.pipeline.engine.EngineConfig`, voices a
:class:`~ttsd.voices.options.VoiceOptions`, the batcher a :class:`~ttsd.config.BatchConfig`; the API
(:func:`ttsd.api.app.create_app`) reads its HTTP limits, pages and docs settings from Settings itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ttsd import __version__
from ttsd.config import Settings
from ttsd.jobs.model import JobsConfig
from ttsd.jobs.service import JobService
from ttsd.metrics import Metrics
from ttsd.paths import cache_dirs, user_data_dir
from ttsd.pipeline.admission import AdmissionConfig
from ttsd.pipeline.engine import EngineConfig, TTSEngine
from ttsd.pipeline.lane import LoadedVoice
from ttsd.pipeline.local import build_frontend
from ttsd.precision import resolve_precision
from ttsd.serving.executors import make_executor, select_devices
from ttsd.serving.placement import WorkerSlot, describe, plan_workers, usable_cores
from ttsd.serving.pool import WorkerPool
from ttsd.serving.pooled_voice import PooledVoice
from ttsd.serving.worker import WorkerSpec
from ttsd.text.types import Frontend
from ttsd.voices import registry
from ttsd.voices.options import KokoroOptions, VoiceOptions

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

# Families `make run` serves by default when their assets are installed.
AUTO_FAMILIES = ("baker", "kokoro")
# Families that accept any device string (tests plan "cuda:N" workers on a CPU with them): never bound to CUDA.
DEVICE_AGNOSTIC = frozenset({"fake"})


def engine_config(settings: Settings) -> EngineConfig:
    return EngineConfig(
        batch=settings.batch_config(),
        admission=AdmissionConfig(max_backlog_s=settings.max_backlog_s),
        request_timeout_s=settings.request_timeout_s,
        max_text_chars=settings.max_text_chars,
        cache_bytes=settings.cache_bytes,
        cache_url=settings.cache_url,
        warmup=settings.warmup,
        frontend_workers=settings.frontend_workers,
        variant=settings.mode,
        default_voice=settings.voice,
        drain_timeout_s=settings.drain_timeout_s,
        max_response_audio_s=settings.max_response_audio_s,
    )


def jobs_config(settings: Settings) -> JobsConfig:
    """The job service's knobs; ``directory`` ``None`` when jobs are off."""
    import socket

    directory = (settings.jobs_dir or user_data_dir() / "jobs") if settings.jobs else None
    return JobsConfig(
        directory=directory,
        store=settings.jobs_store,
        max_chars=settings.jobs_max_chars,
        quota_bytes=int(settings.jobs_quota_gb * 1024**3),
        retention_s=settings.jobs_retention,
        concurrency=settings.jobs_concurrency,
        parallel=settings.jobs_parallel,
        lease_s=settings.jobs_lease_s,
        callback_hosts=settings.jobs_callback_hosts,
        owner=f"{socket.gethostname()}:{settings.port}",
    )


def voice_options(settings: Settings, *, device: str, precision: str, threads: int | None = None) -> VoiceOptions:
    return VoiceOptions(
        device=device,
        precision=precision,
        mode=settings.mode,
        model_dir=settings.model_dir,
        max_phonemes=settings.max_phonemes,
        threads=threads or settings.threads,
        kokoro=KokoroOptions(voices_dir=settings.kokoro_voices_dir, backend=settings.kokoro_backend),
        sambert=settings.sambert_options(),
    )


def families(settings: Settings) -> list[str]:
    """The families to load: ``voices`` if set, else the default voice's family plus the installed
    :data:`AUTO_FAMILIES` (so a default install serves every voice it has)."""
    if settings.voices:
        return list(dict.fromkeys(settings.voices))
    own = registry.family_of(settings.voice)
    if own not in AUTO_FAMILIES:
        return [own]
    options = voice_options(settings, device="cpu", precision="auto")
    return [own, *(f for f in AUTO_FAMILIES if f != own and registry.installed(f, options))]


def build_frontend_for(settings: Settings, names: Sequence[str]) -> Frontend:
    """One front end for every family: the Mandarin one if any family needs it, else the plain one."""
    needs_text = any(name in registry.NEEDS_TEXT_FRONTEND for name in names)
    return build_frontend(
        "baker" if needs_text else "fake",
        lexicon=settings.lexicon,
        cache_dir=cache_dirs(settings.model_dir).root,
    )


def worker_plan(settings: Settings, devices: Sequence[str]) -> list[WorkerSlot]:
    """Every model worker one family gets (:mod:`ttsd.serving.placement`)."""
    return plan_workers(
        devices, workers_per_device=settings.workers_per_device, threads=settings.threads, cores=usable_cores()
    )


def load_pool(
    settings: Settings, metrics: Metrics, name: str, slots: Sequence[WorkerSlot], precision: str
) -> LoadedVoice:
    """One family on its worker pool: spawn the workers, load the text side here meanwhile, wait for them."""
    specs = [
        WorkerSpec(
            family=name,
            index=slot.index,
            options=voice_options(settings, device=slot.device, precision=precision, threads=slot.threads),
            warmup=settings.warmup,
            bind_cuda=slot.device.startswith("cuda") and name not in DEVICE_AGNOSTIC,
            log_level=settings.log_level,
            log_format=settings.log_format,
        )
        for slot in slots
    ]
    pool = WorkerPool(specs=specs, metrics=metrics, watchdog_s=settings.batch_watchdog_s)
    text = registry.load_family(name, replace(specs[0].options, load_model=False))
    info = pool.start()
    return LoadedVoice(voice=PooledVoice(text=text, info=info, device=pool.device), executor=pool)


def build_engine(
    settings: Settings, metrics: Metrics, *, on_failure: Callable[[BaseException], None] | None = None
) -> TTSEngine:
    """An engine (not started) that loads the configured families on start: each on a pool of model worker
    processes, or in this process (one thread) with ``workers_per_device=0``."""
    names = families(settings)

    def load() -> list[LoadedVoice]:
        devices, reason = select_devices(settings.device, settings.devices)
        log.info("devices %s: %s", ", ".join(devices), reason)
        precision = resolve_precision(settings.precision, devices[0], mode=settings.mode)
        loaded: list[LoadedVoice] = []
        try:
            if settings.workers_per_device == 0:
                loaded = _load_inline(settings, names, devices[0], precision)
            else:
                slots = worker_plan(settings, devices)
                log.info("worker plan per family: %s", describe(slots))
                for name in names:
                    loaded.append(load_pool(settings, metrics, name, slots, precision))
                    log.info("voice %s loaded on %d worker(s) (%s)", name, len(slots), loaded[-1].voice.info.precision)
        except BaseException:
            for item in loaded:
                item.executor.close(wait=False)
            raise
        first = loaded[0]
        metrics.set_build_info(
            version=__version__,
            voice=",".join(names),
            device=",".join(devices),
            precision=first.voice.info.precision,
            executor=first.executor.name,
        )
        return loaded

    return TTSEngine(
        config=engine_config(settings),
        metrics=metrics,
        frontend=build_frontend_for(settings, names),
        load=load,
        on_failure=on_failure,
    )


def _load_inline(settings: Settings, names: Sequence[str], device: str, precision: str) -> list[LoadedVoice]:
    """``workers_per_device=0``: every family in this process, one model thread each (no fault isolation)."""
    options = voice_options(settings, device=device, precision=precision)
    loaded: list[LoadedVoice] = []
    for name in names:
        voice = registry.load_family(name, options)
        executor = make_executor(device, voice, watchdog_s=settings.batch_watchdog_s)
        log.info("voice %s loaded (%s, %s, executor %s)", name, device, voice.info.precision, executor.name)
        loaded.append(LoadedVoice(voice=voice, executor=executor))
    return loaded


def build_app(settings: Settings, *, on_failure: Callable[[BaseException], None] | None = None) -> FastAPI:
    """The HTTP app around an engine built from ``settings`` (what ``ttsd serve`` runs)."""
    from ttsd.api import create_app

    metrics = Metrics()
    engine = build_engine(settings, metrics, on_failure=on_failure)
    return create_app(settings, engine=engine, metrics=metrics, jobs=build_jobs(settings, engine, metrics))


def build_jobs(settings: Settings, engine: TTSEngine, metrics: Metrics) -> JobService | None:
    """The long-form job service over ``engine`` (``None`` when ``TTSD_JOBS`` is off)."""
    config = jobs_config(settings)
    if config.directory is None:
        return None
    return JobService(config=config, engine=engine, metrics=metrics)
