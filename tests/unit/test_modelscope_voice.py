"""The sambert voice against fakes: a pipeline that honours ModelScope's documented output contract, and
fake ``modelscope``/``kantts``/``ttsfrd`` modules for the loader's own checks. No ModelScope needed."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import sys
import types
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from ttsd.api import create_app
from ttsd.bootstrap import engine_config
from ttsd.config import Settings
from ttsd.controls import Controls
from ttsd.errors import BackendError, BackendUnavailable, InvalidControl, TextError, UnknownVoice
from ttsd.metrics import Metrics
from ttsd.pipeline.engine import TTSEngine
from ttsd.pipeline.lane import LoadedVoice
from ttsd.serving.executors import make_executor
from ttsd.text.plain import PlainFrontend
from ttsd.text.split import PAUSE_SENTENCE
from ttsd.voices.base import BatchItem, Utterance, Voice
from ttsd.voices.options import VoiceOptions
from ttsd.voices.registry import resolve
from ttsd.voices.sambert.pipeline import (
    DEFAULT_MODEL,
    SAMPLE_RATE,
    SambertConfig,
    TTSPipeline,
    WorkerPipeline,
    modelscope_device,
    modelscope_pipeline,
    worker_command,
)
from ttsd.voices.sambert.voice import FRAME_HOP, SambertVoice, emotion_markup, load

VOICES = ("zhitian_emo", "zhiyan_emo", "zhizhe_emo")
SAMPLES_PER_CHAR = 400  # the fake's speech rate: 25 ms of tone per input character
AMPLITUDE = 0.5


def tone_wav(n_samples: int, *, rate: int, freq: float, channels: int = 1) -> bytes:
    t = np.arange(n_samples) / rate
    mono = (AMPLITUDE * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    data = np.repeat(mono[:, None], channels, axis=1)
    buf = io.BytesIO()
    sf.write(buf, data, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


class FakeModel:
    """Mimics SambertHifigan.get_voices(): (name -> voice object, parsed voices.json)."""

    def __init__(self, voices: Sequence[str]) -> None:
        self._voices = list(voices)

    def get_voices(self) -> tuple[dict[str, object], dict[str, list[str]]]:
        return {name: object() for name in self._voices}, {"voices": list(self._voices)}


class FakePipeline:
    """ModelScope's TTS pipeline contract: ``p(input=text, voice=name) -> {"output_wav": <WAV bytes>}``.

    The tone's frequency tells which voice spoke; its length is proportional to the input text without
    markup (as if the front end honoured SSML tags).
    """

    def __init__(
        self,
        voices: Sequence[str] = VOICES,
        *,
        rate: int = SAMPLE_RATE,
        channels: int = 1,
        fail: Exception | None = None,
        output: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = FakeModel(voices)
        self.voices = list(voices)
        self.rate = rate
        self.channels = channels
        self.fail = fail
        self.output = output
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def freq(self, voice: str | None) -> float:
        return 200.0 + 100.0 * self.voices.index(voice or self.voices[0])

    def __call__(self, input: str, **kwargs: Any) -> Mapping[str, Any]:
        self.calls.append((input, kwargs))
        if self.fail is not None:
            raise self.fail
        if self.output is not None:
            return self.output
        n = SAMPLES_PER_CHAR * len(re.sub(r"<[^>]*>", "", input)) * self.rate // SAMPLE_RATE
        return {"output_wav": tone_wav(n, rate=self.rate, freq=self.freq(kwargs.get("voice")), channels=self.channels)}


def make_voice(pipeline: FakePipeline | None = None, **extra: str) -> tuple[SambertVoice, FakePipeline]:
    fake = pipeline or FakePipeline()
    seen: list[SambertConfig] = []

    def factory(config: SambertConfig) -> FakePipeline:
        seen.append(config)
        return fake

    voice = load(VoiceOptions(sambert=dict(extra)), pipeline_factory=factory)
    assert len(seen) == 1
    return voice, fake


def item(text: str, **controls: Any) -> BatchItem:
    return BatchItem(utterance=Utterance(text=text, phonemes=(), ids=()), controls=Controls(**controls))


def dominant_freq(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[int(np.argmax(spectrum))])


# --- loading and description --------------------------------------------------------------------------------


def test_registry_resolves_sambert_to_this_loader() -> None:
    assert resolve("sambert") is load


def test_info_describes_a_non_batching_16k_voice_with_the_models_speakers() -> None:
    voice, _ = make_voice()
    assert isinstance(voice, Voice)
    info = voice.info
    assert (info.name, info.sample_rate, voice.sample_rate, info.batchable) == (
        "sambert",
        16000,
        16000,
        False,
    )
    assert info.speakers == VOICES
    assert "happy" in info.emotions
    assert "arousal" in info.emotions
    assert info.model_version == f"modelscope:{DEFAULT_MODEL}"


def test_model_option_and_defaults_reach_the_factory() -> None:
    seen: list[SambertConfig] = []

    def factory(config: SambertConfig) -> FakePipeline:
        seen.append(config)
        return FakePipeline()

    load(VoiceOptions(device="cuda:1", max_phonemes=100), pipeline_factory=factory)
    load(
        VoiceOptions(sambert={"model": "/models/sambert", "offline": "true", "cache_dir": "/c"}),
        pipeline_factory=factory,
    )
    assert seen[0].model == DEFAULT_MODEL
    assert seen[0].device == "cuda:1"
    assert seen[0].max_chars == 50
    assert not seen[0].offline
    assert seen[1].model == "/models/sambert"
    assert seen[1].offline
    assert seen[1].cache_dir == Path("/c")


def test_speaker_and_emotion_overrides_replace_what_the_model_exposes() -> None:
    voice, _ = make_voice(speakers="zhitian_emo", emotions="neutral,happy")
    assert voice.info.speakers == ("zhitian_emo",)
    assert voice.info.emotions == ("neutral", "happy")


def test_a_model_without_voice_listing_falls_back_to_voices_json(tmp_path: Path) -> None:
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "voices.json").write_text(json.dumps({"voices": ["zhibei_emo"]}))
    fake = FakePipeline(["zhibei_emo"])
    fake.model = types.SimpleNamespace(model_dir=str(tmp_path))  # type: ignore[assignment]
    voice, _ = make_voice(fake)
    assert voice.info.speakers == ("zhibei_emo",)


def test_bad_option_values_are_refused_at_load() -> None:
    with pytest.raises(BackendUnavailable, match="offline"):
        make_voice(offline="maybe")
    with pytest.raises(BackendUnavailable, match="max_chars"):
        make_voice(max_chars="0")
    with pytest.raises(BackendUnavailable, match="nobody"):
        make_voice(default_speaker="nobody")


# --- front end ----------------------------------------------------------------------------------------------


def _utterances(voice: SambertVoice, text: str) -> list[Utterance]:
    return [voice.encode(s) for s in PlainFrontend().sentences(text, budget=voice.budget)]


def test_frontend_splits_sentences_with_their_pauses_and_code_point_ids() -> None:
    voice, _ = make_voice()
    utts = _utterances(voice, "今天天气很好。我们去公园吧！好")
    assert [u.text for u in utts] == ["今天天气很好。", "我们去公园吧！", "好"]
    # ids identify the text exactly: the engine's sentence cache and dedup key on them
    assert [u.ids for u in utts] == [tuple(map(ord, u.text)) for u in utts]
    assert all(u.pause_after_s > 0 for u in utts)


def test_frontend_cuts_long_sentences_to_max_chars_at_commas() -> None:
    voice, _ = make_voice(max_chars="20")
    sentence = "，".join(["这是一个比较长的分句"] * 6) + "。"
    utts = _utterances(voice, sentence)
    assert len(utts) > 1
    assert all(len(u.text) <= 20 for u in utts)
    assert "".join(u.text for u in utts) == sentence
    assert utts[-1].pause_after_s >= max(u.pause_after_s for u in utts[:-1])


@pytest.mark.parametrize("text", ["", "   ", "。。！", "……"])
def test_frontend_refuses_text_with_nothing_to_say(text: str) -> None:
    voice, _ = make_voice()
    with pytest.raises(TextError):
        _utterances(voice, text)


def test_estimate_frames_grows_with_characters() -> None:
    voice, _ = make_voice()
    short, long = (Utterance(text=t, phonemes=(), ids=()) for t in ("你好。", "你好，今天天气真不错。"))
    assert 0 < voice.estimate_frames(short, Controls()) < voice.estimate_frames(long, Controls())


# --- synthesis: mapping, decoding ---------------------------------------------------------------------------


def test_run_batch_calls_the_pipeline_once_per_item_with_the_speaker() -> None:
    voice, fake = make_voice()
    out = voice.run_batch([item("你好。"), item("再见了朋友。", speaker="zhiyan_emo")])
    assert fake.calls == [("你好。", {"voice": "zhitian_emo"}), ("再见了朋友。", {"voice": "zhiyan_emo"})]
    assert [len(w) for w in out.waveforms] == [
        len("你好。") * SAMPLES_PER_CHAR,
        len("再见了朋友。") * SAMPLES_PER_CHAR,
    ]
    assert all(w.dtype == np.float32 for w in out.waveforms)
    assert dominant_freq(out.waveforms[0], SAMPLE_RATE) == pytest.approx(fake.freq("zhitian_emo"), abs=20)
    assert dominant_freq(out.waveforms[1], SAMPLE_RATE) == pytest.approx(fake.freq("zhiyan_emo"), abs=20)
    assert float(np.max(np.abs(out.waveforms[0]))) == pytest.approx(AMPLITUDE, abs=0.01)
    assert out.frames == out.padded_frames == sum(-(-len(w) // FRAME_HOP) for w in out.waveforms)
    assert out.vocoder_seconds == 0.0
    assert out.acoustic_seconds >= 0.0


def test_default_speaker_option_is_used_when_a_request_names_none() -> None:
    voice, fake = make_voice(default_speaker="zhizhe_emo")
    voice.run_batch([item("你好。")])
    assert fake.calls[0][1] == {"voice": "zhizhe_emo"}


def test_no_voice_kwarg_when_the_model_exposes_no_speakers() -> None:
    fake = FakePipeline()
    fake.model = types.SimpleNamespace()  # type: ignore[assignment]
    voice, _ = make_voice(fake)
    assert voice.info.speakers == ()
    voice.run_batch([item("你好。")])
    assert fake.calls[0][1] == {}


def test_emotion_wraps_the_sentence_in_ssml_and_neutral_stays_plain() -> None:
    voice, fake = make_voice()
    voice.run_batch([item("你好<b>&。", emotion="happy"), item("你好。", emotion="neutral"), item("你好。")])
    sent = [call[0] for call in fake.calls]
    assert sent[0] == '<speak><emotion category="happy" intensity="1.0">你好&lt;b&gt;&amp;。</emotion></speak>'
    assert sent[1] == sent[2] == "你好。"
    assert emotion_markup("好", None) == "好"


def test_output_at_another_rate_is_resampled_to_16k() -> None:
    voice, _ = make_voice(FakePipeline(rate=24000))
    (wave,) = voice.run_batch([item("你好啊。")]).waveforms
    assert abs(len(wave) - 4 * SAMPLES_PER_CHAR) <= 2
    assert dominant_freq(wave, SAMPLE_RATE) == pytest.approx(200.0, abs=20)


def test_stereo_output_is_mixed_to_mono() -> None:
    voice, _ = make_voice(FakePipeline(channels=2))
    (wave,) = voice.run_batch([item("你好。")]).waveforms
    assert wave.ndim == 1
    assert len(wave) == 3 * SAMPLES_PER_CHAR


def test_warmup_runs_one_sentence_through_the_pipeline() -> None:
    voice, fake = make_voice()
    voice.warmup()
    assert len(fake.calls) == 1
    assert fake.calls[0][1] == {"voice": "zhitian_emo"}


# --- synthesis: errors --------------------------------------------------------------------------------------


def test_unknown_speaker_is_unknown_voice_before_the_pipeline_runs() -> None:
    voice, fake = make_voice()
    with pytest.raises(UnknownVoice, match="zhitian_emo"):
        voice.validate(Controls(speaker="alloy"))
    with pytest.raises(UnknownVoice):
        voice.run_batch([item("你好。", speaker="alloy")])
    assert fake.calls == []


def test_unknown_emotion_is_unknown_voice_per_speaker() -> None:
    voice, fake = make_voice()
    voice.validate(Controls(speaker="zhiyan_emo", emotion="arousal"))
    with pytest.raises(UnknownVoice, match="arousal"):
        voice.validate(Controls(speaker="zhitian_emo", emotion="arousal"))
    with pytest.raises(UnknownVoice, match="sleepy"):
        voice.run_batch([item("你好。", emotion="sleepy")])
    # a speaker with no documented emotions accepts only neutral
    voice.validate(Controls(speaker="zhizhe_emo", emotion="neutral"))
    with pytest.raises(UnknownVoice):
        voice.validate(Controls(speaker="zhizhe_emo", emotion="happy"))
    assert fake.calls == []


def test_emotions_none_disables_emotions() -> None:
    voice, _ = make_voice(emotions="none")
    assert voice.info.emotions == ()
    with pytest.raises(UnknownVoice):
        voice.validate(Controls(emotion="happy"))


@pytest.mark.parametrize(
    ("control", "value"),
    [("speed", 1.5), ("pitch", 1.0), ("intonation", 0.5), ("energy", 2.0), ("variation", True)],
)
def test_controls_the_pipeline_lacks_are_refused(control: str, value: Any) -> None:
    voice, _ = make_voice()
    with pytest.raises(InvalidControl) as info:
        voice.validate(Controls(**{control: value}))
    assert info.value.param == control


def test_pipeline_exception_becomes_backend_error_without_its_details() -> None:
    voice, _ = make_voice(FakePipeline(fail=RuntimeError("secret internal path /root/x")))
    with pytest.raises(BackendError) as info:
        voice.run_batch([item("你好。")])
    assert "secret" not in info.value.message
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize("output", [{}, {"output_wav": None}, {"output_wav": b"not a wav file at all"}])
def test_unusable_pipeline_output_is_backend_error(output: Mapping[str, Any]) -> None:
    voice, _ = make_voice(FakePipeline(output=output))
    with pytest.raises(BackendError):
        voice.run_batch([item("你好。")])


# --- the real factory, against fake modelscope/kantts/ttsfrd modules ----------------------------------------


class FakeModelScope:
    """Records what the loader asks of ``modelscope.pipelines.pipeline`` and ``snapshot_download``."""

    def __init__(self, snapshot_dir: Path | None = None, *, pipeline_error: Exception | None = None) -> None:
        self.snapshot_dir = snapshot_dir
        self.pipeline_error = pipeline_error
        self.pipeline_calls: list[dict[str, Any]] = []
        self.snapshot_calls: list[tuple[str, dict[str, Any]]] = []

    def pipeline(self, **kwargs: Any) -> FakePipeline:
        self.pipeline_calls.append(kwargs)
        if self.pipeline_error is not None:
            raise self.pipeline_error
        return FakePipeline()

    def snapshot_download(self, model_id: str, **kwargs: Any) -> str:
        self.snapshot_calls.append((model_id, kwargs))
        if self.snapshot_dir is None:
            raise ValueError("Cannot find the requested files in the cached path")
        return str(self.snapshot_dir)


def module(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(mod, key, value)
    return mod


@pytest.fixture
def install_fakes(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeModelScope]:
    def install(fake: FakeModelScope, *, missing: Sequence[str] = ()) -> FakeModelScope:
        tasks = types.SimpleNamespace(text_to_speech="text-to-speech")
        modules = {
            "modelscope": module("modelscope"),
            "modelscope.pipelines": module("modelscope.pipelines", pipeline=fake.pipeline),
            "modelscope.utils": module("modelscope.utils"),
            "modelscope.utils.constant": module("modelscope.utils.constant", Tasks=tasks),
            "modelscope.hub": module("modelscope.hub"),
            "modelscope.hub.snapshot_download": module(
                "modelscope.hub.snapshot_download", snapshot_download=fake.snapshot_download
            ),
            "kantts": module("kantts"),
            "kantts.models": module("kantts.models"),
            "ttsfrd": module("ttsfrd"),
        }
        for name, mod in modules.items():
            # None in sys.modules makes `import name` raise ImportError, as for an absent package.
            gone = any(name == m or name.startswith(m + ".") for m in missing)
            monkeypatch.setitem(sys.modules, name, None if gone else mod)
        return fake

    return install


def model_dir(root: Path) -> Path:
    (root / "voices").mkdir(parents=True)
    (root / "voices" / "voices.json").write_text(json.dumps({"voices": list(VOICES)}))
    (root / "configuration.json").write_text("{}")
    (root / "resource.zip").write_bytes(b"PK")
    return root


def test_missing_modelscope_is_backend_unavailable_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("modelscope", "modelscope.pipelines", "kantts", "kantts.models", "ttsfrd"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(BackendUnavailable) as info:
        load(VoiceOptions())
    message = info.value.message
    assert "modelscope" in message
    assert "kantts" in message
    assert "ttsfrd" in message
    assert "pip install" in message
    assert "modelscope.oss-cn-beijing.aliyuncs.com" in message


def test_missing_frontend_packages_are_named(install_fakes: Callable[..., FakeModelScope], tmp_path: Path) -> None:
    install_fakes(FakeModelScope(), missing=("ttsfrd", "kantts"))
    with pytest.raises(BackendUnavailable) as info:
        load(VoiceOptions(sambert={"model": str(model_dir(tmp_path))}))
    assert "kantts" in info.value.message
    assert "ttsfrd" in info.value.message
    assert "needs modelscope" not in info.value.message


def test_local_directory_is_loaded_without_any_hub_call(
    install_fakes: Callable[..., FakeModelScope], tmp_path: Path
) -> None:
    fake = install_fakes(FakeModelScope())
    path = model_dir(tmp_path / "sambert")
    voice = load(VoiceOptions(device="cuda:1", sambert={"model": str(path)}))
    assert fake.pipeline_calls == [{"task": "text-to-speech", "model": str(path), "device": "gpu:1"}]
    assert fake.snapshot_calls == []
    assert voice.info.speakers == VOICES


def test_missing_or_incomplete_local_directory_is_backend_unavailable(
    install_fakes: Callable[..., FakeModelScope], tmp_path: Path
) -> None:
    fake = install_fakes(FakeModelScope())
    with pytest.raises(BackendUnavailable, match="does not exist"):
        load(VoiceOptions(sambert={"model": str(tmp_path / "nowhere")}))
    path = model_dir(tmp_path / "m")
    (path / "resource.zip").unlink()
    with pytest.raises(BackendUnavailable, match=r"resource\.zip"):
        load(VoiceOptions(sambert={"model": str(path)}))
    assert fake.pipeline_calls == []
    assert fake.snapshot_calls == []


def test_model_id_offline_resolves_from_the_cache_only(
    install_fakes: Callable[..., FakeModelScope], tmp_path: Path
) -> None:
    path = model_dir(tmp_path / "cache" / "damo" / "sambert")
    fake = install_fakes(FakeModelScope(snapshot_dir=path))
    load(VoiceOptions(sambert={"offline": "1", "cache_dir": str(tmp_path / "cache")}))
    assert fake.snapshot_calls == [(DEFAULT_MODEL, {"cache_dir": str(tmp_path / "cache"), "local_files_only": True})]
    assert fake.pipeline_calls[0]["model"] == str(path)


def test_model_id_absent_from_the_cache_offline_is_backend_unavailable(
    install_fakes: Callable[..., FakeModelScope],
) -> None:
    install_fakes(FakeModelScope(snapshot_dir=None))
    with pytest.raises(BackendUnavailable, match="offline"):
        load(VoiceOptions(sambert={"offline": "true"}))


def test_pipeline_construction_failure_is_backend_unavailable(
    install_fakes: Callable[..., FakeModelScope], tmp_path: Path
) -> None:
    path = model_dir(tmp_path / "m")
    install_fakes(FakeModelScope(pipeline_error=ImportError("No module named 'pysptk'", name="pysptk")))
    with pytest.raises(BackendUnavailable, match="pysptk"):
        load(VoiceOptions(sambert={"model": str(path)}))
    wrapped = RuntimeError("Failed to import modelscope.models.audio.tts.sambert_hifi")
    wrapped.__cause__ = ImportError("No module named 'kantts'", name="kantts")
    install_fakes(FakeModelScope(pipeline_error=wrapped))  # how ModelScope's lazy imports report it
    with pytest.raises(BackendUnavailable, match=r"kantts.*pip install"):
        load(VoiceOptions(sambert={"model": str(path)}))
    install_fakes(FakeModelScope(pipeline_error=RuntimeError("resource invalid")))
    with pytest.raises(BackendUnavailable, match="resource invalid"):
        load(VoiceOptions(sambert={"model": str(path)}))


@pytest.mark.parametrize(("ours", "theirs"), [("cpu", "cpu"), ("cuda", "gpu"), ("cuda:2", "gpu:2")])
def test_device_names_are_translated_for_modelscope(ours: str, theirs: str) -> None:
    assert modelscope_device(ours) == theirs


# --- the out-of-process worker, run for real on a fake modelscope package -----------------------------------

FAKE_PIPELINES = """
import io, os, struct, wave

