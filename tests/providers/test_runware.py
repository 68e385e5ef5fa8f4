from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
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
from orchestrator.providers.base import ProviderConfig
from orchestrator.providers.runware import RunwareAdapter
from orchestrator.sim.server import SAMPLE_MP4
from orchestrator.states import EventKind
from tests.conftest import live_app
from tests.providers.conftest import mirrored, point_at
from tests.providers.fakes.jobs import make_job
from tests.providers.fakes.runware import FAIL_CODE, FAIL_MESSAGE, FakeRunware

pytestmark = pytest.mark.anyio

CALLBACK = "http://127.0.0.1:8700/hooks/runware/tok"
IMAGE = "https://assets.runware.ai/assets/inputs/42669300-03ee-4ffc-838b-725c43d380da.jpg"
# The page's t2v and i2v examples, prompts shortened.
DOC_T2V = {
    "taskType": "videoInference",
    "model": "minimax:4@1",
    "positivePrompt": "A vast forgotten ballroom fully submerged underwater",
    "width": 1920,
    "height": 1080,
    "duration": 6,
    "fps": 25,
    "providerSettings": {"minimax": {"promptOptimizer": False}},
}
DOC_I2V = {
    **DOC_T2V,
    "positivePrompt": "Animate from the provided first frame",
    "width": 1366,
    "height": 768,
    "inputs": {"frameImages": [{"image": IMAGE, "frame": "first"}]},
}
DOC_WEBHOOK = {
    "taskType": "videoInference",
    "taskUUID": "12c20a98-991b-459f-b3a3-41741a7dfd19",
    "videoUUID": "bfe8f918-e001-4d15-99ed-57b2abf769b5",
    "videoURL": "https://vm.runware.ai/video/os/a12d13/ws/5/vi/bfe8f918-e001-4d15-99ed-57b2abf769b5.mp4",
    "seed": 552434557,
    "cost": 0.49,
}
TASK = DOC_WEBHOOK["taskUUID"]
ERROR_ITEM = {
    "code": "invalidPositivePrompt",
    "message": "Invalid value for positivePrompt parameter.",
    "parameter": "positivePrompt",
    "taskType": "videoInference",
    "taskUUID": TASK,
}


def adapter(key: str | None = "rw-key") -> RunwareAdapter:
    return RunwareAdapter(ProviderConfig(base_url=RunwareAdapter.default_base_url, api_key=key))


def job_request(**fields: Any) -> JobRequest:
    return JobRequest(**{"provider": "runware", "prompt": "a red fox", **fields})


def sent_tasks(request: httpx.Request) -> list[dict[str, Any]]:
    body = json.loads(request.content)
    assert isinstance(body, list)
    return body


# the requests it builds


def test_registered_under_its_name() -> None:
    assert ADAPTERS["runware"] is RunwareAdapter
    assert RunwareAdapter.has_webhooks


def test_text_to_video_is_one_task_in_an_array_shaped_like_the_pages_example() -> None:
    request = job_request(
        prompt=DOC_T2V["positivePrompt"], resolution="1080P", prompt_optimizer=False
    )
    built = adapter().build_submit(make_job(request), CALLBACK)
    assert built.method == "POST"
    assert str(built.url) == "https://api.runware.ai/v1"
    assert built.headers["authorization"] == "Bearer rw-key"
    assert built.headers["content-type"] == "application/json"
    [task] = sent_tasks(built)
    assert {k: task[k] for k in DOC_T2V} == DOC_T2V
    assert uuid.UUID(task["taskUUID"]).version == 4
    assert task["deliveryMethod"] == "async"
    assert task["webhookURL"] == CALLBACK
    assert "inputs" not in task


def test_image_to_video_sends_the_first_frame_like_the_pages_example() -> None:
    request = job_request(
        prompt=DOC_I2V["positivePrompt"], image_url=IMAGE, resolution="768P", prompt_optimizer=False
    )
    [task] = sent_tasks(adapter().build_submit(make_job(request), CALLBACK))
    assert {k: task[k] for k in DOC_I2V} == DOC_I2V


def test_fast_variant_is_minimax_4_at_2_and_each_attempt_gets_its_own_task_uuid() -> None:
    request = job_request(image_url=IMAGE, provider_options={"variant": "fast"})
    job = make_job(request)

    def task_uuid(job: Any) -> str:
        return str(sent_tasks(adapter().build_submit(job, CALLBACK))[0]["taskUUID"])

    assert sent_tasks(adapter().build_submit(job, CALLBACK))[0]["model"] == "minimax:4@2"
    # The same attempt names the same task (so a lost answer can be looked up), a new attempt
    # or another job a new one; always a version 4 UUID, as Runware asks.
    assert task_uuid(job) == task_uuid(job)
    assert task_uuid(job) != task_uuid(make_job(request, submit_attempts=2))
    assert task_uuid(job) != task_uuid(make_job(request, id="job_0000000000002"))
    assert uuid.UUID(task_uuid(job)).version == 4


