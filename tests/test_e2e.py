"""End to end over real HTTP on loopback: the real app, the built-in simulator calling it back,
and a small notify receiver standing in for the user's own service."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.serving import bind, running
from orchestrator.sim.server import SAMPLE_MP4
from tests.conftest import LiveApp, live_app

pytestmark = pytest.mark.anyio

FAST = {"delay": 0.02}


class NotifySink:
    """A loopback HTTP endpoint that records the JSON it receives and answers with ``statuses``
    in turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[dict[str, Any]] = []
        self.keys: list[str | None] = []
        self.url = ""
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        self.received.append(await request.json())
        self.keys.append(request.headers.get("idempotency-key"))
        status = self.statuses.pop(0) if self.statuses else 200
        return JSONResponse({"ok": status == 200}, status_code=status)


@contextlib.asynccontextmanager
async def notify_sink(statuses: list[int] | None = None) -> AsyncIterator[NotifySink]:
    sink = NotifySink(statuses)
    async with running(sink.app, bind(), lifespan="off") as url:
        sink.url = f"{url}/hook"
        yield sink


@pytest.fixture
async def sink() -> AsyncIterator[NotifySink]:
    async with notify_sink() as sink:
        yield sink


def states(job: dict[str, Any]) -> list[str]:
    return [t["to"] for t in job["timeline"]]


