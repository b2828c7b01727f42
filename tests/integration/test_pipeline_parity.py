"""One pipeline on the real voices: the Python API (what ``ttsd synth`` runs) and the server give the same audio
for SSML with prosody, a break and a switch from Baker to Kokoro; a long section in another family is cut to that
family's own budget and spoken whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ttsd.config import BatchConfig
from ttsd.errors import AssetError
from ttsd.metrics import Metrics
from ttsd.pipeline.engine import EngineConfig, TTSEngine
from ttsd.pipeline.lane import LoadedVoice
from ttsd.pipeline.local import Synthesizer
from ttsd.pipeline.request import SynthesisRequest
from ttsd.serving.executors import make_executor
from ttsd.voices.base import Voice

if TYPE_CHECKING:
    from ttsd.voices.baker.voice import BakerVoice

pytestmark = pytest.mark.integration

MARKUP = (
    "<speak>您好，欢迎致电客服中心。"
    '<prosody rate="120%" pitch="+2st" volume="-3dB">您的验证码是382915。</prosody>'
    '<break time="400ms"/>'
    '<voice name="zf_xiaobei">请在5分钟内输入。</voice>'
    "谢谢。</speak>"
)
UNPUNCTUATED = "今天天气很好我们一起去公园散步" * 80  # 1,200 characters, no punctuation at all


@pytest.fixture(scope="module")
def kokoro() -> Voice:
    from ttsd.voices.kokoro.voice import load
    from ttsd.voices.options import VoiceOptions

    try:
        return load(VoiceOptions(threads=2))
    except AssetError as exc:
        pytest.skip(f"Kokoro assets not installed (scripts/install.sh --kokoro-only): {exc}")


@pytest.fixture
async def engine(voice: BakerVoice, kokoro: Voice, synthesizer: Synthesizer) -> AsyncIterator[TTSEngine]:
    """The server's engine over the same two voices and front end, Baker the default."""
    config = EngineConfig(warmup=False, batch=BatchConfig(max_wait_ms=0.0), max_text_chars=5000, request_timeout_s=1800)
    loaded = [LoadedVoice(voice=v, executor=make_executor("cpu", v)) for v in (voice, kokoro)]
    served = TTSEngine(config=config, metrics=Metrics(), frontend=synthesizer.frontend, load=lambda: loaded)
    await served.start()
    yield served
    await served.drain(timeout_s=10.0)


async def test_the_python_api_and_the_server_agree_on_ssml(
    engine: TTSEngine, voice: BakerVoice, kokoro: Voice, synthesizer: Synthesizer
) -> None:
    served = await engine.synthesize(SynthesisRequest(text=MARKUP, input_type="ssml"))
    local = Synthesizer(voice=voice, frontend=synthesizer.frontend, load=lambda _: kokoro)
    speech = local.synthesize(MARKUP, input_type="ssml")
    assert speech.sample_rate == served.sample_rate == 24_000
    assert abs(speech.duration_s - served.duration_s) <= 0.020
    n = min(len(speech.audio), len(served.audio))
    correlation = float(np.corrcoef(speech.audio[:n], served.audio[:n])[0, 1])
    assert correlation >= 0.98, correlation
    assert [t.text for t in speech.timestamps] == [t.text for t in served.timestamps]


def test_a_long_unpunctuated_section_in_kokoro_under_baker_is_cut_to_kokoros_budget(
    voice: BakerVoice, kokoro: Voice, synthesizer: Synthesizer
) -> None:
    """Every one of the 1,200 characters reaches Kokoro, in pieces within Kokoro's own budget (not Baker's),
    each encoded whole: nothing can be truncated."""
    from ttsd.pipeline.plan import VoiceTable, plan_request, prepare, read_script
    from ttsd.voices.base import budget_for

    table = VoiceTable([voice, kokoro])
    plan = plan_request(SynthesisRequest(text=_long_markup(), input_type="ssml"), table, max_text_chars=5000)
    script = read_script(plan, table)
    prepared = [prepare(s, script) for s in synthesizer.frontend.sentences(script.source, budget=script.budgets)]
    theirs = [p for p in prepared if p.section.family == "kokoro"]
    assert "".join(t.text for p in theirs for t in p.utterance.sentence.tokens) == UNPUNCTUATED  # type: ignore[union-attr]
    limit = budget_for(kokoro, 1.0).limit  # the request's speed: no <prosody rate> slows this section
    assert all(len(p.utterance.ids) <= limit for p in theirs)
    assert max(len(p.utterance.ids) for p in theirs) > voice.budget.limit  # cut to Kokoro's budget, not Baker's
    assert all(p.utterance.spans[-1][1] <= len(p.utterance.ids) for p in theirs)


@pytest.mark.slow  # about 250 s of Kokoro audio: minutes of CPU
@pytest.mark.timeout(1800)
async def test_a_long_unpunctuated_section_in_kokoro_under_baker_is_spoken_whole(engine: TTSEngine) -> None:
    """Through the server's engine, every character of the 1,200 gets its audio."""
    result = await engine.synthesize(SynthesisRequest(text=_long_markup(), input_type="ssml", timeout_s=1800))
    assert "".join(t.text for t in result.timestamps) == "开始。" + UNPUNCTUATED
    assert all(t.end > t.start for t in result.timestamps if t.text in UNPUNCTUATED)
    assert result.duration_s > len(UNPUNCTUATED) / 10  # at most 10 characters a second: nothing was dropped
    assert result.timestamps[-1].end <= result.duration_s


def _long_markup() -> str:
    return f'<speak>开始。<voice name="zf_xiaobei">{UNPUNCTUATED}</voice></speak>'
