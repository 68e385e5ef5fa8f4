"""Fixtures shared by the chat action tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from orchestrator.sim.server import SAMPLE_MP4


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """A mirrored video, as the mirror action leaves it."""
    path = tmp_path / "job_1.mp4"
    path.write_bytes(SAMPLE_MP4)
    return path
