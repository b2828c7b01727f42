"""TTSEngine over the fake voice and the real SerialExecutor: batching, ordering, errors, streaming, cache."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest
from engine_helpers import FakeService, MakeService, assert_fake_audio, wait_until

from ttsd.config import BatchConfig, Settings
from ttsd.engine import SynthesisRequest, TTSEngine, build_engine, resolve_precision
from ttsd.errors import (
    BackendError,
    BackendUnavailable,
    DeadlineExceeded,
    QueueFull,
    ShuttingDown,
    TextError,
    TextTooLong,
)
from ttsd.metrics import Metrics
from ttsd.voices.base import BatchItem, Controls
from ttsd.voices.fake import HOP, FakeVoice
from ttsd.voices.registry import load_voice

TEXTS = [
    "今天天气很好。我们去公园散步吧！你觉得怎么样？",
    "第一句话。第二句话比较长一些，对吧？第三句。",
    "你好。",
    "一二三四五六七八九十。十九八七六五四三二一；最后一句",
]


def request(text: str, *, timeout_s: float | None = None, controls: Controls | None = None) -> SynthesisRequest:
    return SynthesisRequest(text=text, controls=controls or Controls(), timeout_s=timeout_s)


async def test_concurrent_requests_get_their_own_audio_in_order(make_service: MakeService) -> None:
    svc = await make_service(delay_ms_per_batch="5")
    texts = [TEXTS[i % len(TEXTS)] + f"编号{i}。" for i in range(24)]
    results = await asyncio.gather(*(svc.engine.synthesize(request(t)) for t in texts))
    for text, result in zip(texts, results, strict=True):
        assert result.sample_rate == svc.voice.sample_rate
        assert result.sentences == len(svc.voice.frontend(text))
        assert_fake_audio(svc.voice, text, result.audio)
    assert max(len(batch) for batch in svc.voice.batches) > 1, "no batching under load"
    assert max(len(batch) for batch in svc.voice.batches) <= 8


async def test_stream_concatenates_to_synthesize_and_leads(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0)
    svc = await make_service(batch=batch, delay_ms_per_batch="40")
    text = TEXTS[0] + TEXTS[1]
    n = len(svc.voice.frontend(text))
    chunks = []
    batches_at_first_chunk = -1
    async for chunk in svc.engine.stream(request(text)):
        if chunk.index == 0:
            batches_at_first_chunk = len(svc.voice.batches)
        chunks.append(chunk)
    assert batches_at_first_chunk < n, "first chunk only came after every sentence was synthesized"
    assert [c.index for c in chunks] == list(range(n))
    assert [c.last for c in chunks] == [False] * (n - 1) + [True]
    streamed = np.concatenate([c.audio for c in chunks])
    whole = await svc.engine.synthesize(request(text))
    np.testing.assert_array_equal(streamed, whole.audio)
    assert_fake_audio(svc.voice, text, streamed)


async def test_closing_a_stream_cancels_the_rest(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0)
    svc = await make_service(batch=batch, delay_ms_per_batch="30")
    text = "一。二。三。四。五。六。"
    stream = svc.engine.stream(request(text))
    first = await anext(stream)
    assert first.index == 0
    await stream.aclose()
    await asyncio.sleep(0.1)
    assert len(svc.voice.batches) < 6
    assert svc.engine.queue_depth == 0
    assert svc.metric("ttsd_rejected_total", {"reason": "cancelled"}) == 1


async def test_queue_full_refuses_without_losing_others_work(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=2, max_wait_ms=0.0, max_queue=6)
    svc = await make_service(batch=batch, delay_ms_per_batch="50")
    texts = [f"第{i}个请求。它有两句。" for i in range(10)]
    outcomes = await asyncio.gather(*(svc.engine.synthesize(request(t)) for t in texts), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, QueueFull)]
    assert refused, "the queue bound never triggered"
    for text, outcome in zip(texts, outcomes, strict=True):
        if not isinstance(outcome, QueueFull):
            assert not isinstance(outcome, BaseException), outcome
            assert_fake_audio(svc.voice, text, outcome.audio)
    ran = {text for batch in svc.voice.batches for text in batch}
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, QueueFull):
            assert f"第{i}个请求。" not in ran, "part of a refused request was synthesized"
    assert svc.metric("ttsd_rejected_total", {"reason": "queue_full"}) == len(refused)


async def test_deadline_exceeded_item_never_runs(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0)
    svc = await make_service(batch=batch, delay_ms_per_batch="300")
    blocker = asyncio.create_task(svc.engine.synthesize(request("占住执行器。")))
    await wait_until(lambda: len(svc.voice.batches) == 1)
    with pytest.raises(DeadlineExceeded):
        await svc.engine.synthesize(request("来不及了。", timeout_s=0.05))
    await blocker
    assert all("来不及了。" not in b for b in svc.voice.batches)
    assert svc.metric("ttsd_rejected_total", {"reason": "timeout"}) == 1


async def test_cancelling_a_request_removes_its_queued_items(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0)
    svc = await make_service(batch=batch, delay_ms_per_batch="400")
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
    assert svc.metric("ttsd_rejected_total", {"reason": "cancelled"}) == 1


async def test_a_bad_sentence_fails_only_its_request(
    make_service: MakeService, caplog: pytest.LogCaptureFixture
) -> None:
    svc = await make_service(fail_on="坏", delay_ms_per_batch="10")
    texts = ["好的一句。", "这一句是坏的。", "另一句好的。", "还有一句。"]
    with caplog.at_level(logging.ERROR, logger="ttsd.serving.executors"):
        outcomes = await asyncio.gather(*(svc.engine.synthesize(request(t)) for t in texts), return_exceptions=True)
    for text, outcome in zip(texts, outcomes, strict=True):
        if "坏" in text:
            assert isinstance(outcome, BackendError)
            assert "坏" not in outcome.message  # details stay in the log
        else:
            assert not isinstance(outcome, BaseException), outcome
            assert_fake_audio(svc.voice, text, outcome.audio)
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
    assert_fake_audio(svc.voice, text, faster.audio, speed=2.0)


async def test_repeated_sentence_in_one_request_runs_once(make_service: MakeService) -> None:
    svc = await make_service()
    text = "同一句。同一句。同一句。"
    result = await svc.engine.synthesize(request(text))
    assert [t for b in svc.voice.batches for t in b] == ["同一句。"]
    assert_fake_audio(svc.voice, text, result.audio)


async def test_validation_happens_before_any_work(make_service: MakeService) -> None:
    svc = await make_service(max_text_chars=10)
    with pytest.raises(TextTooLong) as info:
        await svc.engine.synthesize(request("长" * 11))
    assert (info.value.limit, info.value.length) == (10, 11)
    with pytest.raises(TextTooLong):
        svc.engine.stream(request("长" * 11))
    with pytest.raises(TextError):
        await svc.engine.synthesize(request("   "))
    assert svc.voice.batches == []


async def test_not_ready_and_draining_refuse(make_service: MakeService) -> None:
    svc = await make_service(start=False)
    assert not svc.engine.health().ready
    with pytest.raises(ShuttingDown):
        await svc.engine.synthesize(request("你好。"))
    await svc.engine.start()
    assert svc.voice.warmed_up
    health = svc.engine.health()
    assert (health.ready, health.draining, health.queue_depth, health.device, health.executor) == (
        True,
        False,
        0,
        "cpu",
        "serial",
    )


async def test_drain_finishes_queued_work(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0)
    svc = await make_service(batch=batch, delay_ms_per_batch="20")
    tasks = [asyncio.create_task(svc.engine.synthesize(request(t))) for t in TEXTS]
    total = sum(len(svc.voice.frontend(t)) for t in TEXTS)
    # Every sentence is queued or has started before the drain begins.
    await wait_until(lambda: svc.engine.queue_depth + sum(len(b) for b in svc.voice.batches) == total)
    assert svc.engine.queue_depth > 0
    await svc.engine.drain(timeout_s=10)
    assert svc.engine.health().draining
    assert not svc.engine.health().ready
    for text, task in zip(TEXTS, tasks, strict=True):
        assert_fake_audio(svc.voice, text, (await task).audio)
    with pytest.raises(ShuttingDown):
        await svc.engine.synthesize(request("太晚了。"))


async def test_counters_move(fake_service: FakeService) -> None:
    text = TEXTS[0]
    result = await fake_service.engine.synthesize(request(text))
    labels = {"voice": "fake"}
    assert fake_service.metric("ttsd_characters_total", labels) == len(text)
    assert fake_service.metric("ttsd_audio_seconds_total", labels) == pytest.approx(result.duration_s)
    assert fake_service.metric("ttsd_batch_size_count") >= 1


async def test_health_stays_responsive_while_a_batch_runs(make_service: MakeService) -> None:
    svc = await make_service(delay_ms_per_batch="300")
    task = asyncio.create_task(svc.engine.synthesize(request("慢慢来。")))
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.sleep(0.01)  # the event loop is not blocked by the model thread
    assert svc.engine.health().ready
    assert loop.time() - t0 < 0.2
    await task


async def test_build_engine_from_settings() -> None:
    metrics = Metrics()
    settings = Settings(voice="fake", device="cpu", precision="auto", warmup=True, cache_bytes=0)
    engine = await build_engine(settings, metrics)
    assert isinstance(engine, TTSEngine)
    try:
        await engine.start()
        result = await engine.synthesize(request("构建成功。"))
        assert result.sample_rate == 24000
        labels = {"voice": "fake", "device": "cpu", "precision": resolve_precision("auto", "cpu"), "executor": "serial"}
        samples = [s for f in metrics.registry.collect() if f.name == "ttsd_build_info" for s in f.samples]
        assert len(samples) == 1
        assert labels.items() <= samples[0].labels.items()
        assert engine.device_reason == "CPU requested"
    finally:
        await engine.drain(timeout_s=5)


def test_resolve_precision() -> None:
    assert resolve_precision("auto", "cpu", bf16_supported=lambda: False) == "fp32"
    assert resolve_precision("auto", "cpu", bf16_supported=lambda: True) == "mixed"
    assert resolve_precision("auto", "cuda:0") == "fp16"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(BackendUnavailable):
        resolve_precision("fp16", "cpu")


def test_fake_voice_contract() -> None:
    voice = load_voice("fake", max_phonemes=20)
    assert isinstance(voice, FakeVoice)
    utterances = voice.frontend("你好，世界。" + "长" * 30 + "。")
    assert utterances == voice.frontend("你好，世界。" + "长" * 30 + "。")
    assert all(len(u.ids) <= 20 for u in utterances)  # cut to the phoneme budget
    assert len(utterances) >= 3
    out = voice.run_batch([BatchItem(utterance=u) for u in utterances])
    assert [len(w) for w in out.waveforms] == [voice.estimate_frames(u) * HOP for u in utterances]
    assert out.padded_frames == max(voice.estimate_frames(u) for u in utterances) * len(utterances)
    assert voice.batches == [tuple(u.text for u in utterances)]


async def test_a_streams_first_chunk_comes_from_a_batch_of_its_head_alone(make_service: MakeService) -> None:
    """Sentences of similar length share a bucket; the head must not wait for (or ride with) the others."""
    batch = BatchConfig(max_batch_size=8, max_wait_ms=20.0, max_batch_frames=100_000)
    svc = await make_service(batch=batch, delay_ms_per_batch="20")
    text = "一二三四五。六七八九十。十一十二十三。二十二十一。"
    heads = [u.text for u in svc.voice.frontend(text)]
    assert len(heads) == 4
    batches_at_first_chunk = -1
    chunks = []
    async for chunk in svc.engine.stream(request(text)):
        if chunk.index == 0:
            batches_at_first_chunk = len(svc.voice.batches)
        chunks.append(chunk)
    assert batches_at_first_chunk == 1
    assert svc.voice.batches == [(heads[0],), tuple(heads[1:])]  # the rest is still batched together
    assert_fake_audio(svc.voice, text, np.concatenate([c.audio for c in chunks]))


async def test_synthesize_does_not_split_off_its_first_sentence(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=8, max_wait_ms=20.0, max_batch_frames=100_000)
    svc = await make_service(batch=batch)
    text = "一二三四五。六七八九十。十一十二十三。"
    await svc.engine.synthesize(request(text))
    assert svc.voice.batches == [tuple(u.text for u in svc.voice.frontend(text))]


async def test_a_short_request_overtakes_queued_long_sentences(make_service: MakeService) -> None:
    batch = BatchConfig(max_batch_size=1, max_wait_ms=0.0, max_batch_frames=100_000)
    svc = await make_service(batch=batch, delay_ms_per_batch="30")
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
