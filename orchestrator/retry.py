"""Retry timing, as a pure function: exponential backoff with full jitter, capped."""

from __future__ import annotations

import random
from collections.abc import Callable


def retry_delay(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = 300.0,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1).

    A server's ``Retry-After`` wins when it asks for longer than the jittered backoff.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    delay = float(ceiling * rand())
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def poll_delay(polls: int, *, base: float, cap: float) -> float:
    """Seconds until the next status poll after ``polls`` polls: 1.5x longer each time."""
    return float(min(cap, base * 1.5**polls))
