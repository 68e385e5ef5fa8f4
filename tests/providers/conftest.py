"""What the provider tests share: pointing clipwire at a fake, and reading what it mirrored."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from orchestrator.sim.server import SAMPLE_MP4
from tests.providers.fakes.loopback import LoopbackFake

FAST_POLLS = {"status_poll_interval": 0.02, "status_poll_max": 0.05}  # for providers polled


def point_at(
    monkeypatch: pytest.MonkeyPatch, provider: str, fake: LoopbackFake, path: str = ""
) -> None:
    """Configure ``provider`` as an operator would, through ``CLIPWIRE_<PROVIDER>_BASE_URL``
    (the fake's URL, plus ``path``) and ``CLIPWIRE_<PROVIDER>_API_KEY`` (the fake's key)."""
    name = provider.upper()
    monkeypatch.setenv(f"CLIPWIRE_{name}_BASE_URL", f"{fake.base_url}{path}")
    monkeypatch.setenv(f"CLIPWIRE_{name}_API_KEY", fake.api_key)


def mirrored(job: dict[str, Any]) -> bytes:
    """The bytes the job's mirror action saved, once it is done with the sample's checksum.

    The mirror is the job's first action, as clipwire's default actions put it."""
    mirror = job["actions"][0]
    assert mirror["kind"] == "mirror", job["actions"]
    assert mirror["state"] == "done", mirror
    assert mirror["result"]["sha256"] == hashlib.sha256(SAMPLE_MP4).hexdigest()
    return Path(mirror["result"]["path"]).read_bytes()
