"""What every fake provider shares: served on loopback, calls back with its own client,
keeps its background deliveries, and records each request as it came."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import httpx
from starlette.applications import Starlette

from orchestrator.serving import bind, running


class LoopbackFake:
    """Subclasses set ``self.app`` (a Starlette app) after calling ``super().__init__()``."""

    app: Starlette

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.base_url = ""  # set by serving()
        self.delay = 0.05  # seconds between a fake task's steps
        self.client = httpx.AsyncClient(timeout=5.0)  # for the calls back to clipwire
        self._background: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (a task's life: its steps and webhooks) after the answer goes out."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """Serve the fake on a loopback port until the block ends; yields its base URL."""
        async with running(self.app, bind(), lifespan="off") as url:
            self.base_url = url
            try:
                yield url
            finally:
                await self.aclose()

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.client.aclose()
