"""``POST /tts`` and ``POST /v1/audio/speech``: parse the body, await one engine call, map the result.

Both routes share one path: body -> (:class:`~ttsd.pipeline.engine.SynthesisRequest`, :class:`~ttsd.audio.AudioSpec`)
-> ``engine.speak`` (a whole encoded file) or ``engine.open_stream`` (encoded chunks as sentences are ready).
While the engine works, a watcher task listens for the client's disconnect and cancels the request task, which
cancels the engine call and so the request's queued work. With ``timestamps`` the answer is JSON (or NDJSON
when streaming) carrying the audio in base64 and every token's start and end.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ttsd.api.deps import EngineDep
from ttsd.api.errors import count_rejection
from ttsd.api.middleware import request_id
from ttsd.api.schemas import (
    OPENAI_MODELS,
    SPEECH_EXAMPLES,
    TTS_EXAMPLES,
    AudioJSON,
    ControlFields,
    SpeechRequest,
    TimedSpeechJSON,
    TTSRequest,
    error_responses,
)
from ttsd.audio import AudioSpec
from ttsd.controls import Controls
from ttsd.errors import Cancelled, InvalidControl
from ttsd.metrics import Metrics
from ttsd.pipeline.engine import TTSEngine
from ttsd.pipeline.request import EncodedSpeech, SpeechStream, SynthesisRequest
from ttsd.subtitles import Timestamp, build_cues, to_srt, to_vtt

router = APIRouter(tags=["speech"])

AUDIO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": TimedSpeechJSON,
        "content": {
            "audio/wav": {},
            "audio/mpeg": {},
            "audio/ogg": {},
            "audio/aac": {},
            "audio/flac": {},
            "audio/pcm": {},
            "application/x-ndjson": {},
        },
        "description": "The audio file; JSON with timestamps (or base64 for encoding=base64); NDJSON when "
        "streaming with timestamps.",
    },
    **error_responses(
        {
            400: "Malformed JSON",
            401: "Missing or wrong API key",
            413: "Text too long",
            422: "Invalid parameter, text or markup",
            503: "Busy or shutting down (Retry-After)",
            504: "Deadline passed",
        }
    ),
}


@dataclass(frozen=True, slots=True)
class _Job:
    """A parsed request: what to ask the engine, how to encode it, and how to present the answer."""

    request: SynthesisRequest
    spec: AudioSpec
    stream: bool
    timestamps: bool
    subtitles: str | None
    base64: bool = False


@router.post("/tts", responses=AUDIO_RESPONSES, summary="Synthesize speech (original ttsd endpoint)")
async def tts(
    body: Annotated[TTSRequest, Body(openapi_examples=TTS_EXAMPLES)], request: Request, engine: EngineDep
) -> Response:
    """Mandarin text (or SSML) in, ``audio/wav`` out (or another ``format``; ``encoding=base64`` or
    ``timestamps`` for a JSON body)."""
    if body.stream and body.encoding == "base64":
        raise InvalidControl(
            "stream cannot be combined with encoding=base64 (use timestamps for NDJSON)", param="encoding"
        )
    job = _job(body, body.text, body.voice, body.format, stream=body.stream, base64=body.encoding == "base64")
    return await _answer(request, engine, _with_id(job, request))


@router.post("/v1/audio/speech", responses=AUDIO_RESPONSES, summary="OpenAI-compatible speech synthesis")
async def speech(
    body: Annotated[SpeechRequest, Body(openapi_examples=SPEECH_EXAMPLES)], request: Request, engine: EngineDep
) -> Response:
    """Works with OpenAI clients: ``model`` (tts-1, tts-1-hd, ttsd), ``input``, ``voice`` (OpenAI voice names
    map to the default voice), ``response_format``, ``speed``; plus ``stream``, SSML, timestamps and ttsd's
    controls."""
    _check_model(engine, body.model)
    job = _job(body, body.input, body.voice, body.response_format, stream=body.stream)
    return await _answer(request, engine, _with_id(job, request))


def _job(body: ControlFields, text: str, voice: str | None, fmt: str, *, stream: bool, base64: bool = False) -> _Job:
    controls = Controls(
        speed=body.speed,
        pitch=body.pitch,
        intonation=body.intonation,
        energy=body.energy,
        variation=body.variation,
        seed=body.seed,
        emotion=body.emotion or None,
    )
    synthesis = SynthesisRequest(
        text=text, controls=controls, voice=voice, input_type=body.input_type, timeout_s=body.timeout_s
    )
    spec = AudioSpec(format=fmt, sample_rate=body.sample_rate, volume=body.volume)
    timestamps = body.timestamps or body.subtitles is not None
    return _Job(synthesis, spec, stream=stream, timestamps=timestamps, subtitles=body.subtitles, base64=base64)


def _with_id(job: _Job, request: Request) -> _Job:
    """The job's engine request carries the HTTP request's id (logs, e.g. a drain that cuts it)."""
    return replace(job, request=replace(job.request, request_id=request_id(request.scope)))


def _check_model(engine: TTSEngine, model: str) -> None:
    families = [info.name for info in engine.voices()]
    accepted = {*OPENAI_MODELS, "ttsd", *families, *(f"ttsd-{name}" for name in families)}
    if model not in accepted:
        raise InvalidControl(f"unknown model {model!r}; use one of {', '.join(sorted(accepted))}", param="model")


async def _answer(request: Request, engine: TTSEngine, job: _Job) -> Response:
    async with _cancel_on_disconnect(request):
        if job.stream:
            opened = await engine.open_stream(job.request, job.spec)
        else:
            speech = await engine.speak(job.request, job.spec)
    if job.stream:
        return _stream_response(opened, job, request.app.state.service.metrics)
    voice = {"X-Voice": speech.result.voice}
    if job.timestamps:
        return JSONResponse(_timed_json(speech, job).model_dump(exclude_none=True), headers=voice)
    if job.base64:
        return JSONResponse(_audio_json(speech).model_dump(), headers=voice)
    return Response(content=speech.encoded.data, media_type=speech.encoded.media_type, headers=_headers(speech, job))


def _headers(speech: EncodedSpeech, job: _Job) -> dict[str, str]:
    fmt = job.spec.format
    return {
        "Content-Disposition": f'inline; filename="speech.{"wav" if fmt == "ulaw" else fmt}"',
        "X-Audio-Duration": f"{speech.encoded.duration_s:.3f}",
        "X-Sample-Rate": str(speech.encoded.sample_rate),
        "X-Sentences": str(speech.result.sentences),
        "X-Cached-Sentences": str(speech.result.cached_sentences),
        "X-Voice": speech.result.voice,
    }


def _spoken(stamps: list[Timestamp]) -> list[dict[str, Any]]:
    """Every token in reading order, so the texts join back into the input; punctuation is zero-length."""
    return [{"text": t.text, "start": round(t.start, 3), "end": round(t.end, 3)} for t in stamps]


def _subtitles(stamps: list[Timestamp], fmt: str | None) -> str | None:
    if fmt is None:
        return None
    cues = build_cues(stamps)
    return to_srt(cues) if fmt == "srt" else to_vtt(cues)


def _timed_json(speech: EncodedSpeech, job: _Job) -> TimedSpeechJSON:
    stamps = speech.result.timestamps
    return TimedSpeechJSON(
        audio=base64.b64encode(speech.encoded.data).decode("ascii"),
        format=speech.encoded.format,
        media_type=speech.encoded.media_type,
        sample_rate=speech.encoded.sample_rate,
        duration=round(speech.encoded.duration_s, 4),
        timestamps=_spoken(stamps),
        subtitles=_subtitles(stamps, job.subtitles),
    )


def _audio_json(speech: EncodedSpeech) -> AudioJSON:
    return AudioJSON(
        audio=base64.b64encode(speech.encoded.data).decode("ascii"),
        format=speech.encoded.format,
        media_type=speech.encoded.media_type,
        sample_rate=speech.encoded.sample_rate,
        duration_s=round(speech.encoded.duration_s, 4),
        sentences=speech.result.sentences,
        characters=speech.result.characters,
    )


def _stream_response(opened: SpeechStream, job: _Job, metrics: Metrics) -> StreamingResponse:
    headers = {"X-Sample-Rate": str(opened.sample_rate), "X-Voice": opened.voice}
    if job.timestamps:
        body = _counted(_ndjson(opened, job.subtitles), metrics)
        return StreamingResponse(body, media_type="application/x-ndjson", headers=headers)
    return StreamingResponse(_counted(_bytes(opened), metrics), media_type=opened.media_type, headers=headers)


async def _counted(body: AsyncIterator[bytes], metrics: Metrics) -> AsyncIterator[bytes]:
    """A stream body whose client went away mid-stream counts as a cancelled request."""
    try:
        async for data in body:
            yield data
    except asyncio.CancelledError:
        count_rejection(metrics, Cancelled("the client disconnected mid-stream"))
        raise


async def _bytes(opened: SpeechStream) -> AsyncIterator[bytes]:
    async for chunk in opened.chunks:
        if chunk.data:
            yield chunk.data


async def _ndjson(opened: SpeechStream, subtitles: str | None) -> AsyncIterator[bytes]:
    """One JSON object per line: a chunk of the audio stream (base64) and the timestamps of its tokens; with
    ``subtitles``, a last line ``{"subtitles": ...}`` for the whole stream."""
    stamps: list[Timestamp] = []
    async for chunk in opened.chunks:
        stamps.extend(chunk.timestamps)
        line: dict[str, Any] = {"audio": base64.b64encode(chunk.data).decode("ascii")}
        line["timestamps"] = _spoken(chunk.timestamps)
        yield (json.dumps(line, ensure_ascii=False) + "\n").encode()
    if subtitles is not None:
        yield (json.dumps({"subtitles": _subtitles(stamps, subtitles)}, ensure_ascii=False) + "\n").encode()


@contextlib.asynccontextmanager
async def _cancel_on_disconnect(request: Request) -> AsyncIterator[None]:
    """Run the body; if the client disconnects meanwhile, cancel it and raise :class:`Cancelled`.

    The request body is already read, so the next ASGI message can only be ``http.disconnect``. Everything
    runs on one event loop, so the watcher can only fire while the body is suspended inside this block.
    """
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    watcher = asyncio.create_task(watch(), name="ttsd-disconnect-watch")
    try:
        yield
    except asyncio.CancelledError:
        if gone and task.uncancel() == 0:
            raise Cancelled("the client disconnected") from None
        raise
    finally:
        watcher.cancel()
