"""Shared fixtures: real SQLite on tmp_path, the real app on a loopback port, real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.config import Settings
from orchestrator.serving import bind, running
from receiver import create_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class LiveApp:
    """The real clipwire app, served on a loopback port, with an HTTP client pointed at it."""

    def __init__(self, app: Any, url: str, client: httpx.AsyncClient, settings: Settings) -> None:
        self.app = app
        self.url = url
        self.client = client
        self.settings = settings

    @property
    def clipwire(self) -> Any:
        return self.app.state.clipwire

    async def submit(self, **fields: Any) -> dict[str, Any]:
        response = await self.client.post("/v1/jobs", json={"prompt": "a red fox", **fields})
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def wait_for(
        self,
        job_id: str,
        done: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Wait until ``done(job)`` holds; by default: terminal with every action settled."""

        def settled(job: dict[str, Any]) -> bool:
            terminal = job["state"] in ("succeeded", "failed", "cancelled", "timed_out")
            return terminal and all(a["state"] in ("done", "dead") for a in job["actions"])

        check = done or settled
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            job = (await self.client.get(f"/v1/jobs/{job_id}")).json()
            if check(job):
                return dict(job)
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"job never reached the wanted state: {job}")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def live_app(data_dir: Path, **overrides: Any) -> AsyncIterator[LiveApp]:
    sock = bind()
    settings = Settings(data_dir=data_dir, port=sock.getsockname()[1], **overrides)
    app = create_app(settings)
    async with running(app, sock) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield LiveApp(app, url, client, settings)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(tmp_path / "data") as app:
        yield app
