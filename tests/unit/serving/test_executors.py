"""Executors and device selection (ttsd.serving.executors)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pytest

from ttsd.errors import BackendDead, BackendError, BackendUnavailable
from ttsd.serving.executors import CpuExecutor, CudaExecutor, make_executor, probe_cuda, select_device
from ttsd.text.plain import PlainFrontend
from ttsd.voices.base import BatchItem, BatchOutput, Utterance
from ttsd.voices.fake import FakeVoice
from ttsd.voices.options import FakeOptions, VoiceOptions


class ThreadRecordingVoice(FakeVoice):
    """The fake voice, noting which thread ran each batch."""

    def __init__(self, faults: FakeOptions | None = None) -> None:
        super().__init__(options=VoiceOptions(fake=faults or FakeOptions()))
        self.threads: list[str] = []

    def run_batch(self, items: Sequence[BatchItem]) -> BatchOutput:
        self.threads.append(threading.current_thread().name)
        return super().run_batch(items)


def _utterance(voice: FakeVoice, text: str) -> Utterance:
    (sentence,) = PlainFrontend().sentences(text, budget=voice.budget)
    return voice.encode(sentence)


async def test_a_batch_past_the_watchdog_kills_the_executor_for_good() -> None:
    voice = ThreadRecordingVoice(FakeOptions(hang_on="卡", hang_s=2.0))
    executor = CpuExecutor(voice=voice, watchdog_s=0.2)
    try:
        with pytest.raises(BackendDead, match="stopped responding"):
            await executor.run([BatchItem(utterance=_utterance(voice, "卡住了。"))])
        with pytest.raises(BackendDead, match="watchdog"):  # no further work is accepted
            await executor.run([BatchItem(utterance=_utterance(voice, "你好。"))])
    finally:
        executor.close(wait=False)


async def test_a_model_thread_that_dies_is_fatal_not_a_per_item_failure() -> None:
    voice = ThreadRecordingVoice(FakeOptions(die_on="死"))
    executor = CpuExecutor(voice=voice)
    try:
        with pytest.raises(BackendDead, match="failed fatally"):
            await executor.run([BatchItem(utterance=_utterance(voice, "死了。"))])
        with pytest.raises(BackendDead, match="died"):
            await executor.run([BatchItem(utterance=_utterance(voice, "你好。"))])
    finally:
        executor.close()


def test_select_device_cpu_never_probes() -> None:
    def probe(device: str) -> tuple[bool, str]:
        raise AssertionError("probed")

    assert select_device("cpu", probe=probe) == ("cpu", "CPU requested")


def test_select_device_auto() -> None:
    device, reason = select_device("auto", probe=lambda d: (True, "Fake GPU"))
    assert device == "cuda"
    assert "Fake GPU" in reason
    device, reason = select_device("auto", probe=lambda d: (False, "no driver"))
    assert device == "cpu"
    assert "no driver" in reason


def test_select_device_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(BackendUnavailable, match="no driver"):
        select_device("cuda", probe=lambda d: (False, "no driver"))
    assert select_device("cuda:1", probe=lambda d: (True, d))[0] == "cuda:1"
    with pytest.raises(BackendUnavailable, match="unknown device"):
        select_device("tpu")


def test_real_probe_answers_with_a_reason() -> None:
    usable, why = probe_cuda()
    assert why
    if not usable:
        assert select_device("auto")[0] == "cpu"


def test_make_executor_by_device() -> None:
    voice = ThreadRecordingVoice()
    cpu = make_executor("cpu", voice)
    cuda = make_executor("cuda:0", voice)
    try:
        assert isinstance(cpu, CpuExecutor)
        assert (cpu.name, cpu.device) == ("cpu-thread", "cpu")
        assert isinstance(cuda, CudaExecutor)
        assert (cuda.name, cuda.device) == ("cuda-thread", "cuda:0")
    finally:
        cpu.close()
        cuda.close()


async def test_serial_executor_runs_off_the_event_loop() -> None:
    voice = ThreadRecordingVoice()
    executor = CpuExecutor(voice=voice)
    try:
        utt = _utterance(voice, "你好。")
        output = await executor.run([BatchItem(utterance=utt)] * 3)
        assert len(output.waveforms) == 3
        await executor.run([BatchItem(utterance=utt)])
        assert len(set(voice.threads)) == 1
        assert voice.threads[0] != threading.current_thread().name
        assert voice.threads[0].startswith("ttsd-model")
    finally:
        executor.close()


async def test_voice_failures_become_safe_backend_errors(caplog: pytest.LogCaptureFixture) -> None:
    voice = ThreadRecordingVoice(FakeOptions(fail_on="坏"))
    executor = CpuExecutor(voice=voice)
    try:
        utt = _utterance(voice, "坏句子。")
        with caplog.at_level(logging.ERROR), pytest.raises(BackendError) as info:
            await executor.run([BatchItem(utterance=utt)])
        assert "坏" not in info.value.message
        assert "fake voice told to fail on '坏'" in caplog.text  # details go to the log
    finally:
        executor.close()


@pytest.mark.gpu
async def test_batch_executor_on_cuda() -> None:
    usable, why = probe_cuda()
    if not usable:
        pytest.skip(f"no usable CUDA device: {why}")
    import torch

    device, _ = select_device("auto")
    assert device == "cuda"
    seen: list[int] = []

    class DeviceRecordingVoice(ThreadRecordingVoice):
        def run_batch(self, items: Sequence[BatchItem]) -> BatchOutput:
            seen.append(torch.cuda.current_device())
            return super().run_batch(items)

    voice = DeviceRecordingVoice()
    executor = CudaExecutor(voice=voice, device="cuda:0")
    try:
        utt = _utterance(voice, "你好。")
        output = await executor.run([BatchItem(utterance=utt)] * 4)
        assert len(output.waveforms) == 4
        assert seen == [0]
    finally:
        executor.close()