def test_status_asks_getresponse_for_the_task() -> None:
    built = adapter().build_status(make_job(job_request(), task_id=TASK))
    assert built is not None and built.method == "POST"
    assert sent_tasks(built) == [{"taskType": "getResponse", "taskUUID": TASK}]
    assert adapter().build_status(make_job(job_request())) is None
    assert adapter().build_cancel(make_job(job_request(), task_id=TASK)) is None


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"provider_options": {"variant": "fast"}}, "image-to-video only"),
        ({"provider_options": {"variant": "turbo"}}, "variant"),
        ({"tier": "pro"}, "no pro tier"),
        ({"duration": 10, "resolution": "1080P"}, "768P only"),
    ],
)
def test_refuses_what_runware_does_not_offer(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidJobRequest, match=words) as caught:
        adapter().validate(job_request(**fields))
    assert caught.value.code == "unsupported_combination"


@pytest.mark.parametrize(
    "fields",
    [{}, {"image_url": IMAGE, "provider_options": {"variant": "fast"}}, {"duration": 10}],
)
def test_accepts_what_runware_offers(fields: dict[str, Any]) -> None:
    adapter().validate(job_request(**fields))


# reading what it says


def test_the_async_acknowledgement_is_a_submission_with_the_task_uuid() -> None:
    answer = httpx.Response(200, json={"data": [{"taskType": "videoInference", "taskUUID": TASK}]})
    event = adapter().parse_submit(answer)
    assert (event.kind, event.task_id) == (EventKind.SUBMITTED, TASK)


def test_the_pages_webhook_is_a_success_with_the_video_url() -> None:
    event = adapter().parse_webhook(DOC_WEBHOOK)
    assert event.kind is EventKind.SUCCEEDED
    assert event.task_id == TASK
    assert event.outputs == (DOC_WEBHOOK["videoURL"],)


@pytest.mark.parametrize(
    "body",
    [
        {"errors": [ERROR_ITEM]},  # the documented error array
        ERROR_ITEM,  # a flat error object
        {**ERROR_ITEM, "status": "error"},
        {"data": [{**ERROR_ITEM, "status": "error"}]},
        {"error": ERROR_ITEM},
    ],
)
def test_failure_webhooks_in_every_shape_carry_runwares_code_and_message(body: Any) -> None:
    event = adapter().parse_webhook(body)
    assert event.kind is EventKind.FAILED
    assert event.task_id == TASK
    assert (event.error_code, event.error_message) == (ERROR_ITEM["code"], ERROR_ITEM["message"])


@pytest.mark.parametrize(
    "body",
    [
        None,
        "done",
        [],
        {},
        {"errors": []},
        {"data": []},
        {"taskUUID": TASK},
        {"taskUUID": TASK, "status": "success"},  # success without a video: nothing to fetch
        {"taskUUID": TASK, "status": "teleported"},
        {"taskUUID": TASK, "videoURL": 42},
    ],
)
def test_unknown_or_partial_bodies_are_unknown_events(body: Any) -> None:
    assert adapter().parse_webhook(body).kind is EventKind.UNKNOWN


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        (
            {"taskType": "videoInference", "taskUUID": TASK, "status": "processing"},
            EventKind.RUNNING,
        ),
        ({**DOC_WEBHOOK, "status": "success"}, EventKind.SUCCEEDED),
    ],
)
def test_getresponse_items_by_status(item: dict[str, Any], kind: EventKind) -> None:
    event = adapter().parse_status(httpx.Response(200, json={"data": [item], "errors": []}))
    assert (event.kind, event.task_id) == (kind, TASK)


def test_getresponse_error_for_the_task_is_a_failure() -> None:
    event = adapter().parse_status(httpx.Response(200, json={"data": [], "errors": [ERROR_ITEM]}))
    assert (event.kind, event.error_code) == (EventKind.FAILED, "invalidPositivePrompt")


def test_getresponse_error_about_the_request_is_raised_not_a_failed_task() -> None:
    item = {"code": "invalidApiKey", "message": "Invalid API key.", "taskType": "authentication"}
    with pytest.raises(ProviderAuthError):
        adapter().parse_status(httpx.Response(200, json={"errors": [item]}))


# errors, through the real client


