"""Request and response bodies of the HTTP API (pydantic). Field descriptions and examples feed ``/docs``.

Ranges come from the layers that own them (``ttsd.voices.base`` for synthesis controls, ``ttsd.audio`` for
output audio), so the schema, the engine and the docs cannot disagree.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Field, Strict, StrictBool, StrictInt

from ttsd.audio import FORMATS, OPUS_RATES, SAMPLE_RATES, ULAW_RATE, VOLUME_RANGE, AudioFormat, SampleRate
from ttsd.controls import ENERGY_RANGE, INTONATION_RANGE, PITCH_RANGE, SPEED_RANGE
from ttsd.pipeline.request import InputType

EXAMPLE_TEXT = "欢迎使用中文语音合成服务。"
EXAMPLE_LONG_TEXT = "今天是2024年3月5日，气温18℃。我们一起去公园散步吧！路上顺便买一杯3.5元的豆浆。"
# Request examples, in FastAPI's ``openapi_examples`` shape (summary + value). The values are also the JSON
# schema's ``examples`` (what generated clients and /docs' "Try it out" start from: the first one).
TTS_EXAMPLES: dict[str, dict[str, Any]] = {
    "chinese": {"summary": "Chinese text, WAV", "value": {"text": EXAMPLE_TEXT}},
    "controls": {
        "summary": "Numbers and dates read out; faster, higher, MP3",
        "value": {"text": EXAMPLE_LONG_TEXT, "speed": 1.2, "pitch": 0.5, "format": "mp3"},
    },
    "stream": {
        "summary": "Streaming: raw 16 kHz PCM, sentence by sentence",
        "value": {"text": EXAMPLE_LONG_TEXT, "stream": True, "format": "pcm", "sample_rate": 16000},
    },
    "base64": {"summary": "JSON body with base64 audio", "value": {"text": EXAMPLE_TEXT, "encoding": "base64"}},
}
SPEECH_EXAMPLES: dict[str, dict[str, Any]] = {
    "chinese": {
        "summary": "Chinese text, WAV",
        "value": {"model": "tts-1", "input": EXAMPLE_TEXT, "voice": "alloy", "response_format": "wav"},
    },
    "slower": {
        "summary": "Slower, MP3 (OpenAI's default format)",
        "value": {"model": "tts-1", "input": EXAMPLE_LONG_TEXT, "voice": "alloy", "speed": 0.9},
    },
    "stream": {
        "summary": "Streaming raw PCM (24 kHz s16le), sentence by sentence",
        "value": {"model": "tts-1", "input": EXAMPLE_LONG_TEXT, "response_format": "pcm", "stream": True},
    },
}
# One error body per status the synthesis routes answer with (messages as the service writes them).
ERROR_EXAMPLES: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_json", "the request body is not valid JSON", None),
    401: ("unauthorized", "missing or invalid API key (Authorization: Bearer)", None),
    413: ("text_too_long", "text is 6200 characters long; the limit is 5000", None),
    422: ("invalid_parameter", "speed: Input should be less than or equal to 4", "speed"),
    503: ("queue_full", "the server is busy (512 items queued); retry later", None),
    504: ("timeout", "the request's deadline passed while it was queued", None),
    404: ("job_not_found", "no job 'job_0123456789abcdef0123' (never submitted, removed, or past its retention)", None),
    409: (
        "job_state_conflict",
        "job job_0123456789abcdef0123 is running; its audio is ready once it has succeeded",
        None,
    ),
    507: (
        "insufficient_storage",
        "the jobs' disk budget is spent: this job may need 2.40 GB and 49.10 of 50.00 GB "
        "are held; retry when jobs expire or are removed",
        None,
    ),
}
OPENAI_MODELS: tuple[str, ...] = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
_RATES = ", ".join(map(str, SAMPLE_RATES))
_OPUS_RATES = ", ".join(map(str, OPUS_RATES))
# JSON numbers only: no booleans (``true`` is not 1.0), no numeric strings, no NaN/Infinity.
Number = Annotated[float, Strict(), AllowInfNan(False)]


def _empty_is_none(value: object) -> object:
    return None if value == "" else value


# ``""`` means "not set" (what form-driven clients send), like an absent field.
OptionalName = Annotated[str | None, BeforeValidator(_empty_is_none)]


class ControlFields(BaseModel):
    """Synthesis and output controls shared by ``/tts`` and ``/v1/audio/speech``."""

    speed: Number = Field(1.0, ge=SPEED_RANGE[0], le=SPEED_RANGE[1], description="Speaking rate: 1.25 is 25% faster.")
    pitch: Number = Field(
        0.0,
        ge=PITCH_RANGE[0],
        le=PITCH_RANGE[1],
        description="Pitch shift in speaker standard deviations (1.0 is about 2-3 semitones).",
    )
    intonation: Number = Field(
        1.0,
        ge=INTONATION_RANGE[0],
        le=INTONATION_RANGE[1],
        description="Pitch contour scale: 0 is flat, 1 as predicted, above 1 more expressive.",
    )
    energy: Number = Field(1.0, ge=ENERGY_RANGE[0], le=ENERGY_RANGE[1], description="Energy (loudness contour).")
    volume: Number = Field(
        1.0,
        ge=VOLUME_RANGE[0],
        le=VOLUME_RANGE[1],
        description="Output gain (linear), soft-limited so loud settings never clip harshly.",
    )
    variation: StrictBool = Field(False, description="Sample prosody variation (dropout) instead of the mean.")
    seed: StrictInt | None = Field(
        None, ge=0, le=2**63 - 1, description="Makes 'variation' reproducible: same text + seed = same audio."
    )
    emotion: OptionalName = Field(
        None, description="Emotion, for voices that have emotions (see /v1/voices); empty = none."
    )
    sample_rate: SampleRate | None = Field(
        None,
        description=f"Output sample rate in Hz: one of {_RATES}. Default: the voice's own rate (opus: 48000 "
        f"unless the voice's rate is one of {_OPUS_RATES}; ulaw: {ULAW_RATE}). opus takes only {_OPUS_RATES}; "
        f"ulaw only {ULAW_RATE}; other rates are refused (422), never silently changed.",
        examples=[24000],
    )
    timeout_s: Number | None = Field(
        None, gt=0, description="Deadline for this request in seconds (at most the server's default)."
    )
    input_type: InputType = Field(
        "auto",
        description="text, ssml, or auto (SSML when the text starts with <speak>). See docs/ssml.md.",
    )
    timestamps: bool = Field(
        False,
        description="Answer JSON with the audio in base64 and each character's (Latin word's, markup unit's) "
        "start and end in seconds; NDJSON lines when streaming.",
    )
    subtitles: Literal["srt", "vtt"] | None = Field(
        None, description="Add SRT or WebVTT subtitles, timed from the same data (implies timestamps)."
    )


class TTSRequest(ControlFields):
    """``POST /tts``: the original service's endpoint, with optional controls."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [example["value"] for example in TTS_EXAMPLES.values()]},
    )

    text: str = Field(..., min_length=1, description="Text to speak (Mandarin).", examples=[EXAMPLE_TEXT])
    voice: str | None = Field(None, description="Voice or speaker name (see /v1/voices). Default: the loaded voice.")
    format: AudioFormat = Field(
        "wav",
        description=f"Audio format: {', '.join(FORMATS)} (ulaw = 8 kHz G.711 mu-law WAV for telephony).",
    )
    encoding: Literal["binary", "base64"] = Field(
        "binary",
        description="binary: the audio file as the body. base64: a JSON body with the audio in base64.",
    )
    stream: StrictBool = Field(False, description="Send audio sentence by sentence as it is ready (chunked).")


