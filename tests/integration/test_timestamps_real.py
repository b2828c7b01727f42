"""Timestamps on the real voices: they come from the durations the models predict (after speed), so they agree
with the audio; spans are monotonic, cover every character the listener reads, and scale with speed."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest

from ttsd.controls import Controls
from ttsd.errors import AssetError
from ttsd.subtitles import Timestamp

if TYPE_CHECKING:
    from ttsd.pipeline.local import Speech, Synthesizer

pytestmark = pytest.mark.integration

TEXT = "您好，欢迎致电客服中心。您的验证码是382915，请在5分钟内输入。"
HOP_S = 300 / 24_000  # one frame of both voices' duration units is at most this long (Kokoro: 600 samples)


def _check(speech: Speech, text: str, *, frame_s: float, speed: float = 1.0) -> list[Timestamp]:
    stamps = speech.timestamps
    assert "".join(t.text for t in stamps) == text.replace(" ", "")  # every character, in order, once
    starts = [t.start for t in stamps]
    assert starts == sorted(starts)
    assert all(t.end >= t.start for t in stamps)
    spoken = [t for t in stamps if t.end > t.start]
    assert all(b.start >= a.end - 1e-9 for a, b in itertools.pairwise(spoken))
    assert next(t for t in stamps if t.text == "382915").end > next(t for t in stamps if t.text == "382915").start
    assert spoken[-1].end <= speech.duration_s + frame_s
    # The trailing silence the model adds after the last character is all that separates its end from the
    # audio's end: no estimator drift.
    assert speech.duration_s - spoken[-1].end < 0.6 / speed
    return spoken


def test_baker_timestamps_follow_the_predicted_durations(synthesizer: Synthesizer) -> None:
    speech = synthesizer.synthesize(TEXT)
    _check(speech, TEXT, frame_s=HOP_S)


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_baker_timestamps_scale_with_speed(synthesizer: Synthesizer, speed: float) -> None:
    base = _check(synthesizer.synthesize(TEXT), TEXT, frame_s=HOP_S)
    scaled = _check(synthesizer.synthesize(TEXT, Controls(speed=speed)), TEXT, frame_s=HOP_S, speed=speed)
    span = base[-1].end - base[0].start
    assert (scaled[-1].end - scaled[0].start) == pytest.approx(span / speed, rel=0.15)


def test_kokoro_timestamps_follow_the_predicted_durations(synthesizer: Synthesizer) -> None:
    from ttsd.pipeline.local import Synthesizer
    from ttsd.voices.kokoro.voice import load
    from ttsd.voices.options import VoiceOptions

    try:
        kokoro = load(VoiceOptions(threads=2))
    except AssetError as exc:
        pytest.skip(f"Kokoro assets not installed (scripts/install.sh --kokoro-only): {exc}")
    speech = Synthesizer(voice=kokoro, frontend=synthesizer.frontend).synthesize(TEXT, Controls(speaker="zm_yunjian"))
    _check(speech, TEXT, frame_s=2 * HOP_S)
