from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from orchestrator.errors import (
    InvalidJobRequest,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from orchestrator.models import JobRequest
from orchestrator.providers import ADAPTERS
from orchestrator.providers.base import ProviderConfig
from orchestrator.providers.runcomfy import PRO_TEXT_TO_VIDEO, RunComfyAdapter
from orchestrator.sim.server import SAMPLE_MP4
from orchestrator.states import EventKind
from tests.conftest import live_app
from tests.providers.conftest import FAST_POLLS, mirrored, point_at
from tests.providers.fakes.jobs import make_job
from tests.providers.fakes.runcomfy import FAIL_MESSAGE, FakeRunComfy

pytestmark = pytest.mark.anyio

BASE = "https://model-api.runcomfy.net"
RID = "rc-00000001"
VIDEO = "https://cdn.runcomfy.net/outputs/rc-00000001.mp4"
PRO_T2V = {"tier": "pro", "resolution": "1080P"}


def adapter() -> RunComfyAdapter:
    return RunComfyAdapter(ProviderConfig(base_url=BASE, api_key="rc-key"))


def job_request(**fields: Any) -> JobRequest:
    return JobRequest(
        **{"provider": "runcomfy", "prompt": "a chef flames a wok", **PRO_T2V, **fields}
    )


# the requests it builds


def test_registered_as_a_polling_provider() -> None:
    assert ADAPTERS["runcomfy"] is RunComfyAdapter
    assert not RunComfyAdapter.has_webhooks


def test_submit_posts_the_documented_input_schema_to_the_pro_text_to_video_model() -> None:
    built = adapter().build_submit(make_job(job_request(prompt_optimizer=False)), "unused")
    assert built.method == "POST"
    assert str(built.url) == f"{BASE}/v1/models/minimax/hailuo-2-3/pro/text-to-video"
    assert PRO_TEXT_TO_VIDEO == "minimax/hailuo-2-3/pro/text-to-video"
    assert built.headers["authorization"] == "Bearer rc-key"
    assert built.headers["content-type"] == "application/json"
    assert json.loads(built.content) == {
        "prompt": "a chef flames a wok",
        "enable_prompt_expansion": False,
    }


@pytest.mark.parametrize(
    ("build", "method", "path"),
    [
        (RunComfyAdapter.build_status, "GET", f"/v1/requests/{RID}/status"),
        (RunComfyAdapter.build_result, "GET", f"/v1/requests/{RID}/result"),
        (RunComfyAdapter.build_cancel, "POST", f"/v1/requests/{RID}/cancel"),
    ],
)
def test_status_result_and_cancel_address_the_request(
    build: Callable[..., httpx.Request | None], method: str, path: str
) -> None:
    built = build(adapter(), make_job(job_request(), task_id=RID))
    assert built is not None
    assert (built.method, str(built.url)) == (method, f"{BASE}{path}")
    assert built.headers["authorization"] == "Bearer rc-key"
    assert build(adapter(), make_job(job_request())) is None  # no request id yet


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"tier": "standard"}, "only Hailuo 2.3 Pro text-to-video"),
        ({"image_url": "https://example.com/a.jpg"}, "only Hailuo 2.3 Pro text-to-video"),
        ({"provider_options": {"variant": "fast"}}, "only Hailuo 2.3 Pro text-to-video"),
        ({"resolution": "768P"}, "1080P"),
        ({"duration": 10}, "duration 6"),
    ],
)
def test_refuses_what_the_page_does_not_offer(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidJobRequest, match=words) as caught:
        adapter().validate(job_request(**fields))
    assert caught.value.code == "unsupported_combination"


def test_accepts_pro_text_to_video_at_1080p() -> None:
    adapter().validate(job_request())


# reading what it says


