"""The engine's one-owner decisions on the fake voices: the front-end stage, timing, voices, admission, faults."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from tests.service.conftest import MakeService
from tests.service.fakes import assert_fake_audio, stream_pcm, wait_until
from ttsd.config import BatchConfig
from ttsd.controls import Controls
from ttsd.errors import BackendDead, DeadlineExceeded, InvalidControl, ShuttingDown, UnknownVoice
from ttsd.pipeline.engine import State
from ttsd.pipeline.request import SynthesisRequest
from ttsd.text.plain import PlainFrontend
from ttsd.text.types import Budgets, Segment, Sentence
from ttsd.voices.fake import SAMPLE_RATE, id_samples
from ttsd.voices.options import FakeOptions


def request(text: str, **kwargs: object) -> SynthesisRequest:
    return SynthesisRequest(text=text, **kwargs)  # type: ignore[arg-type]


async def test_timestamps_are_exact_on_the_fake_voice(make_service: MakeService) -> None:
    svc = await make_service()
    text = "你好，世界。再见！"
    result = await svc.engine.synthesize(request(text))
    spoken = [t for t in result.timestamps if t.end > t.start]
    assert "".join(t.text for t in spoken) == text  # the fake voice gives punctuation an id (and time) too
    # Known durations: every id of the fake voice lasts FRAMES_PER_ID frames; pauses come between sentences.
    utterances = svc.utterances(text)
    expected: list[tuple[str, float, float]] = []
    offset = 0
    for k, utt in enumerate(utterances):
        edges = np.concatenate([[0], np.cumsum(id_samples(utt))])
        assert utt.sentence is not None
        for token, (a, b) in zip(utt.sentence.tokens, utt.spans, strict=True):
            if b > a:
                expected.append((token.text, (offset + edges[a]) / SAMPLE_RATE, (offset + edges[b]) / SAMPLE_RATE))
        offset += int(edges[-1]) + (round(utt.pause_after_s * SAMPLE_RATE) if k < len(utterances) - 1 else 0)
    assert [t.text for t in spoken] == [e[0] for e in expected]
    assert [(t.start, t.end) for t in spoken] == [pytest.approx((e[1], e[2])) for e in expected]
    assert result.timestamps[-1].end <= result.duration_s
    eos_s = id_samples(utterances[-1])[-1] / SAMPLE_RATE  # the fake voice's eos id takes time but shows no text
    assert result.timestamps[-1].end == pytest.approx(result.duration_s - eos_s)


@pytest.mark.parametrize("speed", [0.5, 2.0])
async def test_timestamps_scale_with_speed(make_service: MakeService, speed: float) -> None:
    svc = await make_service()
    base = await svc.engine.synthesize(request("今天天气很好"))
    scaled = await svc.engine.synthesize(request("今天天气很好", controls=Controls(speed=speed)))
    assert scaled.timestamps[-1].end == pytest.approx(base.timestamps[-1].end / speed, rel=0.05)
    starts = [t.start for t in scaled.timestamps]
    assert starts == sorted(starts)


async def test_streamed_timestamps_match_the_whole_response(make_service: MakeService) -> None:
    svc = await make_service()
    text = "第一句。第二句，还有。第三句！"
    whole = await svc.engine.synthesize(request(text))
    streamed = [t async for chunk in stream_pcm(svc.engine, request(text)) for t in chunk.timestamps]
    assert streamed == whole.timestamps


async def test_the_frame_cap_holds_at_any_speed(make_service: MakeService) -> None:
    """At speed 0.25 a sentence makes 4x the frames: the batch cap must see that before batching."""
    batch = BatchConfig(max_batch_size=16, max_wait_ms=50.0, max_batch_frames=400)
    svc = await make_service(batch=batch)
    texts = [f"第{n}句话。" for n in "一二三四五六七八"]  # 6 ids each: 30 frames at speed 1, 120 at 0.25
    await asyncio.gather(*(svc.engine.synthesize(request(t, controls=Controls(speed=0.25))) for t in texts))
    for items in svc.voice.batches:
        assert len(items) * 120 <= 400, f"batch of {len(items)} at speed 0.25 is over the frame cap"


async def test_controls_are_validated_before_anything_is_queued(make_service: MakeService) -> None:
    svc = await make_service()
    with pytest.raises(InvalidControl, match="emotion"):
        await svc.engine.synthesize(request("你好。", controls=Controls(emotion="happy")))
    with pytest.raises(UnknownVoice):
        await svc.engine.synthesize(request("你好。", voice="nobody"))
    assert svc.voice.batches == []


async def test_two_voices_are_routed_and_never_batched_together(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=16, max_wait_ms=30.0)
    svc = await make_service(batch=batch, families=("fake", "other"))
    fake, other = svc.voices
    texts = [f"请求{n}。" for n in range(6)]
    results = await asyncio.gather(
        *(svc.engine.synthesize(request(t, voice="other" if i % 2 else None)) for i, t in enumerate(texts))
    )
    assert [r.voice for r in results] == ["fake", "other"] * 3
    assert {t for b in fake.batches for t in b} == {texts[i] for i in (0, 2, 4)}
    assert {t for b in other.batches for t in b} == {texts[i] for i in (1, 3, 5)}
    for text, result in zip(texts, results, strict=True):
        assert_fake_audio(svc, text, result.audio)
    assert svc.engine.resolve("alloy")[0].name == "fake"  # OpenAI voice names mean the default voice


async def test_a_slow_voice_does_not_hold_up_another(make_service: MakeService) -> None:
    svc = await make_service(families=("fake", "slow"), faults=FakeOptions(delay_ms_per_batch=300))
    slow = asyncio.create_task(svc.engine.synthesize(request("慢。慢。慢。", voice="slow")))
    await wait_until(lambda: len(svc.voices[1].batches) == 1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await svc.engine.synthesize(request("快。"))  # the fake lane has its own thread: one batch, not three
    assert loop.time() - t0 < 0.9
    await slow


class _SlowFrontend(PlainFrontend):
    """The plain front end, taking ``per_sentence_s`` per sentence (a stand-in for normalization)."""

    def __init__(self, per_sentence_s: float) -> None:
        self.per_sentence_s = per_sentence_s
        self.produced: list[float] = []
        self.lock = threading.Lock()

    def sentences(self, source: str | Sequence[Segment], *, budget: Budgets) -> Iterator[Sentence]:
        inner = super().sentences(source, budget=budget)

        def slowly() -> Iterator[Sentence]:
            for sentence in inner:
                time.sleep(self.per_sentence_s)
                with self.lock:
                    self.produced.append(time.monotonic())
                yield sentence

        return slowly()


async def test_the_first_audio_does_not_wait_for_the_last_sentence(make_service: MakeService) -> None:
    svc = await make_service()
    frontend = _SlowFrontend(per_sentence_s=0.05)
    svc.engine._frontend = frontend  # the stage under test; everything else is the real engine
    text = "。".join(f"第{n}句" for n in range(20)) + "。"
    stream = stream_pcm(svc.engine, request(text))
    first = await anext(stream)
    first_at = time.monotonic()
    assert first.index == 0
    assert len(frontend.produced) < 20, "the first chunk waited for the whole text's front end"
    rest = [chunk async for chunk in stream]
    assert len(rest) == 19
    assert frontend.produced[-1] > first_at


async def test_a_short_request_waits_at_most_one_sentence_behind_a_long_text(make_service: MakeService) -> None:
    svc = await make_service()
    frontend = _SlowFrontend(per_sentence_s=0.05)
    svc.engine._frontend = frontend
    long_task = asyncio.create_task(svc.engine.synthesize(request("。".join(["很长的文本"] * 40) + "。")))
    await wait_until(lambda: len(frontend.produced) >= 2)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await svc.engine.synthesize(request("你好。"))
    assert loop.time() - t0 < 0.05 * 2 + 0.1  # its own sentence plus at most one of the long text's
    long_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long_task


async def test_the_deadline_covers_the_front_end(make_service: MakeService) -> None:
    svc = await make_service()
    svc.engine._frontend = _SlowFrontend(per_sentence_s=0.05)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(DeadlineExceeded):
        await svc.engine.synthesize(request("。".join(["句子"] * 200) + "。", timeout_s=0.3))
    assert loop.time() - t0 < 0.3 + 0.2


async def test_a_hung_model_fails_the_engine_and_every_request_gets_an_error(make_service: MakeService) -> None:
    svc = await make_service(batch_watchdog_s=0.3, faults=FakeOptions(hang_on="卡", hang_s=3.0))
    outcomes = await asyncio.gather(
        svc.engine.synthesize(request("卡住。")), svc.engine.synthesize(request("排队的。")), return_exceptions=True
    )
    assert all(isinstance(o, BackendDead) for o in outcomes), outcomes
    assert svc.engine.state is State.FAILED
    with pytest.raises(ShuttingDown, match="failed"):
        await svc.engine.synthesize(request("之后。"))


async def test_a_500_ms_break_lands_within_10_ms(make_service: MakeService) -> None:
    svc = await make_service()
    markup = '<speak>你好<break time="500ms"/>世界</speak>'
    result = await svc.engine.synthesize(request(markup, input_type="auto"))
    by_text = {t.text: t for t in result.timestamps}
    gap = by_text["世"].start - by_text["好"].end
    eos_s = 5 * 300 / SAMPLE_RATE  # the fake voice's eos id closes the first sentence
    assert abs(gap - eos_s - 0.5) <= 0.01


async def test_prosody_inside_a_sentence_splits_it_and_applies(make_service: MakeService) -> None:
    svc = await make_service()
    markup = '<speak>正常<prosody rate="200%" volume="+6dB">快一点</prosody>再正常</speak>'
    result = await svc.engine.synthesize(request(markup, input_type="ssml"))
    assert result.sentences == 3
    spans = {t.text: t.end - t.start for t in result.timestamps}
    assert spans["快"] == pytest.approx(spans["正"] / 2, rel=0.25)  # rate 2x: half the time per character


async def test_ssml_voice_switches_lanes_mid_document(make_service: MakeService) -> None:
    svc = await make_service(families=("fake", "other"))
    markup = '<speak>第一个声音。<voice name="other">第二个声音。</voice></speak>'
    await svc.engine.synthesize(request(markup, input_type="ssml"))
    assert [t for b in svc.voices[0].batches for t in b] == ["第一个声音。"]
    assert [t for b in svc.voices[1].batches for t in b] == ["第二个声音。"]


async def test_a_streams_deadline_bounds_progress_not_the_whole_stream(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0)
    svc = await make_service(batch=batch, faults=FakeOptions(delay_ms_per_batch=100))
    text = "。".join(f"第{n}句" for n in range(8)) + "。"  # about 0.8 s of model time, deadline 0.4 s
    chunks = [chunk async for chunk in stream_pcm(svc.engine, request(text, timeout_s=0.4))]
    assert len(chunks) == 8
    other = text.replace("句", "段")  # not in the sentence cache
    with pytest.raises(DeadlineExceeded):  # a whole answer is bounded as a whole
        await svc.engine.synthesize(request(other, timeout_s=0.4))
