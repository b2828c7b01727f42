"""How the sambert voice gets its ModelScope pipeline: its options, and a pipeline in-process or in a worker.

ModelScope's TTS front end (ttsfrd) is built for Python <= 3.10 only, while ttsd needs 3.11+. So besides
loading ``modelscope.pipelines.pipeline(task=Tasks.text_to_speech, model=...)`` in this process (for an
interpreter that can import it), :class:`WorkerPipeline` runs the same call in
:mod:`ttsd.voices.sambert.worker` under another interpreter (the ``python`` option) and talks to it over
pipes. Both give a :class:`TTSPipeline`.

Nothing here reads the environment. Offline use: a local directory is handed to ModelScope as is (it makes no
hub call for a path); a model id is resolved with ``snapshot_download(local_files_only=offline)``.
"""

from __future__ import annotations

import base64
import importlib
import json
import subprocess
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ttsd.errors import BackendUnavailable
from ttsd.voices.options import VoiceOptions

DEFAULT_MODEL = "damo/speech_sambert-hifigan_tts_zh-cn_16k"
SAMPLE_RATE = 16000
INSTALL_HINT = (
    'install ModelScope\'s TTS stack: pip install "modelscope[audio]" '
    "-f https://modelscope.oss-cn-beijing.aliyuncs.com/releases/repo.html; its front end (ttsfrd) exists for "
    "Python <= 3.10 only, so on ttsd's Python 3.11+ install it in a Python 3.10 environment and point the "
    "sambert 'python' option (TTSD_MODELSCOPE_PYTHON) at that interpreter (see docs/modelscope.md)"
)
WORKER_SCRIPT = Path(__file__).with_name("worker.py")
# Import name -> package. kantts/ttsfrd come only from ModelScope's index (PyPI's "kantts" is unrelated).
REQUIRED_MODULES: Mapping[str, str] = {
    "modelscope.pipelines": "modelscope",
    "kantts.models": "kantts (Sambert/HifiGan networks)",
    "ttsfrd": "ttsfrd (the text front end)",
}
# What SambertHifigan reads from its directory besides the per-voice networks.
_MODEL_FILES = ("configuration.json", "resource.zip", "voices/voices.json")


