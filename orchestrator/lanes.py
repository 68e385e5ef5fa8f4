"""A lane: one loop of the worker, run whenever woken and, as a safety net, every ``interval``.

``CONCURRENCY`` is how much one sweep of a lane takes from the store; twice that may be in
flight (submits, polls, cancels and actions together) before a lane leaves the rest for later.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("clipwire.worker")

CONCURRENCY = 16


class Lane:
    """A loop that runs ``step`` whenever woken (or every ``interval``) until stopped."""

    def __init__(self, name: str, step: Callable[[], Awaitable[bool]], interval: float) -> None:
        self.name = name
        self.step = step
        self.interval = interval
        self.wakeup = asyncio.Event()

    async def run(self) -> None:
        while True:
            self.wakeup.clear()
            try:
                busy = await self.step()
            except Exception:  # a bug or a database outage: keep the lane alive, log it
                log.exception("worker.lane_failed", lane=self.name)
                busy = False
            if busy:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), self.interval)
