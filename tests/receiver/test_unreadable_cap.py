"""A valid token does not let its holder fill the disk with unreadable bodies."""

from __future__ import annotations

import pytest

from orchestrator.store import events
from tests.conftest import LiveApp

pytestmark = pytest.mark.anyio


async def test_unreadable_deliveries_past_the_cap_are_refused(
    live: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "UNREADABLE_KEPT_PER_JOB", 3)
    job = await live.submit(provider="sim", provider_options={"silent": True})
    url = live.clipwire.signer.url_for(live.url, "sim", job["id"])
    answers = [(await live.client.post(url, json={"junk": n})).status_code for n in range(5)]
    assert answers == [202, 202, 202, 429, 429]
    refused = await live.client.post(url, json={"junk": 9})
    assert refused.json()["error"]["code"] == "too_many_unreadable"
    readable = await live.client.post(url, json={"task_id": None, "status": "running"})
    assert readable.status_code == 202  # the cap is on unreadable bodies only
    stored = await live.clipwire.store.events_for(job["id"])
    assert sum(e["kind"] == "unknown" for e in stored) == 3
    reasons = [r["reason"] for r in await live.clipwire.store.rejections()]
    assert reasons.count("too_many_unreadable") == 3
