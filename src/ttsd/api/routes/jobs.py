"""Long-form jobs: ``/v1/jobs``. Parse, await one job-service call, map the result (see ``docs/jobs.md``).

Submitting answers ``202`` with the job and a ``Location`` at once; the text runs in the background at a lower
priority than interactive requests. A book can also arrive as a UTF-8 text body (``POST /v1/jobs/upload``, the
options as query parameters). The finished audio supports HTTP ``Range`` (206/416), so players can seek.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import ValidationError

from ttsd.api.job_schemas import JOB_EXAMPLES, ChapterJSON, JobJSON, JobList, JobRequest
from ttsd.api.schemas import error_responses
from ttsd.audio import MEDIA_TYPES
from ttsd.controls import Controls
from ttsd.errors import BackendUnavailable, TextError
from ttsd.jobs.model import JobSpec, JobStatus, JobView
from ttsd.jobs.service import JobService

router = APIRouter(tags=["jobs"])

UPLOAD_ERRORS = error_responses(
    {
        413: "Text too long",
        422: "Invalid parameter, voice, text or markup",
        503: "Starting or draining",
        507: "The jobs' disk budget is spent",
    }
)
SUBMIT_ERRORS = {**error_responses({400: "Malformed JSON"}), **UPLOAD_ERRORS}
_NOT_FOUND = error_responses({404: "No such job"})
_CONFLICT = error_responses({409: "The job is not in a state that allows this (the body names its status)"})
_RANGES: dict[int | str, dict[str, Any]] = {
    206: {"description": "The requested byte range (Content-Range)"},
    416: {"description": "The range is past the end of the file"},
}
# Ids are "job_" and 20 hex digits: anything else can never name a job (422, not 404).
JobId = Annotated[str, PathParam(pattern=r"^job_[0-9a-f]{20}$", examples=["job_0123456789abcdef0123"])]


def _jobs(request: Request) -> JobService:
    jobs: JobService | None = request.app.state.service.jobs
    if jobs is None:
        raise HTTPException(404, "long-form jobs are turned off on this server (TTSD_JOBS=false)")
    if jobs.failure is not None:
        raise BackendUnavailable(f"long-form jobs are unavailable: {jobs.failure}")
    return jobs


@router.post("/v1/jobs", status_code=202, response_model=JobJSON, responses=SUBMIT_ERRORS, summary="Submit a job")
async def submit(body: Annotated[JobRequest, Body(openapi_examples=JOB_EXAMPLES)], request: Request) -> JSONResponse:
    """Queue a long text (up to ``TTSD_JOBS_MAX_CHARS``). Every field is checked now; the answer comes at once."""
    view = await _jobs(request).submit(body.source, _spec(body))
    return _accepted(view)


@router.post("/v1/jobs/upload", status_code=202, response_model=JobJSON, responses=UPLOAD_ERRORS)
async def upload(request: Request) -> JSONResponse:
    """Submit a UTF-8 ``.txt`` file as the body (``curl --data-binary @book.txt``); the other fields as query
    parameters (``?voice=zf_xiaobei&response_format=mp3&speed=1.1``)."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise TextError(f"the uploaded text is not UTF-8 (byte {exc.start}); convert it first") from None
    fields: dict[str, Any] = {key: _query_value(value) for key, value in request.query_params.items()}
    try:
        body = JobRequest.model_validate({**fields, "input": text, "text": None})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    return _accepted(await _jobs(request).submit(body.source, _spec(body)))


@router.get("/v1/jobs", response_model=JobList, summary="List jobs, newest first")
async def list_jobs(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: str | None = None,
    status: JobStatus | None = None,
) -> JobList:
    views = await _jobs(request).page(limit=limit + 1, after=after, status=status)
    more = len(views) > limit
    views = views[:limit]
    return JobList(data=[_json(v) for v in views], has_more=more, next_after=views[-1].id if more else None)