def test_the_submit_answer_gives_the_request_id() -> None:
    answer = {
        "request_id": RID,
        "status_url": f"{BASE}/v1/requests/{RID}/status",
        "result_url": f"{BASE}/v1/requests/{RID}/result",
        "cancel_url": f"{BASE}/v1/requests/{RID}/cancel",
    }
    event = adapter().parse_submit(httpx.Response(200, json=answer))
    assert (event.kind, event.task_id) == (EventKind.SUBMITTED, RID)
    with pytest.raises(ProviderRejected):
        adapter().parse_submit(httpx.Response(200, json={"status_url": "x"}))


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"request_id": RID, "status": "in_queue", "queue_position": 3}, EventKind.QUEUED),
        ({"request_id": RID, "status": "in_progress"}, EventKind.RUNNING),
        ({"request_id": RID, "status": "completed"}, EventKind.SUCCEEDED),
        ({"request_id": RID, "status": "cancelled"}, EventKind.CANCELLED),
        ({"request_id": RID, "status": "failed", "error": "boom"}, EventKind.FAILED),
        ({"request_id": RID, "status": "sleeping"}, EventKind.UNKNOWN),
        ({"request_id": RID}, EventKind.UNKNOWN),
        ([], EventKind.UNKNOWN),
        ("completed", EventKind.UNKNOWN),
    ],
)
def test_status_answers(body: Any, kind: EventKind) -> None:
    assert adapter().parse_status(httpx.Response(200, json=body)).kind is kind


@pytest.mark.parametrize(
    ("output", "urls"),
    [
        ({"video": VIDEO}, (VIDEO,)),
        ({"videos": [VIDEO, VIDEO + "?2"]}, (VIDEO, VIDEO + "?2")),
        ({"image": VIDEO}, (VIDEO,)),
        ({"images": [VIDEO]}, (VIDEO,)),
    ],
)
def test_a_completed_result_carries_its_output_urls(
    output: dict[str, Any], urls: tuple[str, ...]
) -> None:
    body = {"request_id": RID, "status": "completed", "output": output}
    event = adapter().parse_result(httpx.Response(200, json=body))
    assert (event.kind, event.task_id, event.outputs) == (EventKind.SUCCEEDED, RID, urls)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"request_id": RID, "status": "completed"}, EventKind.UNKNOWN),  # no video
        ({"request_id": RID, "status": "completed", "output": {"video": 7}}, EventKind.UNKNOWN),
        ({"request_id": RID, "status": "in_progress"}, EventKind.RUNNING),  # not done after all
        (
            {"request_id": RID, "status": "completed", "error": {"code": "E1", "message": "m"}},
            EventKind.FAILED,
        ),
        ({}, EventKind.UNKNOWN),
    ],
)
def test_result_answers_that_are_not_a_usable_success(body: Any, kind: EventKind) -> None:
    assert adapter().parse_result(httpx.Response(200, json=body)).kind is kind


def test_a_failure_keeps_runcomfys_code_and_message() -> None:
    body = {
        "request_id": RID,
        "status": "failed",
        "error": {"code": "OOM", "message": "out of memory"},
    }
    event = adapter().parse_status(httpx.Response(200, json=body))
    assert (event.kind, event.error_code, event.error_message) == (
        EventKind.FAILED,
        "OOM",
        "out of memory",
    )


def test_an_undocumented_webhook_is_read_like_a_result() -> None:
    body = {"request_id": RID, "status": "completed", "output": {"video": VIDEO}}
    assert adapter().parse_webhook(body).outputs == (VIDEO,)
    assert adapter().parse_webhook({"status": "completed"}).kind is EventKind.UNKNOWN


# status is two calls when the request is complete


