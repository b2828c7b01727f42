"""Settings: parsed once at the edge (CLI / app factory) and passed down. The only module that reads the environment.

Every field is a flat environment variable ``TTSD_<FIELD>`` (e.g. ``TTSD_MAX_BATCH_SIZE``) and a ``ttsd serve``
flag (``--max-batch-size``). Groups of fields are handed to the layers that need them through the ``*_config``
helpers, so nothing below ``api``/``cli`` sees the whole Settings object or the environment.

List settings (:data:`IntList`, :data:`StrList`) read what a person writes: ``TTSD_BUCKET_EDGES="16 32 64"``,
``16,32,64`` or JSON ``[16,32,64]`` (pydantic-settings would otherwise demand JSON). :func:`load_settings` is the
edge's constructor: a bad value becomes one :class:`ConfigError` line naming the variable, its flag and an example.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "mixed", "bf16", "fp16"]
Mode = Literal["fast", "exact"]
LogFormat = Literal["text", "json"]
KokoroBackend = Literal["auto", "onnxruntime", "torch"]
# The Baker voice's phoneme budget per batch item (ids, eos included): long sentences are synthesized clause
# by clause, which keeps the first streamed audio of a long text near 120 ms (docs/benchmarks.md).
DEFAULT_MAX_PHONEMES = 96

_LIST_SEPARATORS = re.compile(r"[\s,]+")


def split_list(value: object) -> object:
    """A list setting's raw value -> its items: JSON (``[16, 32]``), or words separated by spaces and/or commas
    (``16 32``, ``16,32``, ``16, 32``); an empty string is an empty list. Lists (flags) are split item by item,
    so ``--bucket-edges 16,32 64`` works too. Anything else is left to pydantic's own validation."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "{")):  # JSON (an object is then refused as "not a list" by pydantic)
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
        return _words(text)
    if isinstance(value, list | tuple):
        return [part for item in value for part in (_words(item) if isinstance(item, str) else [item])]
    return value


def _words(text: str) -> list[str]:
    return [word for word in _LIST_SEPARATORS.split(text) if word]


_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


def parse_duration(value: object) -> object:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"90s"`` or a number of seconds -> seconds; anything else is left to
    pydantic (which refuses it)."""
    if isinstance(value, str):
        found = _DURATION.match(value.lower())
        if found is None:
            raise ValueError("a duration is seconds or a number with s, m, h or d (7d, 12h, 30m)")
        return float(found.group(1)) * _UNIT_S[found.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
# Field types of list settings: read from the environment as written (NoDecode: not parsed as JSON first).
IntList = Annotated[tuple[int, ...], NoDecode, BeforeValidator(split_list)]
StrList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(split_list)]
# An example value per list setting, for error messages (the README shows the same forms).
LIST_EXAMPLES = {
    "bucket_edges": "16 32 64 128 256",
    "cors_origins": "https://example.com https://app.example.com",
    "voices": "baker kokoro",
    "jobs_callback_hosts": "hooks.example.com *.internal.example.com",
    "jobs_retention": "7d",
    "jobs_store": "redis://redis:6379/0",
    "cache_url": "redis://redis:6379/1",
    "devices": "cuda:0 cuda:1",
}
# Settings that no longer exist, and what replaced them (a leftover value is an error, not silently ignored).
REMOVED = {
    "TTSD_WORKERS": "uvicorn worker processes were replaced by the model worker pool: use TTSD_WORKERS_PER_DEVICE "
    "(model workers per device) and scale replicas for more HTTP capacity (docs/deployment.md)",
}
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class ConfigError(ValueError):
    """A setting has a bad value. ``message`` is one line naming the variable and flag, with an example."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class BatchConfig:
    """The batcher's knobs (see docs/batching.md).

    * ``max_batch_size``: items per batch, at most.
    * ``max_wait_ms``: how long the oldest item of a bucket may wait for company before its batch goes anyway.
    * ``max_batch_frames``: cost cap: padded mel frames (largest item x batch size) one batch may hold.
    * ``max_queue``: items waiting, at most; an admitted request whose next sentence finds the queue full waits
      for room (refusals come from admission, before any work).
    * ``bucket_edges``: upper bounds (in ids) of the length buckets; longer items go to a last open bucket.
    * ``overtake_s_per_frame``: how far a short item may overtake longer ones: among due batches, the one whose
      oldest item has the smallest ``arrival + overtake_s_per_frame x estimated frames`` runs first (0 = oldest
      first). The default, 10 ms per frame, is about one second of queue precedence per second of audio.
    """

    max_batch_size: int = 16
    max_wait_ms: float = 10.0
    max_batch_frames: int = 12000
    max_queue: int = 512
    bucket_edges: tuple[int, ...] = (16, 32, 64, 128, 256)
    overtake_s_per_frame: float = 0.001


