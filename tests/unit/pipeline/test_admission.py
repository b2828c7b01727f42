"""Admission by cost (ttsd.pipeline.admission): refusals before any work, priced against the drain rate."""

from __future__ import annotations

import pytest

from ttsd.errors import QueueFull
from ttsd.pipeline.admission import Admission, AdmissionConfig


def test_a_request_is_always_admitted_when_nothing_is_pending() -> None:
    admission = Admission(config=AdmissionConfig(max_backlog_s=1.0, initial_rate=1.0))
    ticket = admission.admit(10_000.0)  # far over the budget, but alone
    assert admission.pending_audio_s == AdmissionConfig().window_s
    ticket.close()
    assert admission.pending_audio_s == 0


def test_past_the_backlog_budget_requests_are_refused_with_retry_after() -> None:
    admission = Admission(config=AdmissionConfig(max_backlog_s=10.0, initial_rate=2.0))  # 20 audio s of room
    admission.admit(12.0)
    with pytest.raises(QueueFull) as refused:
        admission.admit(12.0)
    assert 1.0 <= refused.value.retry_after_s <= 60.0
    admission.admit(6.0)  # still fits


def test_a_long_request_counts_only_its_window_so_short_ones_still_get_in() -> None:
    admission = Admission(config=AdmissionConfig(max_backlog_s=20.0, initial_rate=10.0, window_s=60.0))
    long_stream = admission.admit(1250.0)  # a 5,000-character text: 1250 audio s, counted as 60
    short = admission.admit(3.0)
    assert admission.pending_audio_s == pytest.approx(63.0)
    long_stream.consume(1240.0)  # its last 10 s: now it counts 10
    assert admission.pending_audio_s == pytest.approx(13.0)
    short.close()
    long_stream.close()
    assert admission.pending_audio_s == 0


def drain_rate(admission: Admission) -> float:
    """The drain rate as admission prices with it: audio seconds admitted per second of backlog they add."""
    ticket = admission.admit(40.0)
    try:
        return 40.0 / admission.backlog_s()
    finally:
        ticket.close()


def test_the_drain_rate_follows_the_batches() -> None:
    admission = Admission(config=AdmissionConfig(initial_rate=10.0))
    for _ in range(50):
        admission.observe(audio_s=40.0, model_s=1.0)
    assert drain_rate(admission) == pytest.approx(40.0, rel=0.01)
    admission.observe(audio_s=0.0, model_s=1.0)  # empty batches do not move it
    assert drain_rate(admission) == pytest.approx(40.0, rel=0.01)


def test_tiny_batches_count_by_their_model_time_not_as_many_ratios() -> None:
    """Ten 20 ms batches at 5 audio s/s beside one 2 s batch at 40: the rate stays near what the model really
    drains (an average of per-batch ratios would fall toward 5 and refuse work the server can take)."""
    admission = Admission(config=AdmissionConfig(initial_rate=40.0))
    admission.observe(audio_s=80.0, model_s=2.0)
    for _ in range(10):
        admission.observe(audio_s=0.1, model_s=0.02)
    assert drain_rate(admission) > 30.0


def test_a_growing_ticket_is_priced_as_it_grows_and_refused_only_beside_others() -> None:
    """A text-in session: one ticket, priced chunk by chunk (at most its window), never refused alone."""
    admission = Admission(config=AdmissionConfig(max_backlog_s=10.0, initial_rate=1.0, window_s=30.0))
    session = admission.admit(0.0)
    for _ in range(10):
        admission.grow(session, 8.0)  # alone: 80 audio s asked, counted as its 30 s window
    assert admission.pending_audio_s == 30.0
    session.consume(80.0)
    other = admission.admit(6.0)
    admission.grow(session, 3.0)  # 6 + 3 <= 10: fits beside the other request
    with pytest.raises(QueueFull) as refused:
        admission.grow(session, 3.0)  # 6 + 6 > 10
    assert refused.value.retry_after_s >= 1.0
    assert session.remaining_s == 3.0, "a refused chunk is not added"
    other.close()
    admission.grow(session, 3.0)  # alone again