class _Model:
    def get_voices(self):
        return {"zhitian_emo": None, "zhiyan_emo": None}, {"voices": ["zhitian_emo", "zhiyan_emo"]}

class _Pipe:
    model = _Model()

    def __call__(self, input, voice=None):
        print("library chatter on sys.stdout")
        os.write(1, b"C++ chatter on fd 1\\n")
        if input == "boom":
            raise RuntimeError("kaboom")
        n = 400 * len(input)
        level = 8000 if voice == "zhiyan_emo" else 4000
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(struct.pack("<%dh" % n, *([level] * n)))
        return {"output_wav": buf.getvalue()}

def pipeline(task, model, device):
    if os.environ.get("FAKE_MS_FAIL") == "import":
        try:
            import kantts_not_here
        except ImportError as exc:
            raise RuntimeError("Failed to import modelscope.models.audio.tts.sambert_hifi") from exc
    if os.environ.get("FAKE_MS_FAIL"):
        raise RuntimeError("resource invalid")
    assert task == "text-to-speech", task
    assert os.path.isdir(model), model
    print("loading", model, "on", device)
    if os.environ.get("FAKE_MS_RECORD"):
        with open(os.environ["FAKE_MS_RECORD"], "w") as f:
            f.write(device + "|" + os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
    return _Pipe()
"""

FAKE_SNAPSHOT = """
import os

def snapshot_download(model_id, cache_dir=None, local_files_only=False):
    assert local_files_only, "the test runs offline"
    return os.environ["FAKE_MS_SNAPSHOT"]
"""


@pytest.fixture
def fake_modelscope_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ``modelscope`` package on the worker's PYTHONPATH (the worker never imports ttsd)."""
    root = tmp_path / "site"
    files = {
        "modelscope/__init__.py": "",
        "modelscope/pipelines/__init__.py": FAKE_PIPELINES,
        "modelscope/utils/__init__.py": "",
        "modelscope/utils/constant.py": "class Tasks:\n    text_to_speech = 'text-to-speech'\n",
        "modelscope/hub/__init__.py": "",
        "modelscope/hub/snapshot_download.py": FAKE_SNAPSHOT,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    monkeypatch.setenv("PYTHONPATH", str(root))
    return root


@pytest.fixture
def workers() -> Iterator[list[WorkerPipeline]]:
    started: list[WorkerPipeline] = []
    yield started
    for worker in started:
        worker.close()


def test_python_option_runs_the_pipeline_in_a_worker_process(
    fake_modelscope_path: Path, tmp_path: Path, workers: list[WorkerPipeline]
) -> None:
    def tracked(config: SambertConfig) -> TTSPipeline:
        pipe = modelscope_pipeline(config)
        assert isinstance(pipe, WorkerPipeline)
        workers.append(pipe)
        return pipe

    path = model_dir(tmp_path / "m")
    voice = load(VoiceOptions(sambert={"model": str(path), "python": sys.executable}), pipeline_factory=tracked)
    assert voice.info.speakers == ("zhitian_emo", "zhiyan_emo")
    out = voice.run_batch([item("你好。"), item("再见。", speaker="zhiyan_emo")])
    assert [len(w) for w in out.waveforms] == [1200, 1200]
    assert float(out.waveforms[0][0]) == pytest.approx(4000 / 32768, abs=1e-4)
    assert float(out.waveforms[1][0]) == pytest.approx(8000 / 32768, abs=1e-4)


def test_worker_failures_map_to_backend_errors(
    fake_modelscope_path: Path, tmp_path: Path, workers: list[WorkerPipeline]
) -> None:
    config = SambertConfig(model=str(model_dir(tmp_path / "m")), python=sys.executable)
    workers.append(WorkerPipeline.start(config))
    voice, _ = make_voice(workers[0])  # type: ignore[arg-type]
    with pytest.raises(BackendError):
        voice.run_batch([item("boom")])
    assert len(voice.run_batch([item("还活着。")]).waveforms[0]) == 1600  # one failure does not kill it
    workers[0].close()
    with pytest.raises(BackendError):
        voice.run_batch([item("你好。")])


def test_worker_resolves_a_model_id_offline(
    fake_modelscope_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[WorkerPipeline]
) -> None:
    path = model_dir(tmp_path / "cache" / "m")
    monkeypatch.setenv("FAKE_MS_SNAPSHOT", str(path))
    config = SambertConfig(offline=True, cache_dir=tmp_path / "cache", python=sys.executable)
    assert worker_command(config)[-3:] == ["--offline", "--cache-dir", str(tmp_path / "cache")]
    workers.append(WorkerPipeline.start(config))
    assert workers[0].model_dir == str(path)


def test_worker_that_cannot_load_is_backend_unavailable(
    fake_modelscope_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(model_dir(tmp_path / "m"))
    monkeypatch.setenv("FAKE_MS_FAIL", "1")
    with pytest.raises(BackendUnavailable, match="resource invalid"):
        WorkerPipeline.start(SambertConfig(model=path, python=sys.executable))
    monkeypatch.setenv("FAKE_MS_FAIL", "import")
    with pytest.raises(BackendUnavailable, match=r"cannot import kantts_not_here.*pip install"):
        WorkerPipeline.start(SambertConfig(model=path, python=sys.executable))


def test_worker_without_modelscope_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken" / "modelscope"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'modelscope'\", name='modelscope')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(broken.parent))
    path = str(model_dir(tmp_path / "m"))
    with pytest.raises(BackendUnavailable, match="cannot import modelscope") as info:
        WorkerPipeline.start(SambertConfig(model=path, python=sys.executable))
    assert "Python <= 3.10" in info.value.message


def test_worker_with_a_missing_interpreter_is_backend_unavailable(tmp_path: Path) -> None:
    path = str(model_dir(tmp_path / "m"))
    with pytest.raises(BackendUnavailable, match="cannot start"):
        WorkerPipeline.start(SambertConfig(model=path, python=str(tmp_path / "no-python")))


@pytest.mark.parametrize(("device", "seen"), [("cpu", "cpu|"), ("cuda:1", "gpu:0|1"), ("cuda", "gpu|unset")])
def test_worker_pins_the_device_with_cuda_visible_devices(
    device: str,
    seen: str,
    fake_modelscope_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: list[WorkerPipeline],
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("FAKE_MS_RECORD", str(tmp_path / "record"))
    config = SambertConfig(model=str(model_dir(tmp_path / "m")), device=device, python=sys.executable)
    workers.append(WorkerPipeline.start(config))
    assert (tmp_path / "record").read_text() == seen


# --- service path: the real engine and HTTP app on the sambert voice (fake pipeline) ------------------------


@contextlib.asynccontextmanager
async def sambert_service(fake: FakePipeline) -> AsyncIterator[httpx.AsyncClient]:
    values: dict[str, Any] = {"voice": "sambert", "warmup": True, "max_wait_ms": 0.0, "cache_bytes": 0}
    settings = Settings(**values)
    metrics = Metrics()
    voice = load(VoiceOptions(), pipeline_factory=lambda config: fake)
    loaded = [LoadedVoice(voice=voice, executor=make_executor("cpu", voice))]
    engine = TTSEngine(config=engine_config(settings), metrics=metrics, frontend=PlainFrontend(), load=lambda: loaded)
    app = create_app(settings, engine=engine, metrics=metrics)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://ttsd.test", timeout=30) as client,
    ):
        async with asyncio.timeout(10):
            while (await client.get("/readyz")).status_code != 200:  # noqa: ASYNC110 - polling HTTP
                await asyncio.sleep(0.01)
        yield client


async def test_service_lists_the_speakers_and_emotions() -> None:
    async with sambert_service(FakePipeline()) as client:
        response = await client.get("/v1/voices")
    assert response.status_code == 200
    (entry,) = [v for v in response.json()["data"] if v["name"] == "sambert"]
    assert entry["speakers"] == list(VOICES)
    assert {"happy", "arousal"} <= set(entry["emotions"])


async def test_service_speaks_through_the_openai_endpoint_with_speaker_and_emotion() -> None:
    fake = FakePipeline()
    async with sambert_service(fake) as client:
        warmup_calls = len(fake.calls)
        response = await client.post(
            "/v1/audio/speech",
            json={
                "model": "tts-1",
                "input": "你好。今天天气不错。",
                "voice": "zhiyan_emo",
                "emotion": "happy",
                "response_format": "wav",
            },
        )
    assert response.status_code == 200, response.text
    audio, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    assert rate == SAMPLE_RATE
    pause = round(PAUSE_SENTENCE * SAMPLE_RATE)
    assert len(audio) == len("你好。") * SAMPLES_PER_CHAR + pause + len("今天天气不错。") * SAMPLES_PER_CHAR
    spoken = fake.calls[warmup_calls:]
    assert [kwargs for _, kwargs in spoken] == [{"voice": "zhiyan_emo"}] * 2
    assert [emotion_markup(t, "happy") for t in ("你好。", "今天天气不错。")] == [text for text, _ in spoken]


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"voice": "nobody"}, "unknown_voice"),
        ({"voice": "zhitian_emo", "emotion": "arousal"}, "unknown_voice"),  # zhiyan_emo's, not zhitian_emo's
        ({"speed": 1.5}, "invalid_parameter"),
    ],
)
async def test_service_refuses_what_the_voice_cannot_do_with_422(extra: dict[str, Any], code: str) -> None:
    fake = FakePipeline()
    async with sambert_service(fake) as client:
        warmup_calls = len(fake.calls)
        body = {"model": "tts-1", "input": "你好。", "response_format": "wav", **extra}
        response = await client.post("/v1/audio/speech", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert len(fake.calls) == warmup_calls  # refused before the pipeline ran


async def test_service_pipeline_failure_is_a_500_without_details() -> None:
    fake = FakePipeline()
    async with sambert_service(fake) as client:
        fake.fail = RuntimeError("secret /root/model path")
        response = await client.post("/tts", json={"text": "你好。"})
    assert response.status_code == 500
    assert "secret" not in response.text