@router.get("/v1/jobs/{job_id}", response_model=JobJSON, responses=_NOT_FOUND, summary="A job's state")
async def get_job(job_id: JobId, request: Request) -> JobJSON:
    return _json(await _jobs(request).get(job_id))


@router.get("/v1/jobs/{job_id}/audio", responses={**_NOT_FOUND, **_CONFLICT, **_RANGES})
async def audio(job_id: JobId, request: Request) -> Response:
    """The finished file (409 before the job succeeded). ``Range`` requests are answered with 206."""
    path, view = await _jobs(request).finished_file(job_id, "audio", "")
    fmt = view.spec.format
    name = f"{job_id}.{'wav' if fmt == 'ulaw' else fmt}"
    return FileResponse(path, media_type=MEDIA_TYPES[fmt], filename=name, content_disposition_type="inline")


@router.get("/v1/jobs/{job_id}/subtitles", responses={**_NOT_FOUND, **_CONFLICT})
async def subtitles(
    job_id: JobId, request: Request, format: Literal["srt", "vtt", "chapters"] | None = None
) -> Response:
    """SRT or WebVTT subtitles of the finished audio; ``format=chapters``: the chapter marks as WebVTT."""
    jobs = _jobs(request)
    wanted = format or (await jobs.get(job_id)).spec.subtitles or "vtt"
    path, _ = await jobs.finished_file(job_id, "chapters" if wanted == "chapters" else "subtitles", wanted)
    media = "application/x-subrip" if wanted == "srt" else "text/vtt"
    return Response(path.read_bytes(), media_type=f"{media}; charset=utf-8")


@router.post("/v1/jobs/{job_id}/cancel", response_model=JobJSON, responses={**_NOT_FOUND, **_CONFLICT})
async def cancel(job_id: JobId, request: Request) -> JobJSON:
    """Stop a queued or running job; it stays listed as cancelled (409 when it had already ended)."""
    return _json(await _jobs(request).cancel(job_id))


@router.delete("/v1/jobs/{job_id}", status_code=204, responses=_NOT_FOUND, summary="Cancel and remove a job")
async def remove(job_id: JobId, request: Request) -> Response:
    """Cancels the job if it runs and deletes it with its files; it is unknown (404) from then on."""
    await _jobs(request).remove(job_id)
    return Response(status_code=204)


def _spec(body: JobRequest) -> JobSpec:
    controls = Controls(
        speed=body.speed, pitch=body.pitch, intonation=body.intonation, energy=body.energy,
        variation=body.variation, seed=body.seed, emotion=body.emotion or None,
    )  # fmt: skip
    return JobSpec(
        voice=body.voice, input_type=body.input_type, controls=controls, format=body.response_format,
        sample_rate=body.sample_rate, volume=body.volume, subtitles=body.subtitles, callback_url=body.callback_url,
    )  # fmt: skip


def _accepted(view: JobView) -> JSONResponse:
    body = _json(view).model_dump()
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/jobs/{view.id}"})


def _json(view: JobView) -> JobJSON:
    return JobJSON(
        id=view.id, status=view.status.value, progress=round(view.progress, 4), characters=view.characters,
        characters_done=view.characters_done, sentences=view.parts, sentences_done=view.parts_done,
        audio_seconds=round(view.audio_s, 3), eta_seconds=None if view.eta_s is None else round(view.eta_s, 1),
        created_at=view.created_at, started_at=view.started_at, finished_at=view.finished_at, error=view.error,
        voice=view.spec.voice, response_format=view.spec.format, output_bytes=view.output_bytes,
        chapters=[ChapterJSON(title=c.title, start=c.start_s) for c in view.chapters],
        audio_url=f"/v1/jobs/{view.id}/audio", subtitles_url=f"/v1/jobs/{view.id}/subtitles", worker=view.worker,
    )  # fmt: skip


def _query_value(value: str) -> Any:
    """A query parameter as the JSON value it spells (``1.2``, ``true``), else the string itself."""
    try:
        return json.loads(value)
    except ValueError:
        return value