async def test_status_of_a_completed_request_reads_its_result_too() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/status"):
            return httpx.Response(200, json={"request_id": RID, "status": "completed"})
        return httpx.Response(
            200, json={"request_id": RID, "status": "completed", "output": {"video": VIDEO}}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        event = await adapter().status(client, make_job(job_request(), task_id=RID))
    assert seen == [f"/v1/requests/{RID}/status", f"/v1/requests/{RID}/result"]
    assert event is not None and (event.kind, event.outputs) == (EventKind.SUCCEEDED, (VIDEO,))


async def test_status_of_a_running_request_is_one_call() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"request_id": RID, "status": "in_progress"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        event = await adapter().status(client, make_job(job_request(), task_id=RID))
        assert await adapter().status(client, make_job(job_request())) is None
    assert seen == [f"/v1/requests/{RID}/status"]
    assert event is not None and event.kind is EventKind.RUNNING


# errors, through the real client


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "words", "retry_after"),
    [
        (
            401,
            {"detail": "Invalid or missing API token"},
            {},
            ProviderAuthError,
            "Invalid or missing API token",
            None,
        ),
        (403, {"detail": "Forbidden"}, {}, ProviderAuthError, "Forbidden", None),
        (
            429,
            {"detail": "Too many requests"},
            {"Retry-After": "3"},
            ProviderUnavailable,
            "Too many requests",
            3.0,
        ),
        (502, b"bad gateway", {}, ProviderUnavailable, "bad gateway", None),
        (404, {"detail": "Model x not found"}, {}, ProviderRejected, "Model x not found", None),
        (
            422,
            {"error": {"code": "schema", "message": "prompt is required"}},
            {},
            ProviderRejected,
            "prompt is required",
            None,
        ),
    ],
)
async def test_http_errors_map_to_the_error_tree_with_runcomfys_words(
    status: int,
    body: Any,
    headers: dict[str, str],
    error: type[ProviderError],
    words: str,
    retry_after: float | None,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(error) as caught:
            await adapter().submit(client, make_job(job_request()), "unused")
    assert type(caught.value) is error
    assert words in caught.value.message
    assert caught.value.retry_after == retry_after


# end to end: the real app polls the fake over real HTTP


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeRunComfy]:
    fake = FakeRunComfy()
    async with fake.serving():
        point_at(monkeypatch, "runcomfy", fake)
        yield fake


async def test_a_runcomfy_job_succeeds_by_polling_and_its_video_is_mirrored(
    fake: FakeRunComfy, tmp_path: Path
) -> None:
    async with live_app(tmp_path / "data", **FAST_POLLS) as live:
        job = await live.wait_for((await live.submit(provider="runcomfy", **PRO_T2V))["id"])
    assert job["state"] == "succeeded", job
    [item] = fake.requests.values()
    assert job["provider_task_id"] == item.id
    assert job["outputs"] == [f"{fake.base_url}/files/{item.id}.mp4"]
    paths = [s.path for s in fake.seen]
    assert paths[-1] == f"/v1/requests/{item.id}/result"
    assert f"/v1/requests/{item.id}/status" in paths
    assert mirrored(job) == SAMPLE_MP4


async def test_a_failed_runcomfy_request_fails_the_job_with_its_message(
    fake: FakeRunComfy, tmp_path: Path
) -> None:
    fake.outcome = "fail"
    async with live_app(tmp_path / "data", **FAST_POLLS) as live:
        job = await live.wait_for((await live.submit(provider="runcomfy", **PRO_T2V))["id"])
    assert job["state"] == "failed", job
    assert job["error"]["message"] == FAIL_MESSAGE


async def test_cancelling_a_queued_runcomfy_job_cancels_it_at_runcomfy(
    fake: FakeRunComfy, tmp_path: Path
) -> None:
    fake.hold = True
    async with live_app(tmp_path / "data", **FAST_POLLS) as live:
        job = await live.submit(provider="runcomfy", **PRO_T2V)
        job = await live.wait_for(job["id"], lambda j: j["provider_task_id"] is not None)
        answer = await live.client.post(f"/v1/jobs/{job['id']}/cancel")
        assert answer.status_code == 200, answer.text
        job = await live.wait_for(job["id"])
        with anyio.fail_after(10):  # the cancel at the provider runs in the background
            while not fake.cancels:
                await asyncio.sleep(0.02)
    assert job["state"] == "cancelled"
    assert fake.cancels == [job["provider_task_id"]]
    assert fake.requests[job["provider_task_id"]].status == "cancelled"


async def test_an_unsupported_runcomfy_job_is_refused_with_422_before_any_call(
    fake: FakeRunComfy, tmp_path: Path
) -> None:
    async with live_app(tmp_path / "data") as live:
        answer = await live.client.post(
            "/v1/jobs", json={"provider": "runcomfy", "prompt": "a fox", "tier": "standard"}
        )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "unsupported_combination"
    assert fake.seen == []
