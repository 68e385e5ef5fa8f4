from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from orchestrator.sim.server import SAMPLE_MP4
from tests.conftest import LiveApp

pytestmark = pytest.mark.anyio


async def test_a_sim_job_succeeds_and_its_video_is_mirrored(live: LiveApp) -> None:
    job = await live.submit(provider="sim", provider_options={"delay": 0.05})
    job = await live.wait_for(job["id"])
    assert job["state"] == "succeeded"
    assert [t["to"] for t in job["timeline"]] == ["pending", "submitted", "running", "succeeded"]
    mirror = job["actions"][0]
    assert mirror["kind"] == "mirror" and mirror["state"] == "done"
    assert Path(mirror["result"]["path"]).read_bytes() == SAMPLE_MP4
    assert mirror["result"]["sha256"] == hashlib.sha256(SAMPLE_MP4).hexdigest()
