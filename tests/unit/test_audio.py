"""ttsd.audio: every format decodes with a real decoder at the right rate and length; volume, resampling,
streaming and validation behave as documented."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
import soundfile as sf

from ttsd.audio import (
    FORMATS,
    OPUS_RATES,
    SAMPLE_RATES,
    AudioSpec,
    StreamEncoder,
    apply_volume,
    encode,
    resample,
    to_int16,
)
from ttsd.errors import InvalidControl

SR = 24000


def tone(freq: float = 440.0, seconds: float = 1.0, amp: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def decode(data: bytes, fmt: str, rate: int) -> tuple[np.ndarray, int]:
    """Decode with an independent decoder (PyAV/FFmpeg); pcm is interpreted as s16le at ``rate``."""
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, rate
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(stream)]
        decoded_rate = stream.rate
    samples = np.concatenate(frames).astype(np.float32)
    if samples.dtype.kind != "f" or np.abs(samples).max() > 2:
        samples = samples / 32768.0
    return samples, decoded_rate


def dominant_freq(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * sr / len(x))


# Encoder delay/padding of lossy codecs (samples at the decoded rate) stays well under 0.1 s.
TOLERANCE_S = 0.1


def _rates_for(fmt: str) -> list[int | None]:
    """Explicit rates each format accepts (opus: its native rates only; ulaw: 8 kHz only), and the default."""
    return [None, *{"opus": [16000, 48000], "ulaw": [8000]}.get(fmt, [16000, 44100])]


@pytest.mark.parametrize(("fmt", "rate"), [(f, r) for f in FORMATS for r in _rates_for(f)])
def test_encode_decodes_at_rate_and_length(fmt: str, rate: int | None) -> None:
    x = tone(seconds=1.0)
    out = encode(x, SR, AudioSpec(format=fmt, sample_rate=rate))
    expected_rate = rate or (8000 if fmt == "ulaw" else SR)
    if fmt == "opus" and expected_rate not in OPUS_RATES:
        expected_rate = 48000
    assert out.sample_rate == expected_rate
    assert out.duration_s == pytest.approx(1.0, abs=1e-3)
    samples, decoded_rate = decode(out.data, fmt, out.sample_rate)
    if fmt != "opus":  # Ogg Opus always decodes at 48 kHz
        assert decoded_rate == expected_rate
    assert len(samples) / decoded_rate == pytest.approx(1.0, abs=TOLERANCE_S)
    body = samples[int(0.2 * decoded_rate) : int(0.8 * decoded_rate)]
    assert dominant_freq(body, decoded_rate) == pytest.approx(440, abs=15)
    assert np.sqrt(np.mean(body**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.15)


def test_wav_is_16_bit_pcm_and_ulaw_is_8khz_mulaw() -> None:
    wav = encode(tone(), SR, AudioSpec(format="wav"))
    info = sf.info(io.BytesIO(wav.data))
    assert (info.format, info.subtype, info.samplerate, info.frames) == ("WAV", "PCM_16", SR, SR)
    ulaw = encode(tone(), SR, AudioSpec(format="ulaw"))
    info = sf.info(io.BytesIO(ulaw.data))
    assert (info.format, info.subtype, info.samplerate, info.frames) == ("WAV", "ULAW", 8000, 8000)


def test_media_types() -> None:
    assert AudioSpec(format="wav").media_type == "audio/wav"
    assert AudioSpec(format="mp3").media_type == "audio/mpeg"
    assert AudioSpec(format="aac").media_type == "audio/aac"
    assert AudioSpec(format="opus").media_type == "audio/ogg"


def test_aac_is_an_adts_stream() -> None:
    data = encode(tone(), SR, AudioSpec(format="aac")).data
    assert data[0] == 0xFF
    assert data[1] & 0xF0 == 0xF0


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"format": "ogg"}, "format"),
        ({"format": "wav", "sample_rate": 11025}, "sample_rate"),
        ({"format": "opus", "sample_rate": 22050}, "sample_rate"),
        ({"format": "opus", "sample_rate": 44100}, "sample_rate"),
        ({"format": "ulaw", "sample_rate": 16000}, "sample_rate"),
        ({"volume": -0.1}, "volume"),
        ({"volume": 4.5}, "volume"),
        ({"volume": float("nan")}, "volume"),
    ],
)
def test_invalid_spec_raises_invalid_control(kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidControl) as err:
        AudioSpec(**kwargs)  # type: ignore[arg-type]
    assert err.value.param == param
    assert param in err.value.message


def test_opus_uses_a_native_rate() -> None:
    assert AudioSpec(format="opus", sample_rate=16000).output_rate(SR) == 16000
    assert AudioSpec(format="opus", sample_rate=12000).output_rate(22050) == 12000
    assert AudioSpec(format="opus").output_rate(22050) == 48000  # the voice's rate is not an Opus rate
    assert AudioSpec(format="opus").output_rate(16000) == 16000


def test_refused_rates_name_the_allowed_ones() -> None:
    with pytest.raises(InvalidControl, match="opus sample_rate must be one of 8000, 12000, 16000, 24000, 48000"):
        AudioSpec(format="opus", sample_rate=44100)
    with pytest.raises(InvalidControl, match="ulaw sample_rate must be one of 8000, got 24000"):
        AudioSpec(format="ulaw", sample_rate=24000)
    assert AudioSpec(format="ulaw", sample_rate=8000).output_rate(SR) == 8000


@pytest.mark.parametrize("target", SAMPLE_RATES)
def test_resample_keeps_pitch_and_duration(target: int) -> None:
    x = tone(freq=1000.0, seconds=0.5)
    y = resample(x, SR, target)
    assert len(y) == pytest.approx(target * 0.5, abs=2)
    assert y.dtype == np.float32
    assert dominant_freq(y, target) == pytest.approx(1000, abs=10)


def test_volume_scales_and_soft_limits() -> None:
    x = tone(amp=0.4)
    half = apply_volume(x, 0.5)
    assert np.sqrt(np.mean(half**2)) == pytest.approx(np.sqrt(np.mean(x**2)) * 0.5, rel=1e-5)
    assert not np.any(apply_volume(x, 0.0))
    loud = apply_volume(x, 4.0)
    assert np.abs(loud).max() <= 1.0
    # the limiter is monotonic: louder input never comes out quieter
    order = np.argsort(x)
    assert np.all(np.diff(loud[order]) >= -1e-7)
    # below the knee the gain is exact
    quiet = tone(amp=0.2)
    assert np.allclose(apply_volume(quiet, 2.0), quiet * 2.0, atol=1e-6)


def test_to_int16_saturates() -> None:
    out = to_int16(np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 2.0], dtype=np.float32))
    assert out.tolist() == [-32768, -32767, 0, 16384, 32767, 32767]


def _stream(fmt: str, x: np.ndarray, rate: int | None = None, chunk: int = 6000) -> tuple[list[bytes], int]:
    enc = StreamEncoder(source_rate=SR, spec=AudioSpec(format=fmt, sample_rate=rate))
    parts = [enc.feed(x[i : i + chunk]) for i in range(0, len(x), chunk)]
    parts.append(enc.close())
    return parts, enc.sample_rate


@pytest.mark.parametrize("fmt", FORMATS)
def test_stream_encoder_output_decodes_whole(fmt: str) -> None:
    x = tone(seconds=1.0)
    parts, rate = _stream(fmt, x, rate={"ulaw": None, "opus": 16000}.get(fmt, 22050))
    samples, decoded_rate = decode(b"".join(parts), fmt, rate)
    assert len(samples) / decoded_rate == pytest.approx(1.0, abs=TOLERANCE_S)
    body = samples[int(0.2 * decoded_rate) : int(0.8 * decoded_rate)]
    assert dominant_freq(body, decoded_rate) == pytest.approx(440, abs=15)


@pytest.mark.parametrize("fmt", ["wav", "pcm", "mp3", "opus", "aac", "flac"])
def test_stream_encoder_is_progressive(fmt: str) -> None:
    """Bytes come out while audio goes in, not only at close()."""
    parts, _ = _stream(fmt, tone(seconds=2.0), chunk=12000)
    assert sum(len(p) for p in parts[:-1]) > 0.8 * sum(len(p) for p in parts)


def test_streamed_wav_is_header_plus_the_pcm_stream() -> None:
    x = tone(seconds=0.5)
    wav_parts, _ = _stream("wav", x)
    pcm_parts, _ = _stream("pcm", x)
    wav = b"".join(wav_parts)
    assert wav[:4] == b"RIFF"
    assert wav[8:12] == b"WAVE"
    assert wav[40:44] == b"\xff\xff\xff\xff"  # data size unknown while streaming
    assert wav[44:] == b"".join(pcm_parts) == encode(x, SR, AudioSpec(format="pcm")).data


def test_streamed_resampling_matches_one_shot() -> None:
    x = tone(seconds=1.0)
    parts, _ = _stream("pcm", x, rate=16000, chunk=1000)
    streamed = np.frombuffer(b"".join(parts), dtype="<i2")
    whole = np.frombuffer(encode(x, SR, AudioSpec(format="pcm", sample_rate=16000)).data, dtype="<i2")
    assert abs(len(streamed) - len(whole)) <= 2
    n = min(len(streamed), len(whole))
    assert np.abs(streamed[:n].astype(int) - whole[:n].astype(int)).max() < 200  # no clicks at chunk edges


def test_stream_encoder_rejects_feed_after_close() -> None:
    enc = StreamEncoder(source_rate=SR, spec=AudioSpec(format="wav"))
    assert enc.close()[:4] == b"RIFF"  # an empty stream is still a WAV header
    with pytest.raises(RuntimeError):
        enc.feed(tone(seconds=0.1))
