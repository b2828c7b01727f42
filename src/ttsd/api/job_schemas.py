"""Request and response bodies of the long-form jobs API (``/v1/jobs``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ttsd.api.schemas import EXAMPLE_LONG_TEXT, ControlFields
from ttsd.audio import FORMATS, AudioFormat
from ttsd.errors import InvalidControl

JOB_EXAMPLES: dict[str, dict[str, Any]] = {
    "book": {
        "summary": "A chapter as MP3 with subtitles",
        "value": {"input": "第一章 开始\n" + EXAMPLE_LONG_TEXT, "voice": "alloy", "response_format": "mp3"},
    },
    "callback": {
        "summary": "WAV, called back when done (the host must be in TTSD_JOBS_CALLBACK_HOSTS)",
        "value": {"text": EXAMPLE_LONG_TEXT, "response_format": "wav", "callback_url": "https://hooks.example.com/tts"},
    },
}


class JobRequest(ControlFields):
    """``POST /v1/jobs``: the speech fields (``input`` or ``text``), the output wanted, and an optional callback.
    ``timeout_s`` and ``timestamps`` do not apply to jobs (a job runs for as long as it takes; its subtitles are
    always made)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [example["value"] for example in JOB_EXAMPLES.values()]}
    )

    input: str | None = Field(None, min_length=1, description="The text (plain text or SSML); or use 'text'.")
    text: str | None = Field(None, min_length=1, description="Same as 'input' (the /tts name).")
    model: str | None = Field(None, description="Accepted for OpenAI-style clients; the voice decides.")
    voice: str | None = Field(None, description="A ttsd voice or speaker; OpenAI voice names mean the default voice.")
    response_format: AudioFormat = Field("mp3", description=f"The finished file's format: {', '.join(FORMATS)}.")
    callback_url: str | None = Field(
        None, description="POSTed once when the job ends ({id, status, error}); its host must be allowed."
    )

    @property
    def source(self) -> str:
        """The text, from ``input`` or ``text`` (422 unless exactly one is given)."""
        if (self.input is None) == (self.text is None):
            raise InvalidControl("send the text as 'input' or as 'text' (exactly one)", param="input")
        return self.input if self.input is not None else (self.text or "")


class ChapterJSON(BaseModel):
    title: str
    start: float = Field(..., description="Seconds from the start of the audio.")


class JobJSON(BaseModel):
    """A job's state (``GET /v1/jobs/{id}``)."""

    id: str
    object: Literal["job"] = "job"
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float = Field(..., description="0..1, by characters synthesized.")
    characters: int
    characters_done: int
    sentences: int = Field(..., description="Parts (sentences) the text was split into.")
    sentences_done: int
    audio_seconds: float = Field(..., description="Seconds of audio synthesized so far.")
    eta_seconds: float | None = Field(None, description="Estimated seconds to finish (while running here).")
    created_at: float = Field(..., description="Unix time.")
    started_at: float | None
    finished_at: float | None
    error: str | None
    voice: str | None
    response_format: str
    output_bytes: int
    chapters: list[ChapterJSON]
    audio_url: str
    subtitles_url: str
    worker: str | None = Field(None, description="The process running it (host:port:id), while it runs.")


class JobList(BaseModel):
    object: Literal["list"] = "list"
    data: list[JobJSON]
    has_more: bool
    next_after: str | None = Field(None, description="Pass as 'after' for the next page.")