def _answer(
    status: int, body: Any = None, **headers: str
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handler


def _errors(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "taskType": "videoInference"}]}


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "code", "retry_after"),
    [
        (
            401,
            _errors("invalidApiKey", "Invalid API key."),
            {},
            ProviderAuthError,
            "invalidApiKey",
            None,
        ),
        (403, {"errors": []}, {}, ProviderAuthError, "403", None),
        (
            429,
            _errors("rateLimitExceeded", "Slow down."),
            {"Retry-After": "7"},
            ProviderUnavailable,
            "rateLimitExceeded",
            7.0,
        ),
        (500, b"<html>oops</html>", {}, ProviderUnavailable, "500", None),
        (
            503,
            _errors("serviceUnavailable", "Try later."),
            {"Retry-After": "2"},
            ProviderUnavailable,
            "serviceUnavailable",
            2.0,
        ),
        (
            400,
            _errors("invalidPositivePrompt", "Invalid value for positivePrompt."),
            {},
            ProviderRejected,
            "invalidPositivePrompt",
            None,
        ),
        (
            200,
            _errors("insufficientCredits", "Not enough credits."),
            {},
            ProviderRejected,
            "insufficientCredits",
            None,
        ),
        (
            200,
            _errors("timeoutProvider", "The provider timed out."),
            {},
            ProviderUnavailable,
            "timeoutProvider",
            None,
        ),
        (
            200,
            _errors("invalidApiKey", "Invalid API key."),
            {},
            ProviderAuthError,
            "invalidApiKey",
            None,
        ),
    ],
)
async def test_submit_errors_map_to_the_error_tree_with_runwares_words(
    status: int,
    body: Any,
    headers: dict[str, str],
    error: type[ProviderError],
    code: str,
    retry_after: float | None,
) -> None:
    job = make_job(job_request())
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(_answer(status, body, **headers))
    ) as client:
        with pytest.raises(error) as caught:
            await adapter().submit(client, job, CALLBACK)
    assert type(caught.value) is error
    assert caught.value.provider_code == code
    assert caught.value.retry_after == retry_after
    if isinstance(body, dict) and body["errors"]:
        assert body["errors"][0]["message"] in caught.value.message


async def test_a_submit_answer_that_is_not_json_or_has_no_task_is_an_error() -> None:
    job = make_job(job_request())
    for handler in (_answer(200, b"not json"), _answer(200, {"data": []})):
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            with pytest.raises(ProviderError):
                await adapter().submit(client, job, CALLBACK)


async def test_an_unreachable_runware_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(ProviderUnavailable):
            await adapter().submit(client, make_job(job_request()), CALLBACK)


# end to end: the real app, the fake over real HTTP, the webhook back


@pytest.fixture
async def fake() -> AsyncIterator[FakeRunware]:
    fake = FakeRunware()
    async with fake.serving():
        yield fake


@pytest.fixture
def configured(fake: FakeRunware, monkeypatch: pytest.MonkeyPatch) -> FakeRunware:
    point_at(monkeypatch, "runware", fake, "/v1")
    return fake


async def test_a_runware_job_succeeds_by_webhook_and_its_video_is_mirrored(
    configured: FakeRunware, tmp_path: Path
) -> None:
    async with live_app(tmp_path / "data") as live:
        job = await live.submit(provider="runware", image_url=IMAGE, resolution="1080P")
        job = await live.wait_for(job["id"])
    assert job["state"] == "succeeded", job
    [task] = configured.tasks.values()
    assert job["provider_task_id"] == task.uuid
    assert task.deliveries == [202]
    assert job["outputs"] == [configured.result(task)["videoURL"]]
    [submit] = [s for s in configured.seen if isinstance(s.body, list)]
    assert submit.body[0]["inputs"]["frameImages"] == [{"image": IMAGE, "frame": "first"}]
    assert mirrored(job) == SAMPLE_MP4


@pytest.mark.parametrize("shape", ["errors", "flat"])
async def test_a_runware_failure_webhook_fails_the_job_with_runwares_words(
    configured: FakeRunware, tmp_path: Path, shape: str
) -> None:
    configured.outcome = "fail"
    configured.failure_shape = shape
    async with live_app(tmp_path / "data") as live:
        job = await live.wait_for((await live.submit(provider="runware"))["id"])
    assert job["state"] == "failed", job
    assert job["error"] == {"code": FAIL_CODE, "message": FAIL_MESSAGE}


async def test_a_submission_runware_refuses_fails_the_job_with_its_message(
    configured: FakeRunware, tmp_path: Path
) -> None:
    configured.submit_error = (400, "invalidPositivePrompt", "Invalid value for positivePrompt.")
    async with live_app(tmp_path / "data") as live:
        job = await live.wait_for((await live.submit(provider="runware"))["id"])
    assert job["state"] == "failed"
    assert job["error"]["code"] == "invalidPositivePrompt"
    assert "Invalid value for positivePrompt." in job["error"]["message"]


async def test_an_unsupported_runware_job_is_refused_with_422_before_any_call(
    configured: FakeRunware, tmp_path: Path
) -> None:
    async with live_app(tmp_path / "data") as live:
        answer = await live.client.post(
            "/v1/jobs", json={"provider": "runware", "prompt": "a fox", "tier": "pro"}
        )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "unsupported_combination"
    assert configured.seen == []
