"""What an operator sees: refused deliveries (who knocked, why), through the API and the CLI."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
import pytest

from orchestrator.cli import main
from tests.conftest import LiveApp, live_app

pytestmark = pytest.mark.anyio


async def test_refused_deliveries_are_listed_newest_first(tmp_path: Path) -> None:
    async with live_app(tmp_path / "data") as live:
        await live.client.post("/hooks/sim/forged", json={"status": "running"})
        await live.client.post("/hooks/nosuch/x", json={})
        rows = (await live.client.get("/v1/rejections")).json()["rejections"]
        assert [(r["provider"], r["reason"], r["client"]) for r in rows] == [
            ("nosuch", "unknown_provider", "127.0.0.1"),
            ("sim", "invalid_token", "127.0.0.1"),
        ]
        bad = await live.client.get("/v1/rejections", params={"limit": "0"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"


async def test_clipwire_rejections_prints_them(
    live: LiveApp, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await live.client.post("/hooks/sim/forged", json={"status": "running"})
    monkeypatch.setenv("CLIPWIRE_URL", live.url)
    code = await anyio.to_thread.run_sync(main, ["rejections"])
    out = capsys.readouterr().out
    assert code == 0
    assert "sim" in out and "invalid_token" in out and "127.0.0.1" in out


async def test_held_jobs_can_be_listed_and_sent_again(
    live: LiveApp, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    held = await live.submit(provider="sim", provider_options={"silent": True})
    other = await live.submit(provider="sim", provider_options={"silent": True})
    await live.wait_for(held["id"], lambda job: job["state"] == "submitted")
    await live.wait_for(other["id"], lambda job: job["state"] == "submitted")
    # As if its submit's answer had been lost: a fresh pending job, held for a decision.
    store = live.clipwire.store
    job, _ = await store.create_job(
        "job_held_1", (await store.get_job(held["id"])).request, public_url=live.url
    )
    await store.hold_submission(job.id, "submit_ambiguous", "the answer was lost")

    listed = (await live.client.get("/v1/jobs", params={"attention": "1"})).json()["jobs"]
    assert [(j["id"], j["attention"]) for j in listed] == [(job.id, "the answer was lost")]
    assert (await live.client.get("/v1/jobs", params={"attention": "x"})).status_code == 400

    monkeypatch.setenv("CLIPWIRE_URL", live.url)
    assert await anyio.to_thread.run_sync(main, ["jobs", "--attention"]) == 0
    assert "NEEDS A DECISION: the answer was lost" in capsys.readouterr().out

    assert await anyio.to_thread.run_sync(main, ["retry", job.id]) == 0
    sent = await live.wait_for(job.id, lambda j: j["state"] == "submitted")
    assert sent["attention"] is None
