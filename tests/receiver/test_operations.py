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
