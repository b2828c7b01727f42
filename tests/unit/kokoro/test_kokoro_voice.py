"""KokoroVoice on a fake synthesizer and small style tables: controls, styles, durations, budget."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ttsd.controls import Controls
from ttsd.errors import InvalidControl, TextError
from ttsd.text.types import Sentence, Token
from ttsd.voices.base import BatchItem, FloatArray
from ttsd.voices.kokoro.phonemizer import Phonemizer, load_vocab
from ttsd.voices.kokoro.session import SAMPLES_PER_FRAME, Item, Synthesis
from ttsd.voices.kokoro.styles import ROWS, STYLE_DIM, StyleBank
from ttsd.voices.kokoro.voice import FRAMES_PER_ID, MAX_CALL_FRAMES, MAX_IDS, SPEED_RANGE, KokoroVoice


class FakeSynthesizer:
    """Two frames per id at speed 1 (``round(2 / speed)``); audio is the style's first value, repeated."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, ...], float, float]] = []

    def __call__(self, items: Sequence[Item]) -> list[Synthesis]:
        return [self._one(item.ids, item.style, item.speed) for item in items]

    def _one(self, ids: Sequence[int], style: FloatArray, speed: float) -> Synthesis:
        self.calls.append((tuple(ids), float(style[0, 0]), speed))
        frames = np.full(len(ids), max(1, round(2 / speed)), dtype=np.int64)
        durations = frames * SAMPLES_PER_FRAME
        audio = np.full(int(durations.sum()), style[0, 0], dtype=np.float32)
        return Synthesis(audio=audio, durations=durations)


def _voice(synth: FakeSynthesizer) -> KokoroVoice:
    rows = np.arange(ROWS, dtype=np.float32)[:, None]
    tables: dict[str, FloatArray] = {
        "zf_xiaobei": (np.repeat(rows, STYLE_DIM, axis=1) / 1000).astype(np.float32),
        "zm_yunjian": np.full((ROWS, STYLE_DIM), -1.0, dtype=np.float32),
    }
    return KokoroVoice(synthesizer=synth, styles=StyleBank(tables=tables), phonemizer=Phonemizer(vocab=load_vocab()))


HELLO = Sentence((Token("你", ("ni3",), "dictionary"), Token("好", ("hao3",), "dictionary"),
                  Token("。", (), "silent")), pause_after_s=0.4)  # fmt: skip


def test_it_is_a_voice_with_the_family_facts() -> None:
    voice = _voice(FakeSynthesizer())
    # The widened Voice protocol (encode/budget/validate; base.Voice in this tree still has the old frontend()).
    for member in ("info", "sample_rate", "budget", "validate", "encode", "estimate_frames", "run_batch", "warmup"):
        assert hasattr(voice, member)
    assert voice.info.name == "kokoro"
    assert voice.info.speakers == ("zf_xiaobei", "zm_yunjian")
    assert voice.info.speaker_genders == ("female", "male")
    assert (voice.info.licence, voice.info.backend, voice.sample_rate) == ("Apache-2.0", "onnxruntime", 24_000)


def test_encode_gives_ids_spans_and_the_pause() -> None:
    utterance = _voice(FakeSynthesizer()).encode(HELLO)
    assert "".join(utterance.phonemes) == "ni↓xau↓."
    assert (utterance.ids[0], utterance.ids[-1], len(utterance.ids)) == (0, 0, 10)
    assert utterance.spans == ((1, 4), (4, 8), (8, 9))
    assert utterance.pause_after_s == 0.4
    assert utterance.sentence is HELLO


@pytest.mark.parametrize(
    ("controls", "field"),
    [(Controls(pitch=1.0), "pitch"), (Controls(intonation=0.5), "intonation"), (Controls(energy=2.0), "energy"),
     (Controls(variation=True), "variation"), (Controls(emotion="happy"), "emotion")],
)  # fmt: skip
def test_controls_this_voice_lacks_are_refused_by_name(controls: Controls, field: str) -> None:
    with pytest.raises(InvalidControl, match=f"no {field} control") as err:
        _voice(FakeSynthesizer()).validate(controls)
    assert err.value.param == field


def test_speed_seed_and_known_speakers_validate() -> None:
    voice = _voice(FakeSynthesizer())
    voice.validate(Controls(speed=1.5, seed=3, speaker="zf_xiaobei:0.5,zm_yunjian:0.5"))
    with pytest.raises(InvalidControl, match="unknown Kokoro speaker"):
        voice.validate(Controls(speaker="zf_xiaoni"))


