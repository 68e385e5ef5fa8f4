"""What every fake provider shares: served on loopback, calls back with its own client,
keeps its background deliveries, and records each request as it came."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request

from orchestrator.serving import bind, running


@dataclasses.dataclass
class Seen:
    """One request the fake received, as it came (``body`` is ``None`` unless it was JSON)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    query: dict[str, str] = dataclasses.field(default_factory=dict)


class LoopbackFake:
    """Subclasses set ``self.app`` (a Starlette app) after calling ``super().__init__()``."""

    app: Starlette

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.base_url = ""  # set by serving()
        self.delay = 0.05  # seconds between a fake task's steps
        self.client = httpx.AsyncClient(timeout=5.0)  # for the calls back to clipwire
        self.seen: list[Seen] = []  # every request, in the order it came
        self._background: set[asyncio.Task[None]] = set()

    async def record(self, request: Request) -> Any:
        """Append ``request`` to ``seen``; return its JSON body, or ``None`` if it has none."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        headers = dict(request.headers)
        query = dict(request.query_params)
        self.seen.append(Seen(request.method, request.url.path, headers, body, query))
        return body

    async def call_back(self, url: str, body: Any) -> int:
        """POST ``body`` as JSON to ``url``; the answer's status, or 0 if it never came."""
        try:
            answer = await self.client.post(url, json=body)
        except httpx.HTTPError:
            return 0
        return answer.status_code

    def bearer_ok(self, request: Request) -> bool:
        """Whether ``request`` carries ``Authorization: Bearer <api_key>``."""
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

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
