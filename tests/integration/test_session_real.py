"""A text-in session on the real Baker voice and the Mandarin front end: text written a few characters at a time
gives the same audio (duration within 2%) as the whole text sent at once."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ttsd.audio import AudioSpec
from ttsd.metrics import Metrics
from ttsd.pipeline.engine import EngineConfig, TTSEngine
from ttsd.pipeline.lane import LoadedVoice
from ttsd.pipeline.request import SynthesisRequest
from ttsd.pipeline.session import SessionAudio, SessionConfig
from ttsd.serving.executors import make_executor
from ttsd.text.frontend import TextFrontend

if TYPE_CHECKING:
    from ttsd.voices.baker.voice import BakerVoice

pytestmark = pytest.mark.integration

TEXT = (
    "您好，欢迎致电客服中心。您的验证码是382915，请在5分钟内输入；如果没有收到，请回复“重发”。"
    "本次订单金额为2.5元，预计明天下午3:30送达。GPU服务器的问题我们已经记录，谢谢您的耐心！"
)


async def test_a_baker_session_sounds_like_the_whole_text(voice: BakerVoice) -> None:
    loaded = [LoadedVoice(voice=voice, executor=make_executor("cpu", voice, watchdog_s=600))]
    engine = TTSEngine(
        config=EngineConfig(warmup=False), metrics=Metrics(), frontend=TextFrontend(), load=lambda: loaded
    )
    await engine.start()
    try:
        whole = await engine.synthesize(SynthesisRequest(text=TEXT))
        session = engine.open_session(SessionConfig(spec=AudioSpec(format="pcm")))
        streamed = bytearray()

        async def read() -> None:
            async for event in session.output():
                if isinstance(event, SessionAudio):
                    streamed.extend(event.data)

        reader = asyncio.create_task(read())
        for i in range(0, len(TEXT), 3):
            await session.feed(TEXT[i : i + 3])
        session.end()
        await reader
        session.close()
    finally:
        await engine.drain(timeout_s=5)
    samples = np.frombuffer(bytes(streamed), dtype=np.int16)
    print(f"\nsession {len(samples)} samples, whole text {len(whole.audio)} ({len(samples) / len(whole.audio):.4f})")
    assert len(samples) == pytest.approx(len(whole.audio), rel=0.02)
