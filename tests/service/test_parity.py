"""One pipeline: the Python API (``ttsd synth``, ``ttsd bench``, notebooks) and the server give the same audio
for the same SSML, on the fake voices (the real voices: tests/integration/test_pipeline_parity.py)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.service.conftest import MakeService
from ttsd.audio import AudioSpec
from ttsd.errors import UnknownVoice
from ttsd.pipeline.local import Synthesizer
from ttsd.pipeline.request import SynthesisRequest
from ttsd.text.plain import PlainFrontend

MARKUP = (
    "<speak>第一句，正常地读。"
    '<prosody rate="150%" pitch="+2st" volume="-6dB">第二句快一点，轻一点。</prosody>'
    '<break time="300ms"/>'
    '<voice name="other">第三句换一个声音。</voice>'
    "最后一句。</speak>"
)


async def test_the_python_api_gives_the_servers_audio_for_the_same_ssml(make_service: MakeService) -> None:
    svc = await make_service(families=("fake", "other"))
    served = await svc.engine.synthesize(SynthesisRequest(text=MARKUP, input_type="ssml"))
    families = {voice.info.name: voice for voice in svc.voices}
    local = Synthesizer(voice=families["fake"], frontend=PlainFrontend(), load=families.__getitem__)
    speech = await asyncio.to_thread(local.synthesize, MARKUP, input_type="ssml")
    assert speech.sample_rate == served.sample_rate
    np.testing.assert_array_equal(speech.audio, served.audio)
    assert speech.timestamps == served.timestamps
    assert speech.sentences == served.sentences
    assert [t for b in svc.voices[1].batches for t in b] == ["第三句换一个声音。"] * 2  # the server's, then ours
    rate = served.sample_rate

    def peak(text: str) -> float:
        stamp = next(t for t in served.timestamps if t.text == text)
        return float(np.abs(served.audio[int(stamp.start * rate) : int(stamp.end * rate)]).max())

    assert peak("快") / peak("正") == pytest.approx(10 ** (-6 / 20), rel=0.05)  # the volume gain is applied


async def test_the_streamed_route_gives_the_same_audio_too(make_service: MakeService) -> None:
    svc = await make_service(families=("fake", "other"))
    whole = await svc.engine.synthesize(SynthesisRequest(text=MARKUP, input_type="ssml"))
    opened = await svc.engine.open_stream(SynthesisRequest(text=MARKUP, input_type="ssml"), AudioSpec(format="pcm"))
    pcm = b"".join([chunk.data async for chunk in opened.chunks])
    from ttsd.audio import to_int16

    assert pcm == to_int16(whole.audio).tobytes()


def test_a_switch_to_a_family_not_loaded_is_refused_clearly() -> None:
    from ttsd.voices.fake import FakeVoice
    from ttsd.voices.options import VoiceOptions

    local = Synthesizer(voice=FakeVoice(options=VoiceOptions()), frontend=PlainFrontend())
    with pytest.raises(UnknownVoice, match=r"zf_xiaobei.*not a voice of the fake family.*load_voice"):
        local.synthesize('<speak>你好<voice name="zf_xiaobei">再见</voice></speak>', input_type="ssml")
    with pytest.raises(UnknownVoice, match="nobody"):
        local.synthesize('<speak>你好<voice name="nobody">再见</voice></speak>', input_type="ssml")
    assert local.synthesize("<speak>你好</speak>", input_type="auto").sentences == 1
