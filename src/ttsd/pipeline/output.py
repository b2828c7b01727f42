"""The output stage: float PCM -> the bytes a client asked for, under one inline-or-thread rule.

Encoding a short WAV/PCM answer at the voice's own rate is a copy and an int16 cast (well under a
millisecond): it runs inline, where a worker-thread hop would cost more. Everything else (resampling, mp3,
opus, aac, flac, long audio) runs in a worker thread, so the event loop stays free. Whole responses and
streams go through the same rule (:func:`encode_whole`, :class:`ChunkEncoder`).
"""

from __future__ import annotations

import asyncio

from ttsd.audio import AudioSpec, EncodedAudio, StreamEncoder, encode
from ttsd.errors import InvalidControl
from ttsd.voices.base import FloatArray

# Samples (10 s at 24 kHz) up to which cheap encodings run inline on the event loop.
INLINE_ENCODE_SAMPLES = 24_000 * 10
# Encoded bytes per output sample, roughly, for the size a refused whole-file answer would have had.
_BYTES_PER_SAMPLE = {"wav": 2.0, "pcm": 2.0, "ulaw": 1.0, "flac": 1.2, "mp3": 0.35, "aac": 0.35, "opus": 0.2}
_NOMINAL_RATE = 24_000


def check_response_size(estimated_audio_s: float, spec: AudioSpec, *, limit_s: float) -> None:
    """Raise :class:`InvalidControl` (422, ``param="stream"``) when a whole-file answer would hold more than
    ``limit_s`` seconds of audio: such a text is for ``stream=true``, where memory stays bounded."""
    if estimated_audio_s <= limit_s:
        return
    rate = spec.output_rate(_NOMINAL_RATE)
    megabytes = estimated_audio_s * rate * _BYTES_PER_SAMPLE.get(spec.format, 2.0) / 1e6
    raise InvalidControl(
        f"this text makes about {estimated_audio_s:.0f} s of audio (~{megabytes:.0f} MB of {spec.format}); "
        f"whole-file responses are limited to {limit_s:.0f} s: send it with stream=true (or split the text)",
        param="stream",
    )


def runs_inline(spec: AudioSpec, source_rate: int, samples: int) -> bool:
    """The one rule: cheap format, no resampling, short audio."""
    cheap = spec.format in ("wav", "pcm") and spec.sample_rate in (None, source_rate)
    return cheap and samples <= INLINE_ENCODE_SAMPLES


async def encode_whole(audio: FloatArray, source_rate: int, spec: AudioSpec) -> EncodedAudio:
    if runs_inline(spec, source_rate, len(audio)):
        return encode(audio, source_rate, spec)
    return await asyncio.to_thread(encode, audio, source_rate, spec)


class ChunkEncoder:
    """A :class:`StreamEncoder` fed chunk by chunk under the same rule. One per response."""

    def __init__(self, *, source_rate: int, spec: AudioSpec) -> None:
        self._encoder = StreamEncoder(source_rate=source_rate, spec=spec)
        self._source_rate = source_rate
        self._spec = spec

    @property
    def sample_rate(self) -> int:
        return self._encoder.sample_rate

    @property
    def media_type(self) -> str:
        return self._encoder.media_type

    async def feed(self, audio: FloatArray) -> bytes:
        if runs_inline(self._spec, self._source_rate, len(audio)):
            return self._encoder.feed(audio)
        return await asyncio.to_thread(self._encoder.feed, audio)

    async def close(self) -> bytes:
        if runs_inline(self._spec, self._source_rate, 0):
            return self._encoder.close()
        return await asyncio.to_thread(self._encoder.close)