class TTSPipeline(Protocol):
    """ModelScope's TTS pipeline contract: ``p(input=text, voice=name) -> {"output_wav": <WAV bytes>}``.

    ``voice`` is left out for the model's default speaker. SambertHifigan also offers ``p.model.get_voices()``
    (speaker discovery), which the voice uses when present.
    """

    def __call__(self, input: str, **kwargs: Any) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SambertConfig:
    """Options of the sambert voice, parsed from :class:`VoiceOptions` (``sambert`` holds the strings).

    * ``model``: ModelScope model id or local model directory (``extra["model"]``; Settings.modelscope_model).
    * ``offline``: resolve a model id in the local ModelScope cache only, never the hub (``"1"``, ``"true"``).
    * ``cache_dir``: ModelScope cache to resolve ids in (default: ModelScope's own default).
    * ``speakers``: override of the speaker list (comma-separated); default: what the model exposes.
    * ``emotions``: emotions accepted for every speaker (comma-separated; ``none`` = no emotions);
      default: :data:`ttsd.voices.sambert.voice.KNOWN_EMOTIONS` per speaker.
    * ``default_speaker``: speaker for requests that name none (default: the model's first voice).
    * ``python``: run the pipeline in :mod:`ttsd.voices.sambert.worker` under this interpreter (one with
      ModelScope's stack, Python <= 3.10) instead of in-process.
    * ``max_chars``: longest piece sent to the pipeline; longer sentences are cut at ，、 (default
      ``max_phonemes // 2``, about the same amount of speech as the Baker voice's phoneme budget).
    """

    model: str = DEFAULT_MODEL
    device: str = "cpu"
    offline: bool = False
    cache_dir: Path | None = None
    speakers: tuple[str, ...] = ()
    emotions: tuple[str, ...] | None = None
    default_speaker: str | None = None
    max_chars: int = 80
    sample_rate: int = SAMPLE_RATE
    python: str | None = None

    @classmethod
    def from_options(cls, options: VoiceOptions) -> SambertConfig:
        extra = options.sambert
        emotions_raw = extra.get("emotions")
        return cls(
            model=extra.get("model") or DEFAULT_MODEL,
            device=options.device,
            offline=_parse_bool("offline", extra.get("offline", "0")),
            cache_dir=Path(extra["cache_dir"]).expanduser() if extra.get("cache_dir") else None,
            speakers=_parse_list(extra.get("speakers", "")),
            emotions=None if emotions_raw is None else _parse_emotions(emotions_raw),
            default_speaker=extra.get("default_speaker") or None,
            max_chars=_parse_int("max_chars", extra.get("max_chars"), default=max(16, options.max_phonemes // 2)),
            python=extra.get("python") or None,
        )


PipelineFactory = Callable[[SambertConfig], TTSPipeline]


def modelscope_pipeline(config: SambertConfig) -> TTSPipeline:
    """The real factory: in a worker process when ``config.python`` is set, else in this process."""
    if config.python is not None:
        return WorkerPipeline.start(config)
    return inprocess_pipeline(config)


def inprocess_pipeline(config: SambertConfig) -> TTSPipeline:
    """Check packages, resolve the model directory, build the ModelScope pipeline in this interpreter."""
    require_packages()
    model_dir = resolve_model_dir(config)
    pipeline_fn = importlib.import_module("modelscope.pipelines").pipeline
    tasks = importlib.import_module("modelscope.utils.constant").Tasks
    try:
        built: TTSPipeline = pipeline_fn(
            task=tasks.text_to_speech, model=str(model_dir), device=modelscope_device(config.device)
        )
    except Exception as exc:
        if _import_error_in(exc) is not None:  # ModelScope wraps import failures in RuntimeError
            raise BackendUnavailable(
                f"ModelScope's TTS stack fails to import ({_import_error_in(exc)}); {INSTALL_HINT}"
            ) from exc
        raise BackendUnavailable(f"ModelScope could not load the sambert model from {model_dir}: {exc}") from exc
    return built


def _import_error_in(exc: BaseException) -> ImportError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ImportError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class _ListedVoices:
    """Stands in for SambertHifigan's ``get_voices()`` with the names a worker reported."""

    def __init__(self, names: Sequence[str]) -> None:
        self._names = [str(name) for name in names]

    def get_voices(self) -> tuple[dict[str, str], dict[str, list[str]]]:
        return {name: name for name in self._names}, {"voices": list(self._names)}


class WorkerPipeline:
    """A :class:`TTSPipeline` served by ``worker.py`` under another interpreter (see its docstring).

    Same contract as the in-process pipeline; a failed call raises ``RuntimeError`` (the voice maps it to
    :class:`BackendError`). The process stops when this object is closed or garbage-collected.
    """

    def __init__(self, *, process: subprocess.Popen[str], voices: Sequence[str], model_dir: str) -> None:
        self._process = process
        self._finalizer = weakref.finalize(self, _stop_process, process)
        self.model = _ListedVoices(voices)
        self.model_dir = model_dir

    @classmethod
    def start(cls, config: SambertConfig) -> WorkerPipeline:
        """Spawn the worker and wait until it has loaded the model (:class:`BackendUnavailable` if not)."""
        if Path(config.model).expanduser().exists() or _looks_like_path(config.model):
            check_model_dir(Path(config.model).expanduser())
        command = worker_command(config)
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1
            )
        except OSError as exc:
            raise BackendUnavailable(f"cannot start the sambert worker with {config.python}: {exc}") from exc
        hello = _receive(process)
        if hello is None or not hello.get("ok"):
            _stop_process(process)
            raise BackendUnavailable(_worker_failure(config, hello))
        return cls(process=process, voices=hello.get("voices") or (), model_dir=str(hello.get("model_dir", "")))

    def __call__(self, input: str, **kwargs: Any) -> Mapping[str, Any]:
        if self._process.stdin is None or self._process.poll() is not None:
            raise RuntimeError("the sambert worker is not running")
        self._process.stdin.write(json.dumps({"input": input, "voice": kwargs.get("voice")}) + "\n")
        self._process.stdin.flush()
        reply = _receive(self._process)
        if reply is None:
            raise RuntimeError("the sambert worker exited")
        if not reply.get("ok"):
            raise RuntimeError(f"the sambert worker failed: {reply.get('error')}")
        return {"output_wav": base64.b64decode(reply["wav"])}

    def close(self) -> None:
        self._finalizer()


def worker_command(config: SambertConfig) -> list[str]:
    """The worker's command line for ``config`` (``config.python`` must be set)."""
    if config.python is None:
        raise ValueError("worker_command needs config.python")
    command = [config.python, str(WORKER_SCRIPT), "--model", config.model]
    command += ["--device", modelscope_device(config.device)]
    if config.offline:
        command.append("--offline")
    if config.cache_dir is not None:
        command += ["--cache-dir", str(config.cache_dir)]
    return command


def _receive(process: subprocess.Popen[str]) -> dict[str, Any] | None:
    line = process.stdout.readline() if process.stdout is not None else ""
    if not line:
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return {"ok": False, "error": f"unreadable reply from the sambert worker: {line[:200]!r}"}
    return message if isinstance(message, dict) else None


def _worker_failure(config: SambertConfig, hello: Mapping[str, Any] | None) -> str:
    if hello is None:
        return f"the sambert worker ({config.python}) exited before loading the model; see its log above"
    if hello.get("missing"):
        return f"the sambert worker ({config.python}) cannot import {hello['missing']}; {INSTALL_HINT}"
    return f"the sambert worker ({config.python}) could not load {config.model}: {hello.get('error')}"


def _stop_process(process: subprocess.Popen[str]) -> None:
    """Close the worker's input (it exits at end of input), kill it if it lingers, release the pipes."""
    try:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def require_packages(import_module: Callable[[str], object] = importlib.import_module) -> None:
    """Import modelscope, kantts and ttsfrd; raise :class:`BackendUnavailable` naming every one that fails."""
    problems: list[str] = []
    for module, label in REQUIRED_MODULES.items():
        try:
            import_module(module)
        except ImportError as exc:
            top = module.partition(".")[0]
            missing = exc.name is None or exc.name == top or exc.name.startswith(top + ".")
            problems.append(label if missing else f"{label}: it fails to import ({exc})")
    if problems:
        raise BackendUnavailable(f"the sambert voice needs {'; '.join(problems)}; {INSTALL_HINT}")


def resolve_model_dir(config: SambertConfig) -> Path:
    """A local model directory for ``config.model``: the path itself, or the id's ModelScope snapshot.

    A path is used as is (no hub call). An id goes through ``snapshot_download`` with
    ``local_files_only=config.offline``. Raises :class:`BackendUnavailable` when files are missing.
    """
    path = Path(config.model).expanduser()
    if path.exists() or _looks_like_path(config.model):
        return check_model_dir(path)
    snapshot_download = importlib.import_module("modelscope.hub.snapshot_download").snapshot_download
    cache = str(config.cache_dir) if config.cache_dir is not None else None
    try:
        local = snapshot_download(config.model, cache_dir=cache, local_files_only=config.offline)
    except Exception as exc:
        where = f"the ModelScope cache ({cache or 'default location'})"
        if config.offline:
            raise BackendUnavailable(
                f"model {config.model} is not in {where} and offline mode forbids downloading it; "
                "download it once on a connected machine or give a local model directory (docs/modelscope.md)"
            ) from exc
        raise BackendUnavailable(f"could not download model {config.model} from ModelScope: {exc}") from exc
    return check_model_dir(Path(local))


def check_model_dir(path: Path) -> Path:
    """Check the files a Sambert-HifiGan model directory holds; raise :class:`BackendUnavailable` if not."""
    if not path.is_dir():
        raise BackendUnavailable(f"sambert model directory {path} does not exist")
    missing = [name for name in _MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise BackendUnavailable(
            f"{path} is not a ModelScope Sambert-HifiGan model directory (missing {', '.join(missing)})"
        )
    return path


def modelscope_device(device: str) -> str:
    """ttsd's ``cpu``/``cuda``/``cuda:N`` in ModelScope's spelling (``cpu``/``gpu``/``gpu:N``)."""
    return "gpu" + device[len("cuda") :] if device.startswith("cuda") else device


def _looks_like_path(model: str) -> bool:
    """Model ids are ``owner/name``; anything absolute, relative-dotted, ``~`` or deeper is a path."""
    return model.startswith(("/", ".", "~")) or model.count("/") != 1


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _parse_emotions(raw: str) -> tuple[str, ...]:
    return () if raw.strip().lower() == "none" else _parse_list(raw)


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise BackendUnavailable(f"sambert option {name} must be true or false, got {raw!r}")


def _parse_int(name: str, raw: str | None, *, default: int) -> int:
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise BackendUnavailable(f"sambert option {name} must be a positive integer, got {raw!r}")
    return value
