"""``GET /v1/voices`` and ``GET /v1/models``: what this server can speak with."""

from __future__ import annotations

from fastapi import APIRouter

from ttsd.api.deps import StateDep
from ttsd.api.schemas import OPENAI_MODELS, OPENAI_VOICES, ModelCard, ModelList, VoiceCard, VoiceList
from ttsd.errors import ShuttingDown

router = APIRouter(tags=["voices"])


@router.get("/v1/voices", summary="Voices of the loaded backend")
async def voices(state: StateDep) -> VoiceList:
    """The loaded voice (the default) and its speakers; OpenAI voice names are aliases of the default."""
    if state.engine is None:
        raise ShuttingDown("the service is starting; retry shortly")
    info = state.engine.info
    card = VoiceCard(
        id=info.name,
        name=info.name,
        language=info.language,
        sample_rate=info.sample_rate,
        description=info.description,
        speakers=list(info.speakers),
        emotions=list(info.emotions),
        default=True,
        aliases=list(OPENAI_VOICES),
    )
    return VoiceList(data=[card])


@router.get("/v1/models", summary="Model names accepted by /v1/audio/speech")
async def models(state: StateDep) -> ModelList:
    """All names synthesize with the loaded voice; ``ttsd`` is this server's own name."""
    voice = state.engine.info.name if state.engine is not None else state.settings.voice
    names = ["ttsd", f"ttsd-{voice}", *OPENAI_MODELS]
    return ModelList(data=[ModelCard(id=name) for name in names])
