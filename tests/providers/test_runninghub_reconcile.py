"""RunningHub's lost webhooks, repaired without a person (the reconciler) and by a person
(`clipwire runninghub webhook-detail | resend`), after the public URL changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveApp, live_app
from tests.providers.conftest import point_at
from tests.providers.fakes.runninghub import FakeRunningHub

pytestmark = pytest.mark.anyio


@pytest.fixture
async def fake() -> AsyncIterator[FakeRunningHub]:
    fake = FakeRunningHub(api_key="rh-key")
    fake.deliver = False  # the first delivery is lost (our tunnel was down)
    async with fake.serving():
        yield fake


@pytest.fixture
def configured(fake: FakeRunningHub, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(monkeypatch, "runninghub", fake)


@pytest.fixture
async def live(configured: None, tmp_path: Path) -> AsyncIterator[LiveApp]:
    """Callbacks count as overdue at once: the reconciler acts within a fraction of a second."""
    async with live_app(tmp_path / "data", callback_grace=0.0, status_poll_interval=0.2) as app:
        app.clipwire.adapters["runninghub"].config.options["expected_seconds"] = "0"
        yield app


@pytest.fixture
async def patient(configured: None, tmp_path: Path) -> AsyncIterator[LiveApp]:
    """The default grace: the reconciler stays out of the way, a person acts."""
    async with live_app(tmp_path / "data") as app:
        yield app


def new_tunnel(live: LiveApp) -> str:
    """Change the public URL the way a restarted ngrok would (it still reaches this server)."""
    changed = live.url.replace("127.0.0.1", "localhost")
    live.clipwire.resolver.configured = changed
    return changed


def done_at_runninghub(fake: FakeRunningHub) -> Any:
    def check(job: dict[str, Any]) -> bool:
        task = fake.tasks.get(job["provider_task_id"] or "")
        return task is not None and task.webhook_id is not None

    return check


def resends(fake: FakeRunningHub) -> list[dict[str, Any]]:
    return [s.body for s in fake.seen if s.path == "/task/openapi/retryWebhook"]


async def test_the_reconciler_asks_for_the_lost_webhook_at_the_new_url(
    live: LiveApp, fake: FakeRunningHub
) -> None:
    job = await live.submit(provider="runninghub")
    await live.wait_for(job["id"], done_at_runninghub(fake))  # its webhook went nowhere
    changed = new_tunnel(live)
    fake.deliver = True  # from now on deliveries arrive
    job = await live.wait_for(job["id"])
    assert job["state"] == "succeeded"
    assert resends(fake)[-1]["webhookUrl"].startswith(f"{changed}/hooks/runninghub/")
    assert [t["reason"] for t in job["timeline"]][-1] == "runninghub webhook: succeeded"


async def test_an_operator_reads_the_detail_and_resends_to_the_current_url(
    patient: LiveApp, fake: FakeRunningHub
) -> None:
    live = patient
    job = await live.submit(provider="runninghub")
    job = await live.wait_for(job["id"], done_at_runninghub(fake))
    task_id = job["provider_task_id"]
    detail = (await live.client.get(f"/v1/runninghub/webhooks/{task_id}")).json()
    assert detail["taskId"] == task_id
    assert detail["webhookUrl"].endswith("/hooks/runninghub/***")  # our token stays secret

    changed = new_tunnel(live)
    fake.deliver = True
    answer = await live.client.post(
        f"/v1/runninghub/webhooks/{task_id}/resend", params={"to_current_url": "1"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["webhook_id"] == detail["id"]
    assert resends(fake)[-1]["webhookUrl"].startswith(f"{changed}/hooks/runninghub/")
    assert (await live.wait_for(job["id"]))["state"] == "succeeded"


async def test_the_tools_say_clearly_when_runninghub_is_not_configured(tmp_path: Path) -> None:
    async with live_app(tmp_path / "data") as live:
        answer = await live.client.get("/v1/runninghub/webhooks/123")
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "provider_not_configured"
