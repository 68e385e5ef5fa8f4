from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
from orchestrator.providers.apiinone import APIInOneAdapter
from orchestrator.providers.base import ProviderConfig
from orchestrator.sim.server import SAMPLE_MP4
from orchestrator.states import EventKind
from tests.conftest import live_app
from tests.providers.conftest import FAST_POLLS, mirrored, point_at
from tests.providers.fakes.apiinone import FAIL_MESSAGE, FakeAPIInOne
from tests.providers.fakes.jobs import make_job

pytestmark = pytest.mark.anyio

BASE = "https://apiin.one"
CALLBACK = "http://127.0.0.1:8700/hooks/apiinone/tok"
IMAGE = "https://example.com/golden-retriever.jpg"
PROMPT = "A golden retriever running through a sunflower field at sunset, slow motion"
TASK = "n51xxxx_hailuo"
VIDEO = "https://cdn.apiin.one/out/n51xxxx_hailuo.mp4"
# The page's example request.
DOC_BODY = {
    "model": "hailuo/2-3-image-to-video-standard",
    "prompt": PROMPT,
    "image": IMAGE,
    "duration": "6",
    "resolution": "768P",
}


def adapter(**options: str) -> APIInOneAdapter:
    return APIInOneAdapter(ProviderConfig(base_url=BASE, api_key="aio_key", options=options))


def job_request(**fields: Any) -> JobRequest:
    return JobRequest(**{"provider": "apiinone", "prompt": PROMPT, "image_url": IMAGE, **fields})


# the requests it builds


def test_registered_as_a_polling_provider() -> None:
    assert ADAPTERS["apiinone"] is APIInOneAdapter
    assert not APIInOneAdapter.has_webhooks


def test_submit_is_the_pages_example_request() -> None:
    built = adapter().build_submit(make_job(job_request()), CALLBACK)
    assert built.method == "POST"
    assert str(built.url) == f"{BASE}/api/v1/videos/generations"
    assert built.headers["authorization"] == "Bearer aio_key"
    assert built.headers["content-type"] == "application/json"
    assert json.loads(built.content) == DOC_BODY  # no callback field unless configured


def test_pro_tier_10_seconds_and_a_configured_webhook_field() -> None:
    request = job_request(tier="pro", duration=10)
    body = json.loads(
        adapter(webhook_field="callback_url").build_submit(make_job(request), CALLBACK).content
    )
    assert body["model"] == "hailuo/2-3-image-to-video-pro"
    assert body["duration"] == "10"  # a string, as documented
    assert body["callback_url"] == CALLBACK


def test_status_gets_the_task() -> None:
    built = adapter().build_status(make_job(job_request(), task_id=TASK))
    assert built is not None
    assert (built.method, str(built.url)) == ("GET", f"{BASE}/api/v1/tasks/{TASK}")
    assert built.headers["authorization"] == "Bearer aio_key"
    assert adapter().build_status(make_job(job_request())) is None
    assert adapter().build_cancel(make_job(job_request(), task_id=TASK)) is None


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"image_url": None}, "image-to-video only"),
        ({"image_url": "data:image/png;base64,AAAA"}, "data: URI"),
        ({"provider_options": {"variant": "fast"}}, "no Fast"),
        ({"duration": 10, "resolution": "1080P"}, "768P only"),
    ],
)
def test_refuses_what_api_in_one_does_not_offer(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidJobRequest, match=words) as caught:
        adapter().validate(job_request(**fields))
    assert caught.value.code == "unsupported_combination"


@pytest.mark.parametrize("fields", [{}, {"tier": "pro", "resolution": "1080P"}, {"duration": 10}])
def test_accepts_what_api_in_one_offers(fields: dict[str, Any]) -> None:
    adapter().validate(job_request(**fields))


# reading what it says


def test_the_pages_submit_answer_is_a_running_task() -> None:
    answer = {"code": 200, "message": "success", "data": {"task_id": TASK, "status": "IN_PROGRESS"}}
    event = adapter().parse_submit(httpx.Response(200, json=answer))
    assert (event.kind, event.task_id) == (EventKind.RUNNING, TASK)


