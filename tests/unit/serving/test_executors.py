"""Executors and device selection (ttsd.serving.executors)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pytest

from ttsd.errors import BackendError, BackendUnavailable
from ttsd.serving.executors import BatchExecutor, SerialExecutor, make_executor, probe_cuda, select_device
from ttsd.voices.base import BatchItem, BatchOutput
from ttsd.voices.fake import FakeVoice
from ttsd.voices.registry import VoiceOptions


class ThreadRecordingVoice(FakeVoice):
    """The fake voice, noting which thread ran each batch."""

    def __init__(self, **extra: str) -> None:
        super().__init__(options=VoiceOptions(extra=extra))
        self.threads: list[str] = []

    def run_batch(self, items: Sequence[BatchItem]) -> BatchOutput:
        self.threads.append(threading.current_thread().name)
        return super().run_batch(items)


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
        assert isinstance(cpu, SerialExecutor)
        assert (cpu.name, cpu.device) == ("serial", "cpu")
        assert isinstance(cuda, BatchExecutor)
        assert (cuda.name, cuda.device) == ("batch", "cuda:0")
    finally:
        cpu.close()
        cuda.close()


async def test_serial_executor_runs_off_the_event_loop() -> None:
    voice = ThreadRecordingVoice()
    executor = SerialExecutor(voice=voice)
    try:
        (utt,) = voice.frontend("你好。")
        output = await executor.run([BatchItem(utterance=utt)] * 3)
        assert len(output.waveforms) == 3
        await executor.run([BatchItem(utterance=utt)])
        assert len(set(voice.threads)) == 1
        assert voice.threads[0] != threading.current_thread().name
        assert voice.threads[0].startswith("ttsd-model")
    finally:
        executor.close()


async def test_voice_failures_become_safe_backend_errors(caplog: pytest.LogCaptureFixture) -> None:
    voice = ThreadRecordingVoice(fail_on="坏")
    executor = SerialExecutor(voice=voice)
    try:
        (utt,) = voice.frontend("坏句子。")
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
    executor = BatchExecutor(voice=voice, device="cuda:0")
    try:
        (utt,) = voice.frontend("你好。")
        output = await executor.run([BatchItem(utterance=utt)] * 4)
        assert len(output.waveforms) == 4
        assert seen == [0]
    finally:
        executor.close()
