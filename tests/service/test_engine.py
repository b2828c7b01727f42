"""TTSEngine over the fake voice and the real CpuExecutor: batching, ordering, errors, streaming, cache."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from tests.service.conftest import MakeService
from tests.service.fakes import FakeService, assert_fake_audio, stream_pcm, wait_until
from ttsd.audio import AudioSpec, to_int16
from ttsd.config import BatchConfig
from ttsd.controls import Controls
from ttsd.errors import (
    BackendError,
    DeadlineExceeded,
    QueueFull,
    ShuttingDown,
    TextError,
    TextTooLong,
)
from ttsd.pipeline.admission import AdmissionConfig
from ttsd.pipeline.engine import State
from ttsd.pipeline.request import SynthesisRequest
from ttsd.voices.base import BatchItem
from ttsd.voices.fake import HOP
from ttsd.voices.options import FakeOptions

TEXTS = [
    "今天天气很好。我们去公园散步吧！你觉得怎么样？",
    "第一句话。第二句话比较长一些，对吧？第三句。",
    "你好。",
    "一二三四五六七八九十。十九八七六五四三二一；最后一句",
]


def request(text: str, *, timeout_s: float | None = None, controls: Controls | None = None) -> SynthesisRequest:
    return SynthesisRequest(text=text, controls=controls or Controls(), timeout_s=timeout_s)


async def test_concurrent_requests_get_their_own_audio_in_order(make_service: MakeService) -> None:
    svc = await make_service(faults=FakeOptions(delay_ms_per_batch=5))
    texts = [TEXTS[i % len(TEXTS)] + f"编号{i}。" for i in range(24)]
    results = await asyncio.gather(*(svc.engine.synthesize(request(t)) for t in texts))
    for text, result in zip(texts, results, strict=True):
        assert result.sample_rate == svc.voice.sample_rate
        assert result.sentences == len(svc.utterances(text))
        assert_fake_audio(svc, text, result.audio)
    assert max(len(batch) for batch in svc.voice.batches) > 1, "no batching under load"
    assert max(len(batch) for batch in svc.voice.batches) <= 8


async def test_stream_concatenates_to_synthesize_and_leads(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0)
    svc = await make_service(batch=batch, faults=FakeOptions(delay_ms_per_batch=40))
    text = TEXTS[0] + TEXTS[1]
    n = len(svc.utterances(text))
    chunks = []
    batches_at_first_chunk = -1
    async for chunk in stream_pcm(svc.engine, request(text)):
        if chunk.index == 0:
            batches_at_first_chunk = len(svc.voice.batches)
        chunks.append(chunk)
    assert batches_at_first_chunk < n, "first chunk only came after every sentence was synthesized"
    assert [c.index for c in chunks] == list(range(n))
    streamed = b"".join(c.pcm for c in chunks)
    whole = await svc.engine.synthesize(request(text))
    assert streamed == to_int16(whole.audio).tobytes()
    assert_fake_audio(svc, text, np.concatenate([c.audio for c in chunks]))


async def test_closing_a_stream_cancels_the_rest(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0)
    svc = await make_service(batch=batch, faults=FakeOptions(delay_ms_per_batch=30))
    text = "一。二。三。四。五。六。"
    stream = stream_pcm(svc.engine, request(text))
    first = await anext(stream)
    assert first.index == 0
    await stream.aclose()
    await asyncio.sleep(0.1)
    assert len(svc.voice.batches) < 6
    assert svc.engine.queue_depth == 0


async def test_admission_refuses_at_once_without_losing_others_work(make_service: MakeService) -> None:
    """Past the backlog budget a request is refused before any of its text is processed; admitted work all
    completes, and nothing of a refused request reaches the model."""
    batch = BatchConfig(max_batch_size=2, max_wait_ms=0.0)
    # 1 audio second per model second assumed, and at most 2 s of backlog: about two of these requests.
    admission = AdmissionConfig(max_backlog_s=2.0, initial_rate=1.0)
    svc = await make_service(batch=batch, admission=admission, faults=FakeOptions(delay_ms_per_batch=50))
    texts = [f"第{i}个请求。它有两句。" for i in range(10)]
    outcomes = await asyncio.gather(*(svc.engine.synthesize(request(t)) for t in texts), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, QueueFull)]
    assert refused, "admission never refused"
    assert all(o.retry_after_s >= 1 for o in refused)
    for text, outcome in zip(texts, outcomes, strict=True):
        if not isinstance(outcome, QueueFull):
            assert not isinstance(outcome, BaseException), outcome
            assert_fake_audio(svc, text, outcome.audio)
    ran = {text for batch in svc.voice.batches for text in batch}
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, QueueFull):
            assert f"第{i}个请求。" not in ran, "part of a refused request was synthesized"
    lane, _ = svc.engine.resolve(None)
    assert lane.admission.pending_audio_s == 0  # every ticket released


async def test_a_full_queue_makes_an_admitted_request_wait_not_fail(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0, max_queue=2)
    svc = await make_service(batch=batch, faults=FakeOptions(delay_ms_per_batch=5))
    text = "一。二。三。四。五。六。七。八。"
    result = await svc.engine.synthesize(request(text))
    assert result.sentences == 8
    assert_fake_audio(svc, text, result.audio)


async def test_deadline_exceeded_item_never_runs(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0)
    svc = await make_service(batch=batch, faults=FakeOptions(delay_ms_per_batch=300))
    blocker = asyncio.create_task(svc.engine.synthesize(request("占住执行器。")))
    await wait_until(lambda: len(svc.voice.batches) == 1)
    with pytest.raises(DeadlineExceeded):
        await svc.engine.synthesize(request("来不及了。", timeout_s=0.05))
    await blocker
    assert all("来不及了。" not in b for b in svc.voice.batches)


async def test_cancelling_a_request_removes_its_queued_items(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0)
    svc = await make_service(batch=batch, faults=FakeOptions(delay_ms_per_batch=400))
    blocker = asyncio.create_task(svc.engine.synthesize(request("占住执行器。")))
    await wait_until(lambda: len(svc.voice.batches) == 1)
    victim = asyncio.create_task(svc.engine.synthesize(request("取消我。也取消我。")))
    await wait_until(lambda: svc.engine.queue_depth == 2)
    victim.cancel()
    with pytest.raises(asyncio.CancelledError):
        await victim
    await wait_until(lambda: svc.engine.queue_depth == 0)
    await blocker
    assert svc.voice.batches == [("占住执行器。",)]


async def test_a_bad_sentence_fails_only_its_request(
    make_service: MakeService, caplog: pytest.LogCaptureFixture
) -> None:
    svc = await make_service(faults=FakeOptions(fail_on="坏", delay_ms_per_batch=10))
    texts = ["好的一句。", "这一句是坏的。", "另一句好的。", "还有一句。"]
    with caplog.at_level(logging.ERROR, logger="ttsd.serving.executors"):
        outcomes = await asyncio.gather(*(svc.engine.synthesize(request(t)) for t in texts), return_exceptions=True)
    for text, outcome in zip(texts, outcomes, strict=True):
        if "坏" in text:
            assert isinstance(outcome, BackendError)
            assert "坏" not in outcome.message  # details stay in the log
        else:
            assert not isinstance(outcome, BaseException), outcome
            assert_fake_audio(svc, text, outcome.audio)
    assert "fake voice told to fail" in caplog.text


async def test_cache_serves_repeated_sentences(make_service: MakeService) -> None:
    svc = await make_service(cache_bytes=10_000_000)
    text = TEXTS[1]
    first = await svc.engine.synthesize(request(text))
    runs = len(svc.voice.batches)
    second = await svc.engine.synthesize(request(text))
    assert len(svc.voice.batches) == runs
    assert (first.cached_sentences, second.cached_sentences) == (0, second.sentences)
    np.testing.assert_array_equal(first.audio, second.audio)
    assert svc.metric("ttsd_cache_requests_total", {"result": "hit"}) == second.sentences
    faster = await svc.engine.synthesize(request(text, controls=Controls(speed=2.0)))
    assert faster.cached_sentences == 0  # controls are part of the key
    assert_fake_audio(svc, text, faster.audio, speed=2.0)


async def test_repeated_sentence_in_one_request_runs_once(make_service: MakeService) -> None:
    svc = await make_service()
    text = "同一句。同一句。同一句。"
    result = await svc.engine.synthesize(request(text))
    assert [t for b in svc.voice.batches for t in b] == ["同一句。"]
    assert_fake_audio(svc, text, result.audio)


async def test_validation_happens_before_any_work(make_service: MakeService) -> None:
    svc = await make_service(max_text_chars=10)
    with pytest.raises(TextTooLong) as info:
        await svc.engine.synthesize(request("长" * 11))
    assert (info.value.limit, info.value.length) == (10, 11)
    with pytest.raises(TextTooLong):
        await svc.engine.open_stream(request("长" * 11), AudioSpec(format="pcm"))
    with pytest.raises(TextError):
        await svc.engine.synthesize(request("   "))
    assert svc.voice.batches == []


async def test_not_ready_and_draining_refuse(make_service: MakeService) -> None:
    svc = await make_service(start=False)
    assert svc.engine.health().state is State.STARTING
    with pytest.raises(ShuttingDown, match="starting"):
        await svc.engine.synthesize(request("你好。"))
    await svc.engine.start()
    assert not svc.voice.warmed_up  # tests run without warm-up (make_settings)
    health = svc.engine.health()
    assert (health.state, health.queue_depth, health.device, health.executor) == (State.READY, 0, "cpu", "cpu-thread")


async def test_drain_finishes_queued_work(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0)
    svc = await make_service(batch=batch, faults=FakeOptions(delay_ms_per_batch=20))
    tasks = [asyncio.create_task(svc.engine.synthesize(request(t))) for t in TEXTS]
    total = sum(len(svc.utterances(t)) for t in TEXTS)
    # Every sentence is queued or has started before the drain begins.
    await wait_until(lambda: svc.engine.queue_depth + sum(len(b) for b in svc.voice.batches) == total)
    assert svc.engine.queue_depth > 0
    await svc.engine.drain(timeout_s=10)
    assert svc.engine.health().state is State.STOPPED
    for text, task in zip(TEXTS, tasks, strict=True):
        assert_fake_audio(svc, text, (await task).audio)
    with pytest.raises(ShuttingDown):
        await svc.engine.synthesize(request("太晚了。"))


async def test_drain_finishes_a_stream_whose_later_sentences_were_not_queued(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0)
    svc = await make_service(batch=batch, faults=FakeOptions(delay_ms_per_batch=20))
    text = "".join(f"第{i}句话在关闭时还没有排队。" for i in range(20))
    stream = stream_pcm(svc.engine, request(text))
    chunks = [await anext(stream)]  # the front end has read only a lookahead's worth of the text
    drain = asyncio.create_task(svc.engine.drain(timeout_s=30))
    chunks += [chunk async for chunk in stream]
    await drain
    assert_fake_audio(svc, text, np.concatenate([chunk.audio for chunk in chunks]))


async def test_a_stream_read_slowly_holds_a_bounded_amount_of_audio(
    make_service: MakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ttsd.pipeline.job.STREAM_UNSENT_AUDIO_S", 0.5)  # less than one fake sentence
    svc = await make_service(batch=BatchConfig(max_batch_size=1, max_wait_ms=0.0))
    text = "".join(f"第{i}句话读得很慢。" for i in range(20))
    stream = stream_pcm(svc.engine, request(text))
    chunks = [await anext(stream)]
    await asyncio.sleep(0.3)  # the reader pauses: the producer must not run ahead (the lookahead would allow 8)
    assert len(svc.voice.batches) <= 3
    chunks += [chunk async for chunk in stream]
    assert_fake_audio(svc, text, np.concatenate([chunk.audio for chunk in chunks]))


async def test_drain_timeout_names_the_requests_it_cuts(
    make_service: MakeService, caplog: pytest.LogCaptureFixture
) -> None:
    svc = await make_service(faults=FakeOptions(delay_ms_per_batch=200))
    text = "".join(f"第{i}句话来不及合成。" for i in range(20))
    stream = stream_pcm(svc.engine, SynthesisRequest(text=text, request_id="req-42"))
    await anext(stream)
    with caplog.at_level(logging.WARNING):
        await svc.engine.drain(timeout_s=0.1)
    assert "drain timeout: request req-42 still running; it is cut" in caplog.text
    with pytest.raises(ShuttingDown):
        async for _ in stream:
            pass


async def test_counters_move(fake_service: FakeService) -> None:
    text = TEXTS[0]
    result = await fake_service.engine.synthesize(request(text))
    labels = {"voice": "fake"}
    assert fake_service.metric("ttsd_characters_total", labels) == len(text)
    assert fake_service.metric("ttsd_audio_seconds_total", labels) == pytest.approx(result.duration_s)
    assert fake_service.metric("ttsd_batch_size_count", {"voice": "fake"}) >= 1


async def test_the_event_loop_stays_free_while_a_batch_runs(make_service: MakeService) -> None:
    svc = await make_service(faults=FakeOptions(delay_ms_per_batch=300))
    task = asyncio.create_task(svc.engine.synthesize(request("慢慢来。")))
    await wait_until(lambda: len(svc.voice.batches) == 1)  # the batch is running on the model thread now
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.sleep(0.01)
    assert loop.time() - t0 < 0.2, "the event loop was blocked by the model thread"
    assert svc.engine.health().ready
    assert not task.done()
    await task


async def test_the_fake_voice_contract(make_service: MakeService) -> None:
    svc = await make_service(max_phonemes=20, start=False)
    voice = svc.voice
    utterances = svc.utterances("你好，世界。" + "长" * 30 + "。")
    assert utterances == svc.utterances("你好，世界。" + "长" * 30 + "。")
    assert all(len(u.ids) <= 20 for u in utterances)  # cut to the voice's budget
    assert len(utterances) >= 3
    out = voice.run_batch([BatchItem(utterance=u) for u in utterances])
    frames = [voice.estimate_frames(u, Controls()) for u in utterances]
    assert [len(w) for w in out.waveforms] == [n * HOP for n in frames]
    assert [int(d.sum()) for d in out.durations] == [len(w) for w in out.waveforms]
    assert out.padded_frames == max(frames) * len(utterances)
    assert voice.batches == [tuple(u.text for u in utterances)]


async def test_a_streams_first_chunk_comes_from_a_batch_of_its_head_alone(make_service: MakeService) -> None:
    """Sentences of similar length share a bucket; the head must not wait for (or ride with) the others."""
    batch = BatchConfig(max_batch_size=8, max_wait_ms=20.0, max_batch_frames=100_000)
    svc = await make_service(batch=batch, faults=FakeOptions(delay_ms_per_batch=20))
    text = "一二三四五。六七八九十。十一十二十三。二十二十一。"
    heads = [u.text for u in svc.utterances(text)]
    assert len(heads) == 4
    batches_at_first_chunk = -1
    chunks = []
    async for chunk in stream_pcm(svc.engine, request(text)):
        if chunk.index == 0:
            batches_at_first_chunk = len(svc.voice.batches)
        chunks.append(chunk)
    assert batches_at_first_chunk == 1
    assert svc.voice.batches == [(heads[0],), tuple(heads[1:])]  # the rest is still batched together
    assert_fake_audio(svc, text, np.concatenate([c.audio for c in chunks]))


async def test_synthesize_does_not_split_off_its_first_sentence(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=8, max_wait_ms=20.0, max_batch_frames=100_000)
    svc = await make_service(batch=batch)
    text = "一二三四五。六七八九十。十一十二十三。"
    await svc.engine.synthesize(request(text))
    assert svc.voice.batches == [tuple(u.text for u in svc.utterances(text))]


async def test_a_short_request_overtakes_queued_long_sentences(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0, max_batch_frames=100_000)
    svc = await make_service(batch=batch, faults=FakeOptions(delay_ms_per_batch=30))
    blocker = asyncio.create_task(svc.engine.synthesize(request("占住执行器。")))
    await wait_until(lambda: len(svc.voice.batches) == 1)
    long_text = "".join(f"这是第{n}个相当长的句子，用来占据队列很久很久。" for n in "一二三")
    long_task = asyncio.create_task(svc.engine.synthesize(request(long_text)))
    await wait_until(lambda: svc.engine.queue_depth == 3)
    short = await svc.engine.synthesize(request("你好。"))
    assert short.sentences == 1
    # The short request ran right after the batch that was running when it arrived.
    assert svc.voice.batches[1] == ("你好。",)
    await asyncio.gather(blocker, long_task)
    assert len(svc.voice.batches) == 5