def test_a_submit_answer_without_a_task_id_is_refused() -> None:
    with pytest.raises(ProviderRejected):
        adapter().parse_submit(httpx.Response(200, json={"code": 200, "data": {}}))


def _wrapped(data: dict[str, Any]) -> dict[str, Any]:
    return {"code": 200, "message": "success", "data": data}


@pytest.mark.parametrize("wrap", [_wrapped, dict], ids=["enveloped", "flat"])
@pytest.mark.parametrize(
    ("data", "kind", "outputs"),
    [
        ({"task_id": TASK, "status": "IN_PROGRESS"}, EventKind.RUNNING, ()),
        ({"task_id": TASK, "status": "pending"}, EventKind.QUEUED, ()),
        (
            {"task_id": TASK, "status": "completed", "output": {"video_url": VIDEO}},
            EventKind.SUCCEEDED,
            (VIDEO,),
        ),
        (
            {"task_id": TASK, "status": "SUCCESS", "result": {"videos": [VIDEO]}},
            EventKind.SUCCEEDED,
            (VIDEO,),
        ),
        (
            {"taskId": TASK, "status": "completed", "video_url": VIDEO},
            EventKind.SUCCEEDED,
            (VIDEO,),
        ),
        (
            {"task_id": TASK, "status": "completed", "output": [{"url": VIDEO}, {"url": VIDEO}]},
            EventKind.SUCCEEDED,
            (VIDEO,),
        ),
        ({"task_id": TASK, "status": "cancelled"}, EventKind.CANCELLED, ()),
        ({"task_id": TASK, "status": "completed"}, EventKind.UNKNOWN, ()),  # done, no video
        ({"task_id": TASK, "status": "completed", "image": IMAGE}, EventKind.UNKNOWN, ()),
        ({"task_id": TASK, "status": "warping"}, EventKind.UNKNOWN, ()),
        ({"task_id": TASK}, EventKind.UNKNOWN, ()),
    ],
)
def test_task_answers_in_both_readings(
    wrap: Any, data: dict[str, Any], kind: EventKind, outputs: tuple[str, ...]
) -> None:
    for read in (
        adapter().parse_webhook,
        lambda body: adapter().parse_status(httpx.Response(200, json=body)),
    ):
        event = read(wrap(data))
        assert (event.kind, event.task_id, event.outputs) == (kind, TASK, outputs)


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (
            {"status": "failed", "error": "Image failed content review"},
            None,
            "Image failed content review",
        ),
        (
            {
                "status": "failed",
                "error": {"code": 500, "message": "upstream", "type": "server_error"},
            },
            "500",
            "upstream (server_error)",
        ),
        ({"status": "FAILED", "fail_reason": "nsfw"}, None, "nsfw"),
        ({"status": "failed"}, None, None),
    ],
)
def test_failures_keep_api_in_ones_words(
    data: dict[str, Any], code: str | None, message: str | None
) -> None:
    event = adapter().parse_webhook(_wrapped({"task_id": TASK, **data}))
    assert (event.kind, event.error_code, event.error_message) == (EventKind.FAILED, code, message)


@pytest.mark.parametrize("body", [None, [], "completed", 7, {}, {"code": 200, "data": None}])
def test_unknown_webhook_bodies_are_unknown_events(body: Any) -> None:
    assert adapter().parse_webhook(body).kind is EventKind.UNKNOWN


# errors, through the real client


