"""The request plan and the per-sentence step, on fake voices: decided once, each section to its own family."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from ttsd.controls import Controls
from ttsd.errors import InvalidControl, InvalidMarkup, TextTooLong, UnknownVoice
from ttsd.pipeline.plan import AUDIO_S_PER_CHAR, VoiceTable, plan_request, prepare, read_script
from ttsd.pipeline.request import InputType, SynthesisRequest
from ttsd.pipeline.timeline import Timeline
from ttsd.text.plain import PlainFrontend
from ttsd.text.types import Budget, Sentence, Token
from ttsd.voices.base import Rendered
from ttsd.voices.fake import FakeVoice
from ttsd.voices.options import VoiceOptions


def table(small: int = 12, large: int = 200) -> VoiceTable:
    """Two families with different budgets: ``fake`` (``small`` ids) and ``other`` (``large``)."""
    return VoiceTable(
        [
            FakeVoice(options=VoiceOptions(max_phonemes=small), name="fake"),
            FakeVoice(options=VoiceOptions(max_phonemes=large), name="other"),
        ]
    )


def test_the_plan_is_decided_once_before_any_text_processing() -> None:
    voices = table()
    plan = plan_request(
        SynthesisRequest(text="<speak>你好</speak>", input_type="auto", controls=Controls(speed=2.0), timeout_s=5),
        voices,
        max_text_chars=100,
        timeout_s=60.0,
        now=10.0,
    )
    assert plan.markup
    assert plan.main.family == "fake"
    assert plan.cost_s == pytest.approx(len(plan.text) * AUDIO_S_PER_CHAR / 2.0)
    assert (plan.deadline, plan.timeout_s) == (15.0, 5.0)
    assert not plan_request(SynthesisRequest(text="<speak>x</speak>"), voices, max_text_chars=100).markup


def test_plan_refusals_come_in_order_before_any_work() -> None:
    voices = table()
    with pytest.raises(TextTooLong):
        plan_request(SynthesisRequest(text="长" * 11, voice="nobody"), voices, max_text_chars=10)
    with pytest.raises(InvalidControl, match="timeout"):
        plan_request(SynthesisRequest(text="好", timeout_s=0.0, voice="nobody"), voices, max_text_chars=10)
    with pytest.raises(UnknownVoice):
        plan_request(SynthesisRequest(text="好", voice="nobody"), voices, max_text_chars=10)
    assert plan_request(SynthesisRequest(text="长" * 11), voices, max_text_chars=None).timeout_s == math.inf


def test_each_ssml_section_is_cut_to_its_own_familys_budget() -> None:
    """Under a default with a 12-id budget, a 60-character section in a 200-id family is one sentence."""
    voices = table(small=12, large=200)
    long = "长" * 60
    markup = f'<speak>{long}<voice name="other">{long}</voice></speak>'
    plan = plan_request(SynthesisRequest(text=markup, input_type="ssml"), voices, max_text_chars=1000)
    script = read_script(plan, voices)
    assert set(script.sections) == {None, "other"}
    sentences = list(PlainFrontend().sentences(script.source, budget=script.budgets))
    mine = [s for s in sentences if s.voice is None]
    theirs = [s for s in sentences if s.voice == "other"]
    assert len(mine) > 1
    assert all(len(s.tokens) + 1 <= 12 for s in mine)
    assert [len(s.tokens) for s in theirs] == [60]  # whole: cut to its own budget, not the first family's
    assert "".join(s.text for s in sentences) == long * 2


def test_the_per_sentence_step_folds_the_markup_into_controls_gain_and_key() -> None:
    voices = table()
    markup = '<speak>正常<prosody rate="200%" volume="+6dB">快</prosody><voice name="other">别的</voice></speak>'
    plan = plan_request(SynthesisRequest(text=markup, input_type="ssml"), voices, max_text_chars=100)
    script = read_script(plan, voices)
    prepared = [
        prepare(s, script, variant="v") for s in PlainFrontend().sentences(script.source, budget=script.budgets)
    ]
    assert [p.section.family for p in prepared] == ["fake", "fake", "other"]
    assert [p.controls.speed for p in prepared] == [1.0, 2.0, 1.0]
    assert prepared[1].gain == pytest.approx(10 ** (6 / 20), rel=1e-3)
    assert [p.key is not None and p.key.variant == "v" for p in prepared] == [True, True, True]
    assert prepared[0].key != prepared[1].key  # another speed: another sentence's audio


def test_an_unknown_ssml_voice_is_refused_with_its_place() -> None:
    voices = table()
    plan = plan_request(
        SynthesisRequest(text='<speak><voice name="nobody">你好</voice></speak>', input_type="ssml"),
        voices,
        max_text_chars=100,
    )
    with pytest.raises(InvalidMarkup, match="line 1"):
        read_script(plan, voices)


def test_a_piece_at_another_rate_is_resampled_with_its_timestamps() -> None:
    """A response has its first section's rate: a 16 kHz piece in a 24 kHz timeline is resampled, and its
    durations scaled, so the timestamps stay true."""
    voice = FakeVoice(options=VoiceOptions())
    sentence = Sentence(tokens=(Token("好", ("好",), "dictionary"),))
    utterance = voice.encode(sentence)
    durations = np.full(len(utterance.ids), 1600, dtype=np.int64)
    wave = np.sin(np.arange(int(durations.sum())) / 10.0).astype(np.float32)
    piece = Timeline(sample_rate=24_000).add(utterance, Rendered(wave, durations), rate=16_000)
    assert len(piece.audio) == pytest.approx(len(wave) * 1.5, abs=2)
    assert piece.timestamps[0].end == pytest.approx(1600 / 16_000, abs=1e-4)


class _SpeedVoice(FakeVoice):
    """A fake family whose budget shrinks with the speed (as Kokoro's does: 40 ids at speed 1)."""

    def budget_at(self, speed: float) -> Budget:
        return replace(self.budget, limit=round(40 * speed))


def test_markup_is_cut_at_the_slowest_rate_it_uses_not_at_the_voices_slowest() -> None:
    voices = VoiceTable([_SpeedVoice(options=VoiceOptions(max_phonemes=10), name="fake")])

    def limits(text: str, input_type: InputType) -> int:
        plan = plan_request(SynthesisRequest(text=text, input_type=input_type), voices, max_text_chars=1000)
        return read_script(plan, voices).budgets[None].limit

    assert limits("你好", "text") == 40
    assert limits("<speak>你好</speak>", "ssml") == 40
    assert limits('<speak>你好<prosody rate="50%">慢一点</prosody></speak>', "ssml") == 20
    assert limits('<speak><prosody rate="200%">快</prosody></speak>', "ssml") == 40  # faster: never a larger cut
