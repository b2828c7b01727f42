"""The messages of the text-in WebSocket (``GET /v1/audio/speech/ws``): what a client may send, parsed strictly,
and the error a bad one gets (its code, message and WebSocket close code).

Client messages are JSON text frames: ``config`` (first, optional), ``text``, ``flush``, ``end``. Server messages
are binary audio frames and JSON ``sentence``, ``done`` and ``error`` frames (built by the route).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, TypeAdapter, ValidationError, model_validator

from ttsd.api.schemas import ControlFields
from ttsd.audio import AudioSpec
from ttsd.controls import Controls
from ttsd.pipeline.session import SessionConfig

# WebSocket close codes (RFC 6455 section 7.4.1).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_LATER = 1013

StreamFormat = Literal["pcm", "wav", "mp3", "opus", "ulaw", "flac", "aac"]


class ConfigMessage(ControlFields):
    """``{"type": "config", ...}``: the session's voice and output (defaults as for ``/v1/audio/speech``, except
    ``response_format``: ``pcm``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["config"]
    voice: StrictStr | None = None
    response_format: StreamFormat = "pcm"
    timestamps: StrictBool = False

    @model_validator(mode="after")
    def _plain_text_only(self) -> ConfigMessage:
        if self.input_type == "ssml":
            raise ValueError("input_type: a session reads plain text (SSML-like tags are kept whole, not parsed)")
        if self.subtitles is not None:
            raise ValueError("subtitles: not available in a session; ask for timestamps (sentence frames)")
        return self

    def session_config(self, *, max_chars: int, read_ahead_chars: int) -> SessionConfig:
        controls = Controls(
            speed=self.speed,
            pitch=self.pitch,
            intonation=self.intonation,
            energy=self.energy,
            variation=self.variation,
            seed=self.seed,
            emotion=self.emotion or None,
        )
        spec = AudioSpec(format=self.response_format, sample_rate=self.sample_rate, volume=self.volume)
        return SessionConfig(
            voice=self.voice, controls=controls, spec=spec, max_chars=max_chars, read_ahead_chars=read_ahead_chars
        )


class TextMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: StrictStr


class FlushMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["flush"]


class EndMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["end"]


ClientMessage = ConfigMessage | TextMessage | FlushMessage | EndMessage
_ADAPTER: TypeAdapter[ClientMessage] = TypeAdapter(Annotated[ClientMessage, Field(discriminator="type")])
_TYPES = ("config", "text", "flush", "end")


@dataclass(frozen=True, slots=True)
class ProtocolError(Exception):
    """A message the protocol does not allow: an ``error`` frame with ``code`` and ``message``, then ``close``."""

    code: str
    message: str
    close: int = CLOSE_POLICY


def parse(frame: str | bytes | None) -> ClientMessage:
    """One client frame -> its message, or :class:`ProtocolError` saying what is wrong with it."""
    if not isinstance(frame, str):
        raise ProtocolError(
            "binary_not_accepted",
            'send JSON text frames ({"type": "text", ...}); audio goes one way',
            CLOSE_UNSUPPORTED,
        )
    try:
        raw = json.loads(frame)
    except ValueError:
        raise ProtocolError("invalid_json", "a message must be one JSON object", CLOSE_INVALID_DATA) from None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in _TYPES:
        raise ProtocolError(
            "invalid_message", f"unknown message type {kind!r}: use one of {', '.join(_TYPES)}", CLOSE_POLICY
        )
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or kind
        raise ProtocolError(
            "invalid_parameter", f"{kind}: {where}: {first.get('msg', 'invalid value')}", CLOSE_POLICY
        ) from None
