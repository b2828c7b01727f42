"""Float PCM -> bytes: encoding (wav, pcm, mp3, opus, aac, flac, ulaw), resampling, volume, streaming.

Contracts:

* Input audio is mono float32 in [-1, 1] at the voice's rate (``source_rate``).
* :class:`AudioSpec` says what the client wants: format, output sample rate (``None`` = the voice's own rate,
  or 8 kHz for ``ulaw``) and volume (linear gain). Invalid specs raise :class:`ttsd.errors.InvalidControl`.
* Formats and their containers (``MEDIA_TYPES``):

  - ``wav``: RIFF/WAVE 16-bit PCM. Streamed WAV carries a header with unknown (0xFFFFFFFF) sizes.
  - ``pcm``: headerless signed 16-bit little-endian mono samples (OpenAI's ``pcm``).
  - ``mp3`` (libmp3lame), ``aac`` (FFmpeg's native encoder, ADTS stream: what OpenAI returns as ``aac`` and
    what ``<audio>`` plays), ``opus`` (libopus in Ogg), ``flac``.
  - ``ulaw``: G.711 mu-law in a WAV container, always 8 kHz (telephony).

* Sample rates (:data:`SAMPLE_RATES`): Opus only runs at 8/12/16/24/48 kHz and ``ulaw`` only at 8 kHz; an
  explicit other rate for them is refused (:class:`~ttsd.errors.InvalidControl`, naming the allowed rates),
  never silently changed. Without an explicit rate, opus uses the voice's rate when Opus supports it, else
  48 kHz (what decoders play Opus at anyway); the actual rate is reported in
  :attr:`EncodedAudio.sample_rate` / :attr:`StreamEncoder.sample_rate`.
* Volume is a gain followed by a soft limiter, so loud settings saturate smoothly instead of wrapping or
  hard-clipping. The limiter is per sample (stateless), so streamed and whole-file output agree.
* Chapter marks (:class:`Mark`, sample offsets at the output rate) go into the header of the formats that
  carry them (:data:`MUXED_MARK_FORMATS`): ID3v2 ``CHAP``/``CTOC`` frames in MP3 (FFmpeg's muxer), Vorbis
  comment ``CHAPTERnnn``/``CHAPTERnnnNAME`` tags (the Vorbis chapter extension) in Ogg Opus and FLAC, written
  as tags here since FFmpeg's Ogg muxer rounds their seconds to the nearest (0.8 s -> 1.800) and its FLAC
  muxer drops chapters. ADTS (aac) has no place for them. Marks never change the audio. WAV marks are
  appended after the data by the caller (``ttsd.jobs.marks``), once the file is complete.
"""

from __future__ import annotations

import io
import struct
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Literal, get_args

import av
import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr
from av.audio.stream import AudioStream

from ttsd.errors import InvalidControl

if TYPE_CHECKING:
    from av.container.core import Chapter

FloatArray = npt.NDArray[np.float32]

AudioFormat = Literal["wav", "pcm", "mp3", "opus", "aac", "flac", "ulaw"]
FORMATS: tuple[str, ...] = get_args(AudioFormat)
SampleRate = Literal[8000, 12000, 16000, 22050, 24000, 44100, 48000]
SAMPLE_RATES: tuple[int, ...] = get_args(SampleRate)
OPUS_RATES: tuple[int, ...] = (8000, 12000, 16000, 24000, 48000)
OPUS_DEFAULT_RATE = 48000
VOLUME_RANGE = (0.0, 4.0)
ULAW_RATE = 8000
# Formats whose codec runs at some rates only (None: any of SAMPLE_RATES).
FORMAT_RATES: dict[str, tuple[int, ...]] = {"opus": OPUS_RATES, "ulaw": (ULAW_RATE,)}

MEDIA_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "ulaw": "audio/wav",
}

