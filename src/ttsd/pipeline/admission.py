"""Admission by cost, before any work: how much synthesis a process takes on at once.

Every request is priced before its text is processed (an estimate of the audio it will produce, from its
length) and admitted against one budget: the time the work already admitted would take to drain at the
observed speed. Past it the request is refused at once (``QueueFull`` -> 503 with a Retry-After computed from
the drain rate) - a refusal costs a few arithmetic operations, never text processing or model time, so an
overloaded server keeps spending its cores on the work it accepted (goodput), not on work it will throw away.

* A request is always admitted when nothing else is pending (a single long text is never refused outright).
* A request counts at most ``window_s`` seconds of audio at a time: that is what it can have in the system at
  once (a stream runs a bounded lookahead of sentences ahead of its reader), so one long text takes a slice of
  the budget, not all of it, and short requests are still admitted beside it.
* As a request's sentences finish, what they produced is taken off the backlog (:meth:`Ticket.consume`);
  when the request ends, whatever is left of its estimate is released (:meth:`Ticket.close`).
* The drain rate is audio seconds produced per second of model time over the recent batches: a ratio of
  exponentially decayed sums (audio over model time), fed by the batcher after every batch, so a batch counts
  by its model time; an average of per-batch ratios would let a run of tiny, inefficient batches pull the
  estimate down and refuse work the server can take. Until the first batch it is ``initial_rate``.
Not thread-safe: used on the event loop only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ttsd.errors import QueueFull

_RATE_WEIGHT = 0.2
_PRIOR_S = 1.0
_RETRY_AFTER_RANGE = (1.0, 60.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmissionConfig:
    """* ``max_backlog_s``: seconds of model time the admitted work may represent (0 = no limit).
    * ``initial_rate``: audio seconds per model second assumed before any batch ran.
    * ``window_s``: audio seconds one request counts for at most (its in-flight window)."""

    max_backlog_s: float = 20.0
    initial_rate: float = 10.0
    window_s: float = 60.0


class Ticket:
    """One admitted request's share of the backlog."""

    __slots__ = ("_admission", "label", "remaining_s")

    def __init__(self, admission: Admission, cost_s: float, label: str = "") -> None:
        self._admission = admission
        self.remaining_s = cost_s
        self.label = label  # the request's id, for logs (a drain that cuts it names it)

    def consume(self, audio_s: float) -> None:
        """``audio_s`` of this request's audio is done: take it off the backlog (never below zero)."""
        self.remaining_s = max(0.0, self.remaining_s - max(0.0, audio_s))

    def close(self) -> None:
        """The request ended (done, failed or cancelled): release the rest of its estimate. Idempotent."""
        self.remaining_s = 0.0
        self._admission._release(self)


class Admission:
    """See the module docstring."""

    def __init__(self, *, config: AdmissionConfig) -> None:
        self._config = config
        self._tickets: set[Ticket] = set()
        self._idle = asyncio.Event()  # set while no request is admitted
        self._idle.set()
        self._rate = config.initial_rate
        # Decayed sums behind the rate; the prior counts as one second of model time at ``initial_rate``.
        self._audio_sum = config.initial_rate * _PRIOR_S
        self._model_sum = _PRIOR_S

    @property
    def pending_audio_s(self) -> float:
        """Audio seconds admitted and not yet produced, each request counted up to its window."""
        window = self._config.window_s
        return sum(min(t.remaining_s, window) for t in self._tickets)

    @property
    def open_tickets(self) -> list[Ticket]:
        """The admitted requests that have not ended yet."""
        return list(self._tickets)

    def backlog_s(self) -> float:
        """Seconds of model time the admitted, unfinished work is estimated to need."""
        return self.pending_audio_s / self._rate

    def admit(self, cost_s: float, *, label: str = "") -> Ticket:
        """Admit a request estimated to produce ``cost_s`` seconds of audio, or raise :class:`QueueFull`
        (``label``: the request's id, for logs)."""
        if self._tickets:
            self._check(min(cost_s, self._config.window_s) / self._rate)
        ticket = Ticket(self, cost_s, label)
        self._tickets.add(ticket)
        self._idle.clear()
        return ticket

    def grow(self, ticket: Ticket, cost_s: float) -> None:
        """A ticket that grows (a text-in session, priced as its text comes) takes on ``cost_s`` more audio
        seconds, or :class:`QueueFull` is raised as by :meth:`admit`; it still counts up to its window, and a
        ticket alone in the system is never refused."""
        if self._tickets - {ticket}:
            window = self._config.window_s
            added = min(ticket.remaining_s + cost_s, window) - min(ticket.remaining_s, window)
            self._check(added / self._rate)
        ticket.remaining_s += cost_s

    def _check(self, added_s: float) -> None:
        limit = self._config.max_backlog_s
        backlog = self.backlog_s()
        if limit > 0 and backlog + added_s > limit:
            low, high = _RETRY_AFTER_RANGE
            raise QueueFull(
                f"the server is busy (about {backlog:.0f} s of work queued); retry later",
                retry_after_s=min(high, max(low, backlog + added_s - limit)),
            )

    async def wait_idle(self) -> None:
        """Return once every admitted request has ended (at once when none is admitted)."""
        await self._idle.wait()

    def observe(self, *, audio_s: float, model_s: float) -> None:
        """A batch produced ``audio_s`` of audio in ``model_s`` seconds: update the drain rate."""
        if audio_s <= 0 or model_s <= 0:
            return
        self._audio_sum = (1 - _RATE_WEIGHT) * self._audio_sum + audio_s
        self._model_sum = (1 - _RATE_WEIGHT) * self._model_sum + model_s
        self._rate = self._audio_sum / self._model_sum

    def _release(self, ticket: Ticket) -> None:
        self._tickets.discard(ticket)
        if not self._tickets:
            self._idle.set()
