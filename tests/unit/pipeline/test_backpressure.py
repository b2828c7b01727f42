"""ttsd.pipeline.backpressure: a stream's producer waits while its ready, unsent audio passes the limit."""

from __future__ import annotations

import asyncio

from ttsd.pipeline.backpressure import UnsentAudio


async def test_the_producer_waits_until_the_reader_takes_audio() -> None:
    ready: dict[str, float] = {"a": 0.0, "b": 0.0}
    unsent = UnsentAudio(limit_s=5.0, audio_s=ready.__getitem__)
    unsent.queued("a")
    unsent.queued("b")
    await asyncio.wait_for(unsent.wait_for_room(), 1)  # nothing synthesized yet: room
    ready.update(a=4.0, b=3.0)  # both synthesized, 7 s unsent > 5 s
    waiter = asyncio.create_task(unsent.wait_for_room())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    unsent.taken()  # the reader took "a": 3 s left
    await asyncio.wait_for(waiter, 1)
    assert unsent.unsent_s == 3.0
