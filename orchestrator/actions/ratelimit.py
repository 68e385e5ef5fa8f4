"""Per-destination rate limits: a token bucket per key (a webhook URL, a chat id).

Slack allows about one message per second per webhook, Telegram about one per second per chat;
a destination's own 429 + Retry-After pauses its bucket for that long.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time


@dataclasses.dataclass
class _Bucket:
    rate: float  # tokens per second
    burst: float
    tokens: float
    updated: float
    paused_until: float = 0.0


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _bucket(self, key: str, rate: float, burst: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(rate, burst, burst, time.monotonic())
        return bucket

    def delay(self, key: str, *, rate: float, burst: float = 1.0) -> float:
        """Take a token for ``key`` if one is there (0.0), else seconds until one will be."""
        bucket = self._bucket(key, rate, burst)
        now = time.monotonic()
        bucket.tokens = min(bucket.burst, bucket.tokens + (now - bucket.updated) * bucket.rate)
        bucket.updated = now
        if now < bucket.paused_until:
            return bucket.paused_until - now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / bucket.rate

    async def acquire(self, key: str, *, rate: float, burst: float = 1.0) -> None:
        """Wait for a token for ``key``; callers for one key are served one at a time."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            while (wait := self.delay(key, rate=rate, burst=burst)) > 0:
                await asyncio.sleep(wait)

    def pause(self, key: str, seconds: float) -> None:
        """The destination said to wait (429 Retry-After): hold ``key`` for ``seconds``."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.paused_until = max(bucket.paused_until, time.monotonic() + seconds)