def test_run_batch_passes_speed_style_row_and_returns_durations() -> None:
    synth = FakeSynthesizer()
    voice = _voice(synth)
    utterance = voice.encode(HELLO)
    out = voice.run_batch([BatchItem(utterance), BatchItem(utterance, Controls(speed=2.0, speaker="zm_yunjian"))])
    n = len(utterance.ids) - 2
    assert synth.calls == [(utterance.ids, pytest.approx(n / 1000), 1.0), (utterance.ids, -1.0, 2.0)]
    assert [len(w) for w in out.waveforms] == [10 * 2 * 600, 10 * 1 * 600]
    assert [int(d.sum()) for d in out.durations] == [len(w) for w in out.waveforms]
    assert out.frames == out.padded_frames == 30


def test_a_blend_mixes_the_style_vectors() -> None:
    synth = FakeSynthesizer()
    voice = _voice(synth)
    utterance = voice.encode(HELLO)
    voice.run_batch([BatchItem(utterance, Controls(speaker="zf_xiaobei:3,zm_yunjian:1"))])
    n = len(utterance.ids) - 2
    assert synth.calls[0][1] == pytest.approx(0.75 * n / 1000 - 0.25)


def test_estimate_frames_honours_speed() -> None:
    voice = _voice(FakeSynthesizer())
    utterance = voice.encode(HELLO)
    assert voice.estimate_frames(utterance, Controls(speed=2.0)) * 2 == pytest.approx(
        voice.estimate_frames(utterance, Controls()), abs=1
    )


def test_budget_counts_phoneme_characters_and_rejects_overlong_pieces() -> None:
    voice = _voice(FakeSynthesizer())
    assert voice.budget.limit < MAX_IDS
    assert voice.budget.cost(HELLO.tokens) == 2 + (3 + 1) + (4 + 1) + len(". ")
    long = Sentence(tuple(Token("中", ("zhong1",), "dictionary") for _ in range(200)))
    assert voice.budget.cost(long.tokens) > voice.budget.limit
    with pytest.raises(TextError, match="more than 510"):
        voice.encode(long)


def test_warmup_runs_one_item() -> None:
    synth = FakeSynthesizer()
    _voice(synth).warmup()
    assert len(synth.calls) == 1


def test_load_checks_backend_and_precision_before_touching_any_asset(tmp_path: Path) -> None:
    """fp16 is CUDA-only for every voice, and onnxruntime has no CUDA build here: both are refused by name,
    before the (absent) model in ``tmp_path`` is looked for."""
    from ttsd.errors import BackendUnavailable
    from ttsd.voices.kokoro.voice import load
    from ttsd.voices.options import KokoroOptions, VoiceOptions

    with pytest.raises(InvalidControl, match="fp16"):
        load(VoiceOptions(precision="fp16", model_dir=tmp_path))
    with pytest.raises(BackendUnavailable, match="CPU only"):
        load(VoiceOptions(device="cuda", model_dir=tmp_path, kokoro=KokoroOptions(backend="onnxruntime")))
    with pytest.raises(InvalidControl, match="backend"):
        load(VoiceOptions(model_dir=tmp_path, kokoro=KokoroOptions(backend="tensorrt")))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("speed", [2.01, 3.0, 4.0])
def test_speeds_the_model_cannot_honour_are_refused_naming_the_range(speed: float) -> None:
    voice = _voice(FakeSynthesizer())
    assert voice.info.speed_range == SPEED_RANGE == (0.25, 2.0)
    with pytest.raises(InvalidControl, match=r"speed 0\.25 to 2\.0") as err:
        voice.validate(Controls(speed=speed))
    assert err.value.param == "speed"


def test_markup_composed_past_the_range_saturates_at_it() -> None:
    synth = FakeSynthesizer()
    voice = _voice(synth)
    voice.run_batch([BatchItem(voice.encode(HELLO), Controls(speed=4.0))])  # <prosody rate> on top of speed 2
    assert synth.calls[0][2] == 2.0


def test_one_call_is_capped_in_frames_at_every_speed() -> None:
    voice = _voice(FakeSynthesizer())
    for speed in (0.25, 0.5, 1.0, 2.0):
        assert voice.budget_at(speed).limit * FRAMES_PER_ID / speed <= MAX_CALL_FRAMES
    assert voice.budget_at(0.25).limit < voice.budget_at(1.0).limit < voice.budget_at(2.0).limit <= MAX_IDS
    assert voice.budget is voice.budget_at(0.25)  # the budget without a speed is safe at any speed
