"""``GET /v1/voices`` and ``GET /v1/models``: what this server can speak with."""

from __future__ import annotations

from fastapi import APIRouter

from ttsd.api.deps import EngineDep
from ttsd.api.schemas import OPENAI_MODELS, ModelCard, ModelList, VoiceCard, VoiceList
from ttsd.errors import ShuttingDown
from ttsd.pipeline.engine import TTSEngine
from ttsd.pipeline.plan import OPENAI_VOICES
from ttsd.voices.base import VoiceInfo

router = APIRouter(tags=["voices"])


@router.get("/v1/voices", summary="Every voice this server speaks with")
async def voices(engine: EngineDep) -> VoiceList:
    """One card per voice (a multi-speaker family lists each speaker); OpenAI voice names are aliases of the
    default voice."""
    infos = engine.voices()
    if not infos:
        raise ShuttingDown("the service is starting; retry shortly")
    cards = [card for info in infos for card in _cards(info, engine)]
    return VoiceList(data=cards)


@router.get("/v1/models", summary="Model names accepted by /v1/audio/speech")
async def models(engine: EngineDep) -> ModelList:
    """All names synthesize with the requested voice; ``ttsd`` is this server's own name."""
    families = [info.name for info in engine.voices()]
    names = ["ttsd", *(f"ttsd-{name}" for name in families), *OPENAI_MODELS]
    return ModelList(data=[ModelCard(id=name) for name in names])


def _cards(info: VoiceInfo, engine: TTSEngine) -> list[VoiceCard]:
    default = engine.default_voice
    if not info.speakers or info.backend == "modelscope":
        return [_card(info, info.name, info.gender, default=default == info.name)]
    genders = info.speaker_genders or ("",) * len(info.speakers)
    return [
        _card(info, speaker, gender, default=default == speaker or (default == info.name and index == 0))
        for index, (speaker, gender) in enumerate(zip(info.speakers, genders, strict=True))
    ]


def _card(info: VoiceInfo, name: str, gender: str, *, default: bool) -> VoiceCard:
    return VoiceCard(
        id=name,
        name=name,
        family=info.name,
        gender=gender or info.gender,
        language=info.language,
        sample_rate=info.sample_rate,
        licence=info.licence,
        backend=info.backend,
        description=info.description,
        speakers=list(info.speakers) if info.backend == "modelscope" else [],
        emotions=list(info.emotions),
        default=default,
        aliases=list(OPENAI_VOICES) if default else [],
        speed_range=info.speed_range,
    )
