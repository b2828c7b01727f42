"""Pool messages (ttsd.serving.transport): arrays cross a real pipe out of band, intact and writable."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np

from ttsd.serving.transport import recv_message, send_message
from ttsd.voices.base import BatchOutput


def test_a_batch_output_crosses_a_pipe_intact_and_writable() -> None:
    parent, child = multiprocessing.Pipe(duplex=True)
    rng = np.random.default_rng(0)
    output = BatchOutput(
        waveforms=[rng.standard_normal(n).astype(np.float32) for n in (24_000, 0, 7)],
        acoustic_seconds=0.5,
        vocoder_seconds=0.25,
        padded_frames=240,
        frames=200,
        durations=[np.arange(5, dtype=np.int64), np.zeros(0, dtype=np.int64), np.ones(2, dtype=np.int64)],
    )
    # A large message is read while it is written (the pipe's buffer is smaller than the audio).
    sender = threading.Thread(target=send_message, args=(child, ("ok", output)))
    sender.start()
    kind, got = recv_message(parent)
    sender.join()
    assert kind == "ok"
    assert (got.acoustic_seconds, got.padded_frames, got.frames) == (0.5, 240, 200)
    sent_arrays: list[np.ndarray] = [*output.waveforms, *output.durations]
    for sent, received in zip(sent_arrays, [*got.waveforms, *got.durations], strict=True):
        assert received.dtype == sent.dtype
        np.testing.assert_array_equal(received, sent)
        assert received.flags.writeable
    got.waveforms[0] *= 2  # the receiver owns its copy


def test_plain_messages_and_none() -> None:
    parent, child = multiprocessing.Pipe(duplex=True)
    send_message(child, None)
    send_message(child, ("error", ValueError("x")))
    assert recv_message(parent) is None
    kind, exc = recv_message(parent)
    assert kind == "error"
    assert isinstance(exc, ValueError)