class Settings(BaseSettings):
    """All of ttsd's configuration. Field docs are the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="TTSD_", extra="ignore", frozen=True)

    host: str = Field("0.0.0.0", description="Address to listen on.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port.")
    log_level: str = Field("info", description="debug, info, warning, error.")
    log_format: LogFormat = Field("text", description="text or json log lines.")

    voice: str = Field(
        "baker",
        description="Default voice: a family (baker, kokoro, sambert, fake for tests) or a speaker (zm_yunjian); "
        "requests without a voice, and OpenAI voice names (alloy...), get it.",
    )
    voices: StrList = Field(
        (),
        description="Voice families to load (default: the default voice's family plus every other installed "
        "family among baker and kokoro).",
    )
    kokoro_voices_dir: Path | None = Field(
        None, description="Where the Kokoro style files (z*_*.bin) are (default: <model dir>/kokoro/voices)."
    )
    kokoro_backend: KokoroBackend = Field(
        "auto",
        description="Kokoro backend: auto (onnxruntime int8 on the CPU, torch on CUDA), onnxruntime (CPU only) "
        "or torch (padded batches, the precision setting applies; fp32 or bf16 on the CPU).",
    )
    frontend_workers: int = Field(1, ge=1, le=64, description="Threads of the text front-end stage.")
    max_backlog_s: float = Field(
        20.0, ge=0, description="Admission: seconds of model time admitted work may represent (0 = no limit)."
    )
    batch_watchdog_s: float = Field(
        600.0,
        gt=0,
        description="A batch running longer means its model worker hung: it is killed and replaced, the batch "
        "retried once (in-process mode: the server fails and exits).",
    )
    device: Device = Field("auto", description="auto (CUDA when usable, else CPU), cpu or cuda.")
    devices: StrList = Field(
        (),
        description="Devices for the model workers, e.g. 'cuda:0 cuda:1' (default: from TTSD_DEVICE: every usable "
        "GPU, else cpu).",
    )
    workers_per_device: int | None = Field(
        None,
        ge=0,
        le=64,
        description="Model worker processes per device and voice family (default: GPU 1; CPU cores / threads "
        "per worker); 0 runs the model in the server process (one thread, no fault isolation).",
    )
    precision: Precision = Field(
        "auto",
        description="auto (CPU: mixed if it has bf16 fast paths, else fp32; CUDA: fp16), fp32, "
        "mixed (fp32 acoustic decoder, bf16 postnet and vocoder), bf16, fp16 (CUDA only).",
    )
    mode: Mode = Field(
        "fast", description="fast (float frame-level layers; default) or exact (bit-faithful to TFLite)."
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="Intra-op threads per model worker on the CPU (default: 1 up to 4 cores, else 2; with "
        "TTSD_WORKERS_PER_DEVICE set, the cores divided among the workers).",
    )
    model_dir: Path | None = Field(None, description="Cache of converted weights (default: user cache dir).")
    lexicon: Path | None = Field(None, description="User lexicon file: one 'word pinyin pinyin...' per line.")
    modelscope_model: str = Field(
        "damo/speech_sambert-hifigan_tts_zh-cn_16k",
        description="ModelScope model id or local directory for the sambert voice.",
    )
    modelscope_python: Path | None = Field(
        None, description="Python <= 3.10 interpreter with ModelScope installed (sambert runs in it)."
    )
    modelscope_offline: bool = Field(False, description="sambert: never contact the ModelScope hub.")
    modelscope_emotions: bool = Field(True, description="sambert: allow the emotion control (SSML).")

    max_batch_size: int = Field(16, ge=1, le=256, description="Items per batch, at most.")
    max_wait_ms: float = Field(10.0, ge=0, le=10_000, description="Longest wait for a batch to fill.")
    max_batch_frames: int = Field(12000, ge=100, description="Padded mel frames per batch, at most.")
    max_queue: int = Field(
        512,
        ge=1,
        description="Items queued per voice family, at most; an admitted request whose next sentence finds it full "
        "waits for room (refusals with 503 come from `TTSD_MAX_BACKLOG_S`).",
    )
    bucket_edges: IntList = Field(
        (16, 32, 64, 128, 256), description="Length bucket edges (ids): '16 32 64', '16,32,64' or '[16,32,64]'."
    )
    overtake_s_per_frame: float = Field(
        0.001,
        ge=0,
        le=1,
        description="How far a short item may overtake longer ones queued before it: seconds of head start per "
        "estimated frame of the longer one (0 = oldest first).",
    )
    request_timeout_s: float = Field(60.0, gt=0, description="Default per-request deadline.")
    max_text_chars: int = Field(5000, ge=1, description="Longest accepted input text.")
    max_phonemes: int = Field(
        DEFAULT_MAX_PHONEMES,
        ge=16,
        le=1000,
        description="Phoneme budget per batch item (Baker; sambert and fake derive theirs from it; Kokoro's "
        "follows the speed: 128 ids at speed 1); longer sentences are cut at ，、.",
    )
    cache_bytes: int = Field(64 * 1024 * 1024, ge=0, description="Sentence audio cache size (0 = off).")
    cache_url: str | None = Field(
        None,
        description="redis://host:6379/0: a sentence cache shared by the replicas, behind the in-process one "
        "(default: in-process only).",
    )
    drain_timeout_s: float = Field(25.0, ge=0, description="Grace period for in-flight work at shutdown.")
    warmup: bool = Field(True, description="Run warm-up batches before reporting ready.")
    api_key: SecretStr | None = Field(None, description="If set, requests need 'Authorization: Bearer <key>'.")
    cors_origins: StrList = Field(
        (), description="Origins allowed by CORS, space- or comma-separated, or a JSON list (none by default)."
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request body; larger ones get 413 before they are read."
    )
    body_timeout_s: float = Field(30.0, gt=0, description="Time to receive a whole request body (else 408).")
    header_timeout_s: float = Field(
        10.0, gt=0, description="Time for a connection to send a complete request head (else closed)."
    )
    keep_alive_timeout_s: float = Field(5.0, gt=0, description="Idle keep-alive connections are closed after this.")
    max_connections: int = Field(
        1000, ge=1, description="Open connections, at most: the oldest idle one is closed, else 503."
    )
    send_timeout_s: float = Field(
        30.0, gt=0, description="A client that reads nothing of a response for this long is disconnected."
    )
    ws_idle_timeout_s: float = Field(
        60.0,
        gt=0,
        description="A text-in WebSocket session with no message and nothing to speak for this long is closed.",
    )
    ws_read_ahead_chars: int = Field(
        2000,
        ge=500,
        description="A WebSocket session's text handed to synthesis and not yet spoken, at most; past it the server "
        "stops reading the socket until audio has gone out.",
    )
    ws_max_session_chars: int = Field(
        100_000, ge=1, description="Characters of text one WebSocket session may send in all."
    )
    ws_max_message_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest WebSocket message; a larger one closes the session (1009)."
    )
    ws_max_messages_per_s: float = Field(
        1000.0, gt=0, description="WebSocket messages read per second and session, at most (faster senders wait)."
    )
    max_response_audio_s: float = Field(
        600.0, gt=0, description="Longest audio for a non-streaming response; longer needs stream=true."
    )

    jobs: bool = Field(True, description="Long-form jobs (POST /v1/jobs): durable, resumable, background priority.")
    jobs_dir: Path | None = Field(
        None, description="Job records (SQLite) and audio (default: the user data dir, e.g. ~/.local/share/ttsd/jobs)."
    )
    jobs_store: str = Field(
        "sqlite",
        description="sqlite (records in TTSD_JOBS_DIR) or redis://host:6379/0 (records, queue and leases shared by "
        "replicas; TTSD_JOBS_DIR must then be a volume they share).",
    )
    jobs_max_chars: int = Field(1_000_000, ge=1, description="Longest text a job accepts (413 beyond).")
    jobs_quota_gb: float = Field(
        50.0, ge=0, description="Disk the jobs may hold at once, estimated at submission (507 beyond; 0 = no limit)."
    )
    jobs_retention: Duration = Field(
        7 * 86_400.0, description="Finished jobs are removed after this long: seconds, or 30m, 12h, 7d."
    )
    jobs_concurrency: int = Field(1, ge=1, le=64, description="Jobs this process runs at once.")
    jobs_parallel: int = Field(8, ge=1, le=256, description="Sentences of one job in flight at once.")
    jobs_lease_s: float = Field(
        15.0, gt=0, description="A running job's lease: a job whose process died is taken over after this."
    )
    jobs_callback_hosts: StrList = Field(
        (), description="Hosts a job's callback_url may point at ('*.example.com' for subdomains); none by default."
    )

    @field_validator("bucket_edges")
    @classmethod
    def _edges_sorted(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(b <= a for a, b in itertools.pairwise(v)) or v[0] <= 0:
            raise ValueError("bucket_edges must be positive and strictly increasing")
        return v

    @field_validator("jobs_store")
    @classmethod
    def _jobs_store(cls, v: str) -> str:
        if v != "sqlite" and not v.startswith(REDIS_SCHEMES):
            raise ValueError("must be sqlite or a redis://, rediss:// or unix:// URL")
        return v

    @field_validator("cache_url")
    @classmethod
    def _cache_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(REDIS_SCHEMES):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return v

    def sambert_options(self) -> dict[str, str]:
        """The sambert voice's options as the strings ModelScope's loader parses."""
        extra = {"model": self.modelscope_model, "offline": "1" if self.modelscope_offline else "0"}
        if self.modelscope_python is not None:
            extra["python"] = str(self.modelscope_python)
        if not self.modelscope_emotions:
            extra["emotions"] = "none"
        return extra

    def batch_config(self) -> BatchConfig:
        return BatchConfig(
            max_batch_size=self.max_batch_size,
            max_wait_ms=self.max_wait_ms,
            max_batch_frames=self.max_batch_frames,
            max_queue=self.max_queue,
            bucket_edges=self.bucket_edges,
            overtake_s_per_frame=self.overtake_s_per_frame,
        )


def load_settings(**overrides: Any) -> Settings:
    """Settings from ``overrides`` (command-line flags), then the environment, then defaults; a bad value raises
    :class:`ConfigError` with one line (``error_line``) instead of pydantic's multi-line report."""
    for name, why in REMOVED.items():
        if os.environ.get(name, "1").strip() not in ("", "1"):
            raise ConfigError(f"{name} is no longer a setting: {why}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(error_line(exc)) from None
    except SettingsError as exc:  # a value pydantic-settings itself could not decode
        raise ConfigError(f"invalid setting: {exc}") from None


def error_line(exc: ValidationError) -> str:
    """One line for a Settings validation error: which variable and flag, what is wrong, and an example."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = first.get("loc", ())
    name = str(loc[0]) if loc else ""
    env, flag = f"TTSD_{name.upper()}", "--" + name.replace("_", "-")
    problem = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if len(loc) > 1 and isinstance(loc[1], int):
        problem = f"item {loc[1] + 1}: {problem}"
    field = Settings.model_fields.get(name)
    if field is not None and field.annotation is not SecretStr and field.annotation != SecretStr | None:
        problem += f" (got {_shown(first.get('input'))})"
    line = f"{env} ({flag}): {problem}"
    example = _example(name)
    if example is not None:
        line += f"; for example {env}={json.dumps(example) if ' ' in example else example}"
    if len(errors) > 1:
        line += f" [and {len(errors) - 1} more invalid setting(s)]"
    return line


def _shown(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _example(name: str) -> str | None:
    """A valid value to show next to an error: the list forms, else the field's default."""
    if name in LIST_EXAMPLES:
        return LIST_EXAMPLES[name]
    field = Settings.model_fields.get(name)
    if field is None or field.default is None:
        return {"threads": "4"}.get(name)
    return str(field.default).lower() if isinstance(field.default, bool) else str(field.default)