# format -> (PyAV container format, codec name) for the formats PyAV encodes.
_AV_CODECS: dict[str, tuple[str, str]] = {
    "mp3": ("mp3", "libmp3lame"),
    "opus": ("ogg", "libopus"),
    "aac": ("adts", "aac"),
}
# Streaming also sends FLAC through PyAV: its muxer writes to a non-seekable sink (libsndfile needs seek).
_AV_STREAM_CODECS: dict[str, tuple[str, str]] = {**_AV_CODECS, "flac": ("flac", "flac")}
# Formats whose header carries chapter marks (see the module docstring).
MUXED_MARK_FORMATS: frozenset[str] = frozenset({"mp3", "opus", "flac"})
_LIMIT_KNEE = 0.9  # the soft limiter is linear below this level
_WAV_UNKNOWN_SIZE = 0xFFFFFFFF
_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_MULAW = 7


@dataclass(frozen=True, slots=True)
class Mark:
    """A chapter mark: its first and one-past-last sample at the output rate, and its title."""

    start: int
    end: int
    title: str


@dataclass(frozen=True, slots=True)
class AudioSpec:
    """The client's wishes for the output audio, validated on construction (InvalidControl, param named)."""

    format: str = "wav"
    sample_rate: int | None = None
    volume: float = 1.0

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise InvalidControl(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}", param="format")
        if self.sample_rate is not None:
            allowed = FORMAT_RATES.get(self.format, SAMPLE_RATES)
            if self.sample_rate not in allowed or self.sample_rate not in SAMPLE_RATES:
                rates = ", ".join(str(r) for r in allowed if r in SAMPLE_RATES)
                which = f"{self.format} sample_rate" if self.format in FORMAT_RATES else "sample_rate"
                message = f"{which} must be one of {rates}, got {self.sample_rate!r}"
                raise InvalidControl(message, param="sample_rate")
        lo, hi = VOLUME_RANGE
        if not np.isfinite(self.volume) or not lo <= self.volume <= hi:
            raise InvalidControl(f"volume must be between {lo} and {hi}, got {self.volume!r}", param="volume")

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    def output_rate(self, source_rate: int) -> int:
        """The rate the encoded audio will actually have (see the module docstring for opus)."""
        if self.sample_rate is not None:
            return self.sample_rate
        if self.format == "ulaw":
            return ULAW_RATE
        if self.format == "opus" and source_rate not in OPUS_RATES:
            return OPUS_DEFAULT_RATE
        return source_rate


@dataclass(frozen=True, slots=True)
class EncodedAudio:
    """A whole encoded file and what a client needs to know about it."""

    data: bytes
    format: str
    media_type: str
    sample_rate: int
    duration_s: float


def resample(audio: FloatArray, source_rate: int, target_rate: int) -> FloatArray:
    """High-quality resampling (soxr); returns the input unchanged when the rates match."""
    if source_rate == target_rate or len(audio) == 0:
        return audio
    out = soxr.resample(audio, source_rate, target_rate, quality="HQ")
    return np.asarray(out, dtype=np.float32)


def apply_volume(audio: FloatArray, volume: float) -> FloatArray:
    """Multiply by ``volume`` and soft-limit: samples above 0.9 are compressed smoothly towards 1.0."""
    if volume == 1.0:
        return np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False)
    scaled = audio.astype(np.float32) * np.float32(volume)
    magnitude = np.abs(scaled)
    over = magnitude > _LIMIT_KNEE
    if np.any(over):
        headroom = 1.0 - _LIMIT_KNEE
        limited = _LIMIT_KNEE + headroom * np.tanh((magnitude[over] - _LIMIT_KNEE) / headroom)
        scaled[over] = np.sign(scaled[over]) * limited
    return scaled


def to_int16(audio: FloatArray) -> npt.NDArray[np.int16]:
    """Float [-1, 1] -> signed 16-bit with rounding and saturation."""
    return np.asarray(np.clip(np.round(audio * 32767.0), -32768, 32767), dtype=np.int16)


