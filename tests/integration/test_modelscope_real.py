"""The sambert voice on the real ModelScope pipeline; skipped unless its TTS stack and model are here.

Point ``TTSD_MODELSCOPE_MODEL`` at a local model directory, or pre-fill the ModelScope cache with
``damo/speech_sambert-hifigan_tts_zh-cn_16k`` (docs/modelscope.md); set ``TTSD_MODELSCOPE_PYTHON`` to a
Python 3.10 that has ModelScope's TTS stack to run the pipeline in the worker (the usual case). The model
is loaded offline: these tests never download anything. They have never run in ttsd's CI (ModelScope's
hosting is unreachable there).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from ttsd.controls import Controls
from ttsd.text.plain import PlainFrontend
from ttsd.voices.base import BatchItem, Utterance
from ttsd.voices.options import VoiceOptions
from ttsd.voices.sambert.voice import DEFAULT_MODEL, SAMPLE_RATE, SambertVoice, load


def _model_location() -> Path | None:
    """The model directory if present: TTSD_MODELSCOPE_MODEL, else the usual ModelScope cache layouts."""
    explicit = os.environ.get("TTSD_MODELSCOPE_MODEL")
    if explicit:
        return Path(explicit).expanduser() if Path(explicit).expanduser().is_dir() else None
    roots = [Path(os.environ["MODELSCOPE_CACHE"])] if os.environ.get("MODELSCOPE_CACHE") else []
    roots.append(Path.home() / ".cache" / "modelscope" / "hub")
    for root in roots:
        for candidate in (root / DEFAULT_MODEL, root / "models" / DEFAULT_MODEL):
            if (candidate / "configuration.json").is_file():
                return candidate
    return None


def _worker_python() -> str | None:
    """TTSD_MODELSCOPE_PYTHON: an interpreter (Python 3.10) that has ModelScope's TTS stack."""
    python = os.environ.get("TTSD_MODELSCOPE_PYTHON")
    return python if python and os.access(python, os.X_OK) else None


def _stack_installed() -> bool:
    in_process = all(importlib.util.find_spec(name) is not None for name in ("modelscope", "kantts", "ttsfrd"))
    return in_process or _worker_python() is not None


MODEL_DIR = _model_location() if _stack_installed() else None

pytestmark = [
    pytest.mark.integration,
    pytest.mark.modelscope,
    pytest.mark.slow,
    pytest.mark.skipif(
        MODEL_DIR is None,
        reason="ModelScope's TTS stack (modelscope, kantts, ttsfrd) or the Sambert model is not installed",
    ),
]


@pytest.fixture(scope="module")
def voice() -> SambertVoice:
    assert MODEL_DIR is not None
    extra = {"model": str(MODEL_DIR), "offline": "1"}
    python = _worker_python()
    if python is not None:
        extra["python"] = python
    return load(VoiceOptions(device="cpu", sambert=extra))


def _say(voice: SambertVoice, text: str, *, speaker: str | None = None, emotion: str | None = None) -> np.ndarray:
    controls = Controls(speaker=speaker, emotion=emotion)
    item = BatchItem(utterance=Utterance(text=text, phonemes=(), ids=()), controls=controls)
    (wave,) = voice.run_batch([item]).waveforms
    return wave


def test_the_model_exposes_its_speakers(voice: SambertVoice) -> None:
    assert voice.sample_rate == SAMPLE_RATE
    assert "zhitian_emo" in voice.info.speakers


def test_real_pipeline_speaks_a_sentence(voice: SambertVoice) -> None:
    (sentence,) = PlainFrontend().sentences("今天天气怎么样？", budget=voice.budget)
    utt = voice.encode(sentence)
    wave = _say(voice, utt.text)
    seconds = len(wave) / SAMPLE_RATE
    assert 0.8 < seconds < 5.0  # seven syllables
    assert wave.dtype == np.float32
    assert 0.01 < float(np.sqrt(np.mean(wave**2))) < 0.7
    # the estimate that bucketing uses is within a factor of two of the real frame count
    assert 0.5 < voice.estimate_frames(utt, Controls()) / (len(wave) / 200) < 2.0


def test_each_speaker_sounds_different(voice: SambertVoice) -> None:
    speakers = voice.info.speakers[:2]
    waves = [_say(voice, "你好，欢迎使用语音合成。", speaker=name) for name in speakers]
    if len(waves) == 2:
        n = min(len(w) for w in waves)
        assert not np.allclose(waves[0][:n], waves[1][:n], atol=1e-3)


def test_emotion_markup_changes_the_audio_without_being_read_aloud(voice: SambertVoice) -> None:
    """Checks the UNVERIFIED assumption that ttsfrd honours SSML <emotion> (docs/modelscope.md)."""
    text = "我今天真的非常开心。"
    neutral = _say(voice, text, speaker="zhitian_emo")
    happy = _say(voice, text, speaker="zhitian_emo", emotion="happy")
    # Tags read out as text would make the audio several times longer.
    assert len(happy) < 1.6 * len(neutral)
    n = min(len(neutral), len(happy))
    assert not np.allclose(neutral[:n], happy[:n], atol=1e-3)