def _error(code: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "type": kind}}


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "words", "retry_after"),
    [
        (
            401,
            _error(401, "Invalid API key", "authentication_error"),
            {},
            ProviderAuthError,
            "Invalid API key",
            None,
        ),
        (
            403,
            _error(403, "Forbidden", "permission_error"),
            {},
            ProviderAuthError,
            "Forbidden",
            None,
        ),
        (
            429,
            _error(429, "Rate limit exceeded", "rate_limit"),
            {"Retry-After": "5"},
            ProviderUnavailable,
            "Rate limit exceeded",
            5.0,
        ),
        (500, b"Internal Server Error", {}, ProviderUnavailable, "Internal Server Error", None),
        (
            400,
            _error(400, "Invalid parameters", "invalid_request"),
            {},
            ProviderRejected,
            "Invalid parameters (invalid_request)",
            None,
        ),
        (
            402,
            _error(402, "Insufficient credits", "billing"),
            {},
            ProviderRejected,
            "Insufficient credits",
            None,
        ),
        # a 2xx answer whose envelope says otherwise
        (
            200,
            {"code": 401, "message": "Invalid API key"},
            {},
            ProviderAuthError,
            "Invalid API key",
            None,
        ),
        (
            200,
            {"code": 400, "message": "image is required"},
            {},
            ProviderRejected,
            "image is required",
            None,
        ),
        (
            200,
            {"code": 503, "message": "node51 busy"},
            {},
            ProviderUnavailable,
            "node51 busy",
            None,
        ),
        (
            200,
            _error(400, "Invalid parameters", "invalid_request"),
            {},
            ProviderRejected,
            "Invalid parameters",
            None,
        ),
    ],
)
async def test_errors_map_to_the_error_tree_with_api_in_ones_words(
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
            await adapter().submit(client, make_job(job_request()), CALLBACK)
        with pytest.raises(error):
            await adapter().status(client, make_job(job_request(), task_id=TASK))
    assert type(caught.value) is error
    assert words in caught.value.message
    assert caught.value.retry_after == retry_after


# end to end: the real app polls the fake (or the fake calls back) over real HTTP


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAPIInOne]:
    fake = FakeAPIInOne()
    async with fake.serving():
        point_at(monkeypatch, "apiinone", fake)
        yield fake


@pytest.mark.parametrize("wrapped", [True, False], ids=["enveloped", "flat"])
async def test_an_api_in_one_job_succeeds_by_polling_and_its_video_is_mirrored(
    fake: FakeAPIInOne, tmp_path: Path, wrapped: bool
) -> None:
    fake.wrapped = wrapped
    async with live_app(tmp_path / "data", **FAST_POLLS) as live:
        job = await live.wait_for((await live.submit(provider="apiinone", image_url=IMAGE))["id"])
    assert job["state"] == "succeeded", job
    [task] = fake.tasks.values()
    assert task.body == {**DOC_BODY, "prompt": "a red fox"}
    assert job["provider_task_id"] == task.id
    assert job["outputs"] == [f"{fake.base_url}/files/{task.id}.mp4"]
    assert task.polls >= fake.polls_to_finish
    assert mirrored(job) == SAMPLE_MP4


async def test_a_failed_api_in_one_task_fails_the_job_with_its_message(
    fake: FakeAPIInOne, tmp_path: Path
) -> None:
    fake.outcome = "fail"
    async with live_app(tmp_path / "data", **FAST_POLLS) as live:
        job = await live.wait_for((await live.submit(provider="apiinone", image_url=IMAGE))["id"])
    assert job["state"] == "failed", job
    assert job["error"]["message"] == FAIL_MESSAGE


async def test_with_a_webhook_field_the_callback_finishes_the_job(
    fake: FakeAPIInOne, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIPWIRE_APIINONE_WEBHOOK_FIELD", "callback_url")
    fake.webhook_field = "callback_url"
    fake.polls_to_finish = 10**6  # polling alone would never see it end
    async with live_app(tmp_path / "data", status_poll_interval=3600.0) as live:
        job = await live.wait_for((await live.submit(provider="apiinone", image_url=IMAGE))["id"])
    assert job["state"] == "succeeded", job
    [task] = fake.tasks.values()
    assert task.deliveries == [202]
    assert task.polls == 0


async def test_text_to_video_on_api_in_one_is_refused_with_422_before_any_call(
    fake: FakeAPIInOne, tmp_path: Path
) -> None:
    async with live_app(tmp_path / "data") as live:
        answer = await live.client.post(
            "/v1/jobs", json={"provider": "apiinone", "prompt": "a fox"}
        )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "unsupported_combination"
    assert fake.seen == []