def encode(audio: FloatArray, source_rate: int, spec: AudioSpec) -> EncodedAudio:
    """Encode a whole utterance. Resamples and applies the volume first."""
    rate = spec.output_rate(source_rate)
    samples = apply_volume(resample(np.asarray(audio, dtype=np.float32), source_rate, rate), spec.volume)
    if spec.format in _AV_CODECS:
        data = _encode_av(samples, rate, spec.format)
    elif spec.format == "pcm":
        data = to_int16(samples).tobytes()
    else:
        data = _encode_soundfile(samples, rate, spec.format)
    return EncodedAudio(
        data=data,
        format=spec.format,
        media_type=spec.media_type,
        sample_rate=rate,
        duration_s=len(samples) / rate,
    )


def _encode_soundfile(samples: FloatArray, rate: int, fmt: str) -> bytes:
    if fmt == "wav":
        return _encode_wav16(samples, rate)
    container, subtype = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ulaw": ("WAV", "ULAW")}[fmt]
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=container, subtype=subtype)
    return buf.getvalue()


def _encode_wav16(samples: FloatArray, rate: int) -> bytes:
    """16-bit PCM WAV with the standard library's ``wave`` writer (the same 44-byte header as libsndfile's;
    samples rounded to nearest where libsndfile floors), at a fraction of its per-call cost: that matters for
    short prompts."""
    pcm = np.clip(np.rint(np.asarray(samples, dtype=np.float32) * 32768.0), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buf.getvalue()


def _encode_av(samples: FloatArray, rate: int, fmt: str) -> bytes:
    buf = io.BytesIO()
    encoder = _AvEncoder(buf, fmt=fmt, rate=rate, streaming=False)
    encoder.feed(samples)
    encoder.close()
    return buf.getvalue()


class _ByteSink:
    """A write-only, non-seekable file object: muxers write progressively and never seek back."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """File-object protocol; nothing is buffered here."""

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


class _AvEncoder:
    """One PyAV output container + audio stream fed with float mono frames."""

    def __init__(
        self, sink: io.BytesIO | _ByteSink, *, fmt: str, rate: int, streaming: bool, marks: Sequence[Mark] = ()
    ) -> None:
        container_format, codec = _AV_STREAM_CODECS[fmt]
        options: dict[str, str] = {}
        if streaming and fmt == "opus":
            options["page_duration"] = "20000"  # flush Ogg pages every 20 ms instead of every second
        if streaming and fmt == "mp3":
            options["write_xing"] = "0"  # a Xing header written up front would claim zero frames
        self._rate = rate
        self._container = av.open(sink, mode="w", format=container_format, options=options)
        if marks and fmt == "mp3":
            self._container.set_chapters([_av_chapter(i, m, rate) for i, m in enumerate(marks, start=1)])
        elif marks and fmt in MUXED_MARK_FORMATS:
            self._container.metadata.update(_vorbis_chapters(marks, rate))
        stream = self._container.add_stream(codec, rate=rate)
        assert isinstance(stream, AudioStream)
        self._stream = stream
        self._stream.layout = "mono"
        if fmt == "mp3":
            self._stream.bit_rate = 64000 if rate <= 24000 else 128000
        self._pts = 0

    def feed(self, samples: FloatArray) -> None:
        if len(samples) == 0:
            return
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32)[None, :], format="flt", layout="mono"
        )
        frame.sample_rate = self._rate
        frame.pts = self._pts
        self._pts += len(samples)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()


def _av_chapter(number: int, mark: Mark, rate: int) -> Chapter:
    return {
        "id": number,
        "start": mark.start,
        "end": mark.end,
        "time_base": Fraction(1, rate),
        "metadata": {"title": mark.title},
    }


def _vorbis_chapters(marks: Sequence[Mark], rate: int) -> dict[str, str]:
    """Vorbis chapter-extension tags: ``CHAPTER000=HH:MM:SS.mmm`` and ``CHAPTER000NAME=title``, from 000."""
    tags: dict[str, str] = {}
    for number, mark in enumerate(marks):
        ms = round(mark.start * 1000 / rate)
        minutes, seconds = divmod(ms // 1000, 60)
        tags[f"CHAPTER{number:03d}"] = f"{minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d}.{ms % 1000:03d}"
        tags[f"CHAPTER{number:03d}NAME"] = mark.title
    return tags


def _wav_header(*, rate: int, format_tag: int, bits: int) -> bytes:
    """A RIFF/WAVE header whose sizes say "unknown" (0xFFFFFFFF), for streamed WAV of unknown length."""
    block_align = bits // 8
    fmt_chunk = struct.pack("<HHIIHH", format_tag, 1, rate, rate * block_align, block_align, bits)
    return b"".join(
        (
            b"RIFF", struct.pack("<I", _WAV_UNKNOWN_SIZE), b"WAVE",
            b"fmt ", struct.pack("<I", len(fmt_chunk)), fmt_chunk,
            b"data", struct.pack("<I", _WAV_UNKNOWN_SIZE),
        )
    )  # fmt: skip


def _ulaw_bytes(samples: FloatArray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="RAW", subtype="ULAW")
    return buf.getvalue()


class StreamEncoder:
    """Incremental encoder: ``feed(chunk)`` returns the bytes ready so far, ``close()`` the rest.

    Concatenating every returned piece gives one valid file/stream of ``spec.format``. Resampling is stateful
    (no clicks at chunk boundaries). ``marks`` (at the output rate) go into the header of the formats in
    :data:`MUXED_MARK_FORMATS` and are ignored by the others. Not thread-safe; one encoder per response.
    """

    def __init__(self, *, source_rate: int, spec: AudioSpec, marks: Sequence[Mark] = ()) -> None:
        self.spec = spec
        self.source_rate = source_rate
        self.sample_rate = spec.output_rate(source_rate)
        self.media_type = spec.media_type
        self.samples_written = 0
        self._resampler = (
            soxr.ResampleStream(source_rate, self.sample_rate, 1, dtype="float32", quality="HQ")
            if source_rate != self.sample_rate
            else None
        )
        self._sink = _ByteSink()
        self._av = (
            _AvEncoder(self._sink, fmt=spec.format, rate=self.sample_rate, streaming=True, marks=marks)
            if spec.format in _AV_STREAM_CODECS
            else None
        )
        self._header_pending = spec.format in ("wav", "ulaw")
        self._closed = False

    @property
    def duration_s(self) -> float:
        """Seconds of audio fed so far, at the output rate."""
        return self.samples_written / self.sample_rate

    def feed(self, audio: FloatArray) -> bytes:
        if self._closed:
            raise RuntimeError("StreamEncoder is closed")
        samples = np.asarray(audio, dtype=np.float32)
        if self._resampler is not None:
            samples = np.asarray(self._resampler.resample_chunk(samples, last=False), dtype=np.float32)
        return self._encode(apply_volume(samples, self.spec.volume))

    def close(self) -> bytes:
        """Flush the resampler and the codec; returns the final bytes (possibly empty)."""
        if self._closed:
            return b""
        tail = b""
        if self._resampler is not None:
            rest = np.asarray(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True), np.float32)
            tail = self._encode(apply_volume(rest, self.spec.volume))
        self._closed = True
        if self._av is not None:
            self._av.close()
        elif self._header_pending:
            tail += self._encode(np.zeros(0, np.float32))  # an empty stream is still a valid (empty) WAV
        return tail + self._sink.take()

    def _encode(self, samples: FloatArray) -> bytes:
        self.samples_written += len(samples)
        fmt = self.spec.format
        head = b""
        if self._header_pending:
            self._header_pending = False
            tag, bits = (_WAVE_FORMAT_MULAW, 8) if fmt == "ulaw" else (_WAVE_FORMAT_PCM, 16)
            head = _wav_header(rate=self.sample_rate, format_tag=tag, bits=bits)
        if self._av is not None:
            self._av.feed(samples)
            return self._sink.take()
        if fmt == "ulaw":
            return head + (_ulaw_bytes(samples, self.sample_rate) if len(samples) else b"")
        return head + to_int16(samples).tobytes()