class SpeechRequest(ControlFields):
    """``POST /v1/audio/speech``: OpenAI-compatible, plus ttsd's extensions (pitch, volume, sample_rate)."""

    model_config = ConfigDict(
        extra="ignore",  # OpenAI clients may send fields newer than this server; unknown ones are ignored
        json_schema_extra={"examples": [example["value"] for example in SPEECH_EXAMPLES.values()]},
    )

    model: str = Field("tts-1", description="tts-1, tts-1-hd, gpt-4o-mini-tts or ttsd (all use the loaded voice).")
    input: str = Field(..., min_length=1, description="Text to speak (Mandarin).", examples=[EXAMPLE_TEXT])
    voice: str | None = Field(
        None,
        description="A ttsd voice or speaker; OpenAI voice names (alloy, echo...) mean the default voice.",
    )
    response_format: AudioFormat = Field("mp3", description="mp3, opus, aac, flac, wav, pcm (s16le), or ulaw.")
    stream: StrictBool = Field(False, description="Send audio sentence by sentence as it is ready (chunked).")
    stream_format: Literal["audio"] = Field("audio", description="Only 'audio' (raw audio bytes) is supported.")
    instructions: str | None = Field(None, description="Accepted for compatibility; ignored by ttsd voices.")


class AudioJSON(BaseModel):
    """``POST /tts`` with ``"encoding": "base64"``."""

    audio: str = Field(..., description="The encoded audio file, base64.")
    format: str
    media_type: str
    sample_rate: int
    duration_s: float
    sentences: int
    characters: int