def action(job: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [a for a in job["actions"] if a["kind"] == kind]
    return found


async def post_webhook(live: LiveApp, job: dict[str, Any], body: dict[str, Any]) -> None:
    """Call the job back as its provider would, on its signed callback URL."""
    url = live.clipwire.signer.url_for(live.url, job["provider"], job["id"])
    answer = await live.client.post(url, json={"task_id": job["provider_task_id"], **body})
    assert answer.status_code == 202, answer.text


async def submitted_silent_job(live: LiveApp) -> dict[str, Any]:
    """A job the simulator accepted and will never call back about."""
    job = await live.submit(provider="sim", provider_options={"silent": True})
    return await live.wait_for(job["id"], lambda j: j["state"] == "submitted")


async def test_success_mirrors_the_video_and_notifies(live: LiveApp, sink: NotifySink) -> None:
    job = await live.submit(
        provider="sim",
        provider_options=FAST,
        actions=[{"kind": "mirror"}, {"kind": "notify", "url": sink.url}],
    )
    job = await live.wait_for(job["id"])

    assert job["state"] == "succeeded"
    assert states(job) == ["pending", "submitted", "running", "succeeded"]
    mirror = action(job, "mirror")
    assert Path(mirror["result"]["path"]).read_bytes() == SAMPLE_MP4
    assert Path(mirror["result"]["path"]).parent == live.settings.media_dir
    (event,) = sink.received
    assert event["type"] == "job.succeeded"
    assert event["job"]["id"] == job["id"]
    assert event["job"]["video_path"] == mirror["result"]["path"]
    assert sink.keys == [action(job, "notify")["idempotency_key"]]


async def test_a_failing_job_carries_the_error_and_fires_its_failure_action(
    live: LiveApp, sink: NotifySink
) -> None:
    options = {**FAST, "outcome": "fail", "error_code": "E_NSFW", "error_message": "refused"}
    job = await live.submit(
        provider="sim",
        provider_options=options,
        actions=[{"kind": "mirror"}, {"kind": "notify", "url": sink.url, "on": "failed"}],
    )
    job = await live.wait_for(job["id"])

    assert job["state"] == "failed"
    assert job["error"] == {"code": "E_NSFW", "message": "refused"}
    assert [a["kind"] for a in job["actions"]] == ["notify"]  # no mirror for a failure
    assert action(job, "notify")["state"] == "done"
    (event,) = sink.received
    assert event["type"] == "job.failed"
    assert event["job"]["error"] == {"code": "E_NSFW", "message": "refused"}
    assert event["job"]["video_path"] is None


@pytest.mark.parametrize(
    "options",
    [{"duplicates": 10}, {"reverse": True}, {"duplicates": 10, "reverse": True}],
    ids=["duplicates", "reverse", "both"],
)
async def test_duplicates_and_reordering_leave_one_row_per_state(
    live: LiveApp, options: dict[str, Any]
) -> None:
    job = await live.submit(provider="sim", provider_options={**FAST, **options})
    job = await live.wait_for(job["id"])

    assert job["state"] == "succeeded"
    assert len(states(job)) == len(set(states(job)))
    assert states(job)[-1] == "succeeded"
    if not options.get("reverse"):
        assert states(job) == ["pending", "submitted", "running", "succeeded"]
    events = await live.clipwire.store.events_for(job["id"])
    assert len(events) == len({e["kind"] for e in events})  # each kind stored once
    assert len(job["actions"]) == 2  # actions were queued once, not per delivery


async def test_a_callback_that_beats_the_submit_answer_is_applied(live: LiveApp) -> None:
    # The success webhook is delivered before the submit answer; the rest would come a minute
    # later, long after this test, so only the early callback can have finished the job.
    job = await live.submit(
        provider="sim", provider_options={"early": True, "reverse": True, "delay": 60}
    )
    job = await live.wait_for(job["id"])

    assert job["state"] == "succeeded"
    assert len(states(job)) == len(set(states(job)))
    assert Path(action(job, "mirror")["result"]["path"]).read_bytes() == SAMPLE_MP4
    (event,) = await live.clipwire.store.events_for(job["id"])
    assert (event["kind"], event["outcome"]) == ("succeeded", "moved to succeeded")


async def test_a_notify_is_retried_until_it_gets_through(tmp_path: Path) -> None:
    async with (
        notify_sink([500, 500]) as sink,
        live_app(tmp_path / "data", action_retry_base=0.01) as live,
    ):
        job = await live.submit(
            provider="sim",
            provider_options=FAST,
            actions=[{"kind": "notify", "url": sink.url}],
        )
        job = await live.wait_for(job["id"])

    notify = action(job, "notify")
    assert (notify["state"], notify["attempts"]) == ("done", 3)
    assert notify["result"]["status"] == 200
    assert [event["type"] for event in sink.received] == ["job.succeeded"] * 3
    assert len(set(sink.keys)) == 1  # one idempotency key across the retries


async def test_an_idempotency_key_returns_the_same_job(live: LiveApp) -> None:
    body = {"prompt": "a red fox", "provider": "sim", "provider_options": {"silent": True}}
    headers = {"Idempotency-Key": "order-42"}
    first = await live.client.post("/v1/jobs", json=body, headers=headers)
    again = await live.client.post("/v1/jobs", json=body, headers=headers)
    other = await live.client.post("/v1/jobs", json={**body, "prompt": "x"}, headers=headers)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    listed = (await live.client.get("/v1/jobs")).json()["jobs"]
    assert [j["id"] for j in listed] == [first.json()["id"]]


async def cancel(live: LiveApp, job_id: str) -> httpx.Response:
    return await live.client.post(f"/v1/jobs/{job_id}/cancel")


async def test_cancel_a_pending_job(live: LiveApp) -> None:
    await live.clipwire.worker.stop()  # hold the job in pending: nothing submits it
    try:
        job = await live.submit(provider="sim", provider_options={"silent": True})
        answer = await cancel(live, job["id"])
    finally:
        live.clipwire.worker.start()

    assert answer.status_code == 200
    assert answer.json()["state"] == "cancelled"
    assert states(answer.json()) == ["pending", "cancelled"]
    assert answer.json()["error"] == {"code": "cancelled", "message": "cancelled by user"}


async def test_cancel_a_running_job_then_again(live: LiveApp) -> None:
    job = await submitted_silent_job(live)
    await post_webhook(live, job, {"status": "running"})
    await live.wait_for(job["id"], lambda j: j["state"] == "running")

    answer = await cancel(live, job["id"])
    assert answer.status_code == 200
    assert states(answer.json()) == ["pending", "submitted", "running", "cancelled"]

    again = await cancel(live, job["id"])
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_finished"
    assert states((await live.client.get(f"/v1/jobs/{job['id']}")).json())[-1] == "cancelled"


async def test_cancel_a_finished_job_is_a_conflict(live: LiveApp) -> None:
    job = await live.wait_for((await live.submit(provider="sim", provider_options=FAST))["id"])
    answer = await cancel(live, job["id"])
    assert answer.status_code == 409
    assert set(answer.json()["error"]) == {"code", "message"}
    assert (await live.client.get(f"/v1/jobs/{job['id']}")).json()["state"] == "succeeded"


async def test_list_jobs_filters_by_state_and_provider(live: LiveApp) -> None:
    done = await live.wait_for((await live.submit(provider="sim", provider_options=FAST))["id"])
    waiting = await submitted_silent_job(live)

    async def listed(**query: str) -> list[str]:
        answer = await live.client.get("/v1/jobs", params=query)
        assert answer.status_code == 200, answer.text
        return [job["id"] for job in answer.json()["jobs"]]

    assert await listed(state="succeeded") == [done["id"]]
    assert await listed(state="submitted") == [waiting["id"]]
    assert await listed(state="failed") == []
    assert await listed(provider="sim") == [waiting["id"], done["id"]]
    assert await listed(provider="sim", state="succeeded") == [done["id"]]
    assert await listed(provider="minimax") == []
    assert await listed(limit="1") == [waiting["id"]]
    bad = await live.client.get("/v1/jobs", params={"state": "finished"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "bad_request"


async def transitions_from(lines: AsyncIterator[str], job_id: str, until: str) -> list[str]:
    """Read server-sent events until ``job_id`` enters ``until``; return the states it entered."""
    seen: list[str] = []
    async for line in lines:
        if not line.startswith("data: "):
            continue
        message = json.loads(line.removeprefix("data: "))
        if message["type"] == "transition":
            assert message["job_id"] == job_id
            seen.append(message["to"])
            if message["to"] == until:
                return seen
    raise AssertionError(f"the stream ended after {seen}")


@contextlib.asynccontextmanager
async def event_stream(live: LiveApp, **query: str) -> AsyncIterator[AsyncIterator[str]]:
    async with live.client.stream("GET", "/v1/stream", params=query) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        assert await anext(lines) == ": connected"  # subscribed: nothing from now on is missed
        yield lines


async def test_the_stream_delivers_a_jobs_transitions_as_they_happen(live: LiveApp) -> None:
    async with event_stream(live) as lines:
        job = await live.submit(provider="sim", provider_options=FAST)
        seen = await transitions_from(lines, job["id"], "succeeded")
    assert seen == ["submitted", "running", "succeeded"]


async def test_the_stream_can_follow_one_job(live: LiveApp) -> None:
    followed = await submitted_silent_job(live)
    async with event_stream(live, job=followed["id"]) as lines:
        other = await live.submit(provider="sim", provider_options=FAST)
        await live.wait_for(other["id"])
        await cancel(live, followed["id"])
        # The other job's transitions all came first; the stream showed none of them.
        assert await transitions_from(lines, followed["id"], "cancelled") == ["cancelled"]
