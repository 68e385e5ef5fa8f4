"""The reconciler's sweeps read their partial indexes; the mirror refuses SSRF targets."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orchestrator.store import SQLiteStore
from orchestrator.store.sqlite import SWEEPS
from orchestrator.urlguard import UnsafeURL, check_fetchable

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("name", sorted(SWEEPS))
async def test_each_sweep_reads_only_its_partial_index(tmp_path: Path, name: str) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    await store.close()
    sql, index = SWEEPS[name]
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("z", 10)))
    conn.close()
    assert f"USING INDEX {index}" in plan
    assert "SCAN jobs" not in plan.replace(f"SCAN jobs USING INDEX {index}", "")


@pytest.mark.parametrize(
    "url",
    [
        "http://203.0.113.9/video.mp4",  # plain http outside trusted origins
        "https://127.0.0.1/video.mp4",  # loopback
        "https://10.1.2.3/video.mp4",  # private range
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://[::1]/video.mp4",
        "ftp://203.0.113.9/video.mp4",
        "https:///no-host",
    ],
)
async def test_the_mirror_refuses_urls_an_attacker_could_aim_inward(url: str) -> None:
    with pytest.raises(UnsafeURL):
        await check_fetchable(url)


async def test_public_https_and_trusted_origins_pass() -> None:
    await check_fetchable("https://93.184.216.34/video.mp4")
    await check_fetchable(
        "http://127.0.0.1:9000/files/v.mp4", trusted_origins=frozenset({"http://127.0.0.1:9000"})
    )
    with pytest.raises(UnsafeURL):  # the trust is for that origin only, not the host
        await check_fetchable(
            "http://127.0.0.1:9001/v.mp4", trusted_origins=frozenset({"http://127.0.0.1:9000"})
        )