class TimedSpan(BaseModel):
    text: str = Field(..., description="The original text of the token (a character, a word, a number...).")
    start: float = Field(..., description="Seconds from the start of the audio.")
    end: float


class TimedSpeechJSON(BaseModel):
    """``"timestamps": true``: the audio and when each token is spoken."""

    audio: str = Field(..., description="The encoded audio file, base64.")
    format: str
    media_type: str
    sample_rate: int
    duration: float = Field(..., description="Seconds of audio.")
    timestamps: list[TimedSpan]
    subtitles: str | None = Field(None, description="SRT or WebVTT text, when asked for.")


class ErrorBody(BaseModel):
    code: str = Field(..., examples=["invalid_parameter"])
    message: str = Field(..., examples=["speed: Input should be less than or equal to 4"])
    param: str | None = Field(None, description="The request field at fault, when there is one.")


class ErrorResponse(BaseModel):
    """Every error response has this shape."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"error": {"code": "invalid_parameter", "message": ERROR_EXAMPLES[422][1], "param": "speed"}},
                {"error": {"code": "queue_full", "message": ERROR_EXAMPLES[503][1]}},
            ]
        }
    )

    error: ErrorBody


def error_example(status: int) -> dict[str, Any]:
    """The example body of an error response with this status (see :data:`ERROR_EXAMPLES`)."""
    code, message, param = ERROR_EXAMPLES[status]
    body: dict[str, Any] = {"code": code, "message": message}
    if param is not None:
        body["param"] = param
    return {"error": body}


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses: the :class:`ErrorResponse` schema plus an example
    body each, for a route's ``responses=`` (``{200: ..., **error_responses({422: "Invalid text"})}``)."""
    return {
        status: {
            "model": ErrorResponse,
            "description": description,
            "content": {"application/json": {"example": error_example(status)}},
        }
        for status, description in descriptions.items()
    }


class VoiceCard(BaseModel):
    id: str = Field(..., description="The name to pass as 'voice'.")
    name: str
    family: str = Field(..., description="The model family the voice belongs to (baker, kokoro...).")
    gender: str
    language: str
    sample_rate: int
    licence: str = Field(..., description="Licence of the weights / training data (check before commercial use).")
    backend: str
    description: str
    speakers: list[str]
    emotions: list[str]
    default: bool
    aliases: list[str] = Field(..., description="Other names accepted as 'voice' (OpenAI voice names).")
    speed_range: tuple[float, float] = Field(
        (0.25, 4.0), description="The lowest and highest 'speed' this voice takes (others get a 422)."
    )


class VoiceList(BaseModel):
    object: Literal["list"] = "list"
    data: list[VoiceCard]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "ttsd"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


ReadyStatus = Literal["ready", "starting", "draining", "stopped", "failed"]


class Readiness(BaseModel):
    status: ReadyStatus
    voices: list[str] = Field(default_factory=list)
    queue_depth: int
    device: str
    executor: str


class Range(BaseModel):
    min: float
    max: float
    default: float


class UIConfig(BaseModel):
    """What the web page needs to know about this server."""

    max_text_chars: int
    formats: list[str]
    sample_rates: list[int]
    voice: str
    sample_rate: int
    controls: dict[str, Range]
    auth_required: bool
    jobs_max_chars: int = Field(0, description="Longest text a long-form job takes (0: jobs are off).")
