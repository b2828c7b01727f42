"""The web page: ``GET /`` (index.html), ``/static/*`` (its assets, package data) and ``/ui/config``.

The page is self-contained (no CDN): it reads limits from ``/ui/config`` and voices from ``/v1/voices``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from ttsd.api.deps import StateDep
from ttsd.api.schemas import Range, UIConfig
from ttsd.audio import FORMATS, SAMPLE_RATES, VOLUME_RANGE
from ttsd.controls import ENERGY_RANGE, INTONATION_RANGE, PITCH_RANGE, SPEED_RANGE

router = APIRouter(tags=["web page"])


def web_dir() -> Path:
    """Where the page's files are installed (``ttsd/web``, package data)."""
    return Path(str(resources.files("ttsd").joinpath("web")))


def static_files() -> StaticFiles:
    return StaticFiles(directory=web_dir())


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(web_dir() / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/ui/config", summary="Limits and options for the web page")
async def ui_config(state: StateDep) -> UIConfig:
    settings = state.settings
    infos = state.engine.voices()
    ranges = {
        "speed": (SPEED_RANGE, 1.0),
        "pitch": (PITCH_RANGE, 0.0),
        "intonation": (INTONATION_RANGE, 1.0),
        "energy": (ENERGY_RANGE, 1.0),
        "volume": (VOLUME_RANGE, 1.0),
    }
    return UIConfig(
        max_text_chars=settings.max_text_chars,
        formats=list(FORMATS),
        sample_rates=list(SAMPLE_RATES),
        voice=state.engine.default_voice or settings.voice,
        sample_rate=infos[0].sample_rate if infos else 0,
        controls={k: Range(min=lo, max=hi, default=d) for k, ((lo, hi), d) in ranges.items()},
        auth_required=settings.api_key is not None,
        jobs_max_chars=state.jobs.config.max_chars if state.jobs is not None and state.jobs.failure is None else 0,
    )
