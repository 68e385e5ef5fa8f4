"""RunningHub: the exact requests, every body it sends back, its error codes, and a real run.

The request examples are RunningHub's own (runninghub--api-index-and-hailuo-2.3-t2v-standard.txt
and PROVIDERS.md); the end-to-end tests run the real clipwire app against the fake in
``tests/providers/fakes/runninghub.py``, which calls back over real HTTP.
"""

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
from orchestrator.models import JobRequest, ProviderEvent
from orchestrator.providers import ADAPTERS, ProviderConfig
from orchestrator.providers.runninghub import RunningHubAdapter, error_for
from orchestrator.sim.server import SAMPLE_MP4
from orchestrator.states import EventKind
from tests.conftest import LiveApp, live_app
from tests.providers.conftest import mirrored, point_at
from tests.providers.fakes.jobs import make_job
from tests.providers.fakes.runninghub import FAIL_MSG, FAIL_REASON, FakeRunningHub

pytestmark = pytest.mark.anyio

BASE = "https://www.runninghub.ai"
CALLBACK = "https://clipwire.example/hooks/runninghub/tok"
IMAGE = "https://img.example/first.png"
DOC_PROMPT = "A massive, sudden explosion erupts from the center of the scene."


def adapter(base_url: str = BASE, api_key: str | None = "rh-key") -> RunningHubAdapter:
    return RunningHubAdapter(ProviderConfig(base_url=base_url, api_key=api_key))


def rh_request(**fields: Any) -> JobRequest:
    return JobRequest(provider="runninghub", prompt=DOC_PROMPT, **fields)


def answer(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


# the requests


def test_runninghub_is_registered_with_its_public_url() -> None:
    assert ADAPTERS["runninghub"] is RunningHubAdapter
    config = ProviderConfig.from_env("runninghub", RunningHubAdapter.default_base_url, {})
    assert config.base_url == "https://www.runninghub.ai"


VARIANTS = [
    ({}, "/openapi/v2/minimax/hailuo-2.3/t2v-standard"),
    ({"tier": "pro", "resolution": "1080P"}, "/openapi/v2/minimax/hailuo-2.3/t2v-pro"),
    ({"image_url": IMAGE}, "/openapi/v2/minimax/hailuo-2.3/i2v-standard"),
    (
        {"image_url": IMAGE, "tier": "pro", "resolution": "1080P"},
        "/openapi/v2/minimax/hailuo-2.3/image-to-video-pro",
    ),
    (
        {"image_url": IMAGE, "provider_options": {"variant": "fast"}},
        "/openapi/v2/minimax/hailuo-2.3-fast/image-to-video",
    ),
    (
        {
            "image_url": IMAGE,
            "tier": "pro",
            "resolution": "1080P",
            "provider_options": {"variant": "fast"},
        },
        "/openapi/v2/minimax/hailuo-2.3-fast-pro/image-to-video",
    ),
]


@pytest.mark.parametrize(("fields", "path"), VARIANTS)
def test_each_variant_posts_to_its_documented_path(fields: dict[str, Any], path: str) -> None:
    request = rh_request(**fields)
    adapter().validate(request)
    built = adapter().build_submit(make_job(request), CALLBACK)
    assert built.method == "POST"
    assert str(built.url) == f"{BASE}{path}"
    body = json.loads(built.content)
    assert ("imageUrl" in body) == ("image_url" in fields)


def test_the_t2v_body_matches_runninghubs_own_example() -> None:
    # The documented example: {"prompt": ..., "enablePromptExpansion": true, "duration": "6"}
    built = adapter().build_submit(make_job(rh_request()), CALLBACK)
    assert built.headers["authorization"] == "Bearer rh-key"
    assert built.headers["content-type"] == "application/json"
    assert json.loads(built.content) == {
        "prompt": DOC_PROMPT,
        "enablePromptExpansion": True,
        "duration": "6",
        "webhookUrl": CALLBACK,
    }


def test_the_i2v_body_sends_a_string_duration_and_the_image() -> None:
    request = rh_request(image_url=IMAGE, duration=10, prompt_optimizer=False)
    body = json.loads(adapter().build_submit(make_job(request), CALLBACK).content)
    assert body == {
        "prompt": DOC_PROMPT,
        "enablePromptExpansion": False,
        "duration": "10",
        "imageUrl": IMAGE,
        "webhookUrl": CALLBACK,
    }


def test_the_query_posts_the_task_id_with_a_bearer_key() -> None:
    built = adapter().build_status(make_job(rh_request(), task_id="2013508786110730241"))
    assert built is not None
    assert (built.method, str(built.url)) == ("POST", f"{BASE}/openapi/v2/query")
    assert built.headers["authorization"] == "Bearer rh-key"
    assert json.loads(built.content) == {"taskId": "2013508786110730241"}
    assert adapter().build_status(make_job(rh_request())) is None


def test_the_v1_event_tools_put_the_key_in_the_body() -> None:
    detail = adapter().build_webhook_detail("2013508786110730241")
    assert (detail.method, str(detail.url)) == ("POST", f"{BASE}/task/openapi/getWebhookDetail")
    assert json.loads(detail.content) == {"apiKey": "rh-key", "taskId": "2013508786110730241"}
    assert "authorization" not in detail.headers
    assert detail.headers["host"] == "www.runninghub.ai"
    resend = adapter().build_resend(1909, CALLBACK)
    assert str(resend.url) == f"{BASE}/task/openapi/retryWebhook"
    assert json.loads(resend.content) == {
        "apiKey": "rh-key",
        "webhookId": 1909,
        "webhookUrl": CALLBACK,
    }
    assert json.loads(adapter().build_resend("1909").content) == {
        "apiKey": "rh-key",
        "webhookId": "1909",
    }


def test_runninghub_tasks_cannot_be_cancelled() -> None:
    assert adapter().build_cancel(make_job(rh_request(), task_id="1")) is None


# what it refuses before any call


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"provider_options": {"variant": "fast"}}, "image-to-video only"),
        ({"provider_options": {"variant": "turbo"}}, "variant"),
        ({"provider_options": {"seed": 7}}, "seed"),
        ({"resolution": "1080P"}, "768P"),
        ({"tier": "pro"}, "1080P"),
        ({"tier": "pro", "resolution": "1080P", "duration": 10}, "6 s"),
    ],
)
def test_combinations_runninghub_does_not_offer_are_refused(
    fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidJobRequest, match=words) as caught:
        adapter().validate(rh_request(**fields))
    assert caught.value.code == "unsupported_combination"


# the submit answer


def test_the_documented_submit_answer_gives_the_task_id() -> None:
    body = {
        "taskId": "2013508786110730241",
        "status": "RUNNING",
        "errorCode": "",
        "errorMessage": "",
        "results": None,
        "clientId": "f828b9af25161bc066ef152db7b29ccc",
        "promptTips": '{"result": true, "error": null, "outputs_to_execute": ["4"]}',
    }
    event = adapter().parse_submit(answer(body))
    assert (event.kind, event.task_id) == (EventKind.RUNNING, "2013508786110730241")
    queued = adapter().parse_submit(answer({**body, "status": "QUEUED"}))
    assert queued.kind is EventKind.QUEUED


@pytest.mark.parametrize(
    ("body", "error", "code"),
    [
        ({"code": 802, "msg": "APIKEY_UNAUTHORIZED", "data": None}, ProviderAuthError, "802"),
        ({"code": 421, "msg": "TASK_QUEUE_MAXED", "data": None}, ProviderUnavailable, "421"),
        ({"code": 415, "msg": "TASK_INSTANCE_MAXED", "data": None}, ProviderUnavailable, "415"),
        ({"code": 301, "msg": "PARAMS_INVALID", "data": None}, ProviderRejected, "301"),
        ({"code": 812, "msg": "INSUFFICIENT_FUNDS", "data": None}, ProviderRejected, "812"),
        ({"code": 804, "msg": "APIKEY_TASK_IS_RUNNING"}, ProviderUnavailable, "804"),
        (
            {"taskId": "", "status": "FAILED", "errorCode": "433", "errorMessage": "bad prompt"},
            ProviderRejected,
            "433",
        ),
        ({"status": "QUEUED"}, ProviderRejected, None),
    ],
)
def test_a_submit_refusal_raises_the_error_its_code_means(
    body: dict[str, Any], error: type[ProviderError], code: str | None
) -> None:
    with pytest.raises(error) as caught:
        adapter().parse_submit(answer(body))
    assert type(caught.value) is error
    assert caught.value.provider_code == code
    if "msg" in body:
        assert body["msg"] in caught.value.message


# the error codes


@pytest.mark.parametrize(
    ("code", "msg", "error"),
    [
        ("802", "APIKEY_UNAUTHORIZED", ProviderAuthError),
        ("801", "APIKEY_UNSUPPORTED_FREE_USER", ProviderAuthError),
        ("1", "APIKEY_UNAUTHORIZED", ProviderAuthError),  # the name alone is enough
        ("421", "TASK_QUEUE_MAXED", ProviderUnavailable),
        ("415", "TASK_INSTANCE_MAXED", ProviderUnavailable),
        ("429", "too many requests", ProviderUnavailable),
        ("500", "UNKNOWN_ERROR", ProviderUnavailable),
        ("503", "service unavailable", ProviderUnavailable),
        ("814", "PERSONAL_QUEUE_COUNT_LIMIT", ProviderUnavailable),
        ("301", "PARAMS_INVALID", ProviderRejected),
        ("433", "VALIDATE_PROMPT_FAILED", ProviderRejected),
        ("812", "CORPAPIKEY_INSUFFICIENT_FUNDS", ProviderRejected),
        ("416", "TASK_CREATE_FAILED_BY_NOT_ENOUGH_WALLET", ProviderRejected),
        ("807", "APIKEY_TASK_NOT_FOUND", ProviderRejected),
    ],
)
def test_each_code_maps_to_its_error_class(code: str, msg: str, error: type[ProviderError]) -> None:
    raised = error_for(code, msg)
    assert type(raised) is error
    assert (raised.provider_code, msg in raised.message) == (code, True)


def test_a_busy_answer_honours_retry_after() -> None:
    response = answer({"code": 421, "msg": "TASK_QUEUE_MAXED"}, **{"Retry-After": "30"})
    with pytest.raises(ProviderUnavailable) as caught:
        adapter().parse_submit(response)
    assert caught.value.retry_after == 30.0


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, ProviderAuthError), (429, ProviderUnavailable), (502, ProviderUnavailable)],
)
async def test_http_errors_are_mapped_too(status: int, error: type[ProviderError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"code": 802, "msg": "APIKEY_UNAUTHORIZED"} if status == 401 else "<html>busy"
        return httpx.Response(status, json=body, headers={"Retry-After": "7"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(error) as caught:
            await adapter().submit(client, make_job(rh_request()), CALLBACK)
    if status == 401:  # RunningHub's own code and words are kept
        assert caught.value.provider_code == "802"
        assert "APIKEY_UNAUTHORIZED" in caught.value.message
    else:
        assert caught.value.retry_after == 7.0


# the query answer


def flat(**fields: Any) -> dict[str, Any]:
    body = {
        "taskId": "77",
        "status": "RUNNING",
        "errorCode": "",
        "errorMessage": "",
        "results": None,
        "clientId": "c",
        "promptTips": "",
    }
    return {**body, **fields}


VIDEO = "https://rh-images.example/output/77.mp4"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (flat(status="QUEUED"), ProviderEvent(EventKind.QUEUED, "77", provider_status="QUEUED")),
        (flat(), ProviderEvent(EventKind.RUNNING, "77", provider_status="RUNNING")),
        (
            flat(
                status="SUCCESS",
                results=[
                    {"url": "https://x.example/cover.png", "outputType": "png"},
                    {"url": VIDEO, "outputType": "mp4", "nodeId": "9", "text": None},
                ],
                usage={"taskCostTime": "41"},
            ),
            ProviderEvent(
                EventKind.SUCCEEDED,
                "77",
                (VIDEO, "https://x.example/cover.png"),
                provider_status="SUCCESS",
            ),
        ),
        (
            flat(
                status="FAILED",
                errorCode="805",
                errorMessage="",
                failedReason={"node_name": "Hailuo", "exception_message": "moderation"},
            ),
            ProviderEvent(EventKind.FAILED, "77", (), "805", "moderation", "FAILED"),
        ),
        (
            {"code": 804, "msg": "APIKEY_TASK_IS_RUNNING", "data": None},
            ProviderEvent(EventKind.RUNNING, provider_status="APIKEY_TASK_IS_RUNNING"),
        ),
        (
            {"code": 813, "msg": "APIKEY_TASK_IS_QUEUED", "data": None},
            ProviderEvent(EventKind.QUEUED, provider_status="APIKEY_TASK_IS_QUEUED"),
        ),
        (
            {"code": 1, "msg": "APIKEY_TASK_IS_RUNNING", "data": None},
            ProviderEvent(EventKind.RUNNING, provider_status="APIKEY_TASK_IS_RUNNING"),
        ),
        (
            {"code": 0, "msg": "success", "data": flat(status="QUEUED")},
            ProviderEvent(EventKind.QUEUED, "77", provider_status="QUEUED"),
        ),
        (flat(status="SUCCESS", results=[]), ProviderEvent(EventKind.UNKNOWN, "77")),
        (flat(status="PAUSED"), ProviderEvent(EventKind.UNKNOWN, "77")),
        ([], ProviderEvent(EventKind.UNKNOWN)),
        ({}, ProviderEvent(EventKind.UNKNOWN)),
    ],
)
def test_every_query_shape_becomes_one_event(body: Any, expected: ProviderEvent) -> None:
    event = adapter().parse_status(answer(body))
    assert (event.kind, event.task_id, event.outputs) == (
        expected.kind,
        expected.task_id,
        expected.outputs,
    )
    assert (event.error_code, event.error_message) == (expected.error_code, expected.error_message)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"code": 802, "msg": "APIKEY_UNAUTHORIZED"}, ProviderAuthError),
        ({"code": 421, "msg": "TASK_QUEUE_MAXED"}, ProviderUnavailable),
        ({"code": 807, "msg": "APIKEY_TASK_NOT_FOUND"}, ProviderRejected),
    ],
)
def test_a_query_refusal_raises(body: dict[str, Any], error: type[ProviderError]) -> None:
    with pytest.raises(error):
        adapter().parse_status(answer(body))


# the webhook


def success_data(url: str = VIDEO) -> dict[str, Any]:
    data = [{"fileUrl": url, "fileType": "mp4", "taskCostTime": "41", "nodeId": "9"}]
    return {"code": 0, "msg": "success", "data": data}


FAILURE_DATA = {"code": 805, "msg": "APIKEY_TASK_STATUS_ERROR", "data": {"failedReason": "oom"}}


@pytest.mark.parametrize(
    ("payload", "kind", "outputs", "error"),
    [
        (
            {"event": "TASK_END", "taskId": "77", "eventData": json.dumps(success_data())},
            EventKind.SUCCEEDED,
            (VIDEO,),
            None,
        ),
        (
            {"event": "TASK_END", "taskId": "77", "eventData": success_data()},
            EventKind.SUCCEEDED,
            (VIDEO,),
            None,
        ),
        (
            {
                "event": "TASK_END",
                "taskId": "77",
                "eventData": {
                    "taskId": "77",
                    "status": "SUCCESS",
                    "results": [{"url": VIDEO, "outputType": "mp4"}],
                },
            },
            EventKind.SUCCEEDED,
            (VIDEO,),
            None,
        ),
        (
            {"event": "TASK_END", "taskId": "77", "eventData": json.dumps(FAILURE_DATA)},
            EventKind.FAILED,
            (),
            ("805", "APIKEY_TASK_STATUS_ERROR: oom"),
        ),
        (
            {
                "event": "TASK_END",
                "taskId": "77",
                "eventData": {"taskId": "77", "status": "FAILED", "errorMessage": "timeout"},
            },
            EventKind.FAILED,
            (),
            (None, "timeout"),
        ),
        (
            {"event": "TASK_END", "taskId": "77", "eventData": json.dumps({"code": 804})},
            EventKind.RUNNING,
            (),
            None,
        ),
        (flat(status="SUCCESS", results=[{"url": VIDEO}]), EventKind.SUCCEEDED, (VIDEO,), None),
    ],
)
def test_every_webhook_shape_becomes_one_event(
    payload: Any, kind: EventKind, outputs: tuple[str, ...], error: tuple[Any, Any] | None
) -> None:
    event = adapter().parse_webhook(payload)
    assert (event.kind, event.task_id, event.outputs) == (kind, "77", outputs)
    assert (event.error_code, event.error_message) == (error or (None, None))


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "TASK_END",
        [],
        {},
        {"event": "TASK_END", "taskId": "77"},
        {"event": "TASK_END", "taskId": "77", "eventData": "{not json"},
        {"event": "TASK_END", "taskId": "77", "eventData": "[1, 2]"},
        {"event": "TASK_END", "taskId": "77", "eventData": 42},
        {"event": "TASK_END", "taskId": "77", "eventData": json.dumps({"code": 0, "data": []})},
        {"event": "TASK_END", "taskId": "77", "eventData": {"code": 0, "data": [{"fileUrl": 3}]}},
        {"event": "TASK_END", "taskId": {"x": 1}, "eventData": {"status": None}},
        {"eventData": {"code": 0, "data": [{"fileUrl": "ftp://nope/x.mp4"}]}},
    ],
)
def test_unreadable_webhooks_are_unknown_never_errors(payload: Any) -> None:
    assert adapter().parse_webhook(payload).kind is EventKind.UNKNOWN


# the v1 event tools, through a transport


def v1_transport(data: Any, code: int = 0, msg: str = "success") -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": code, "msg": msg, "data": data})

    return httpx.MockTransport(handler)


async def test_webhook_detail_returns_runninghubs_record() -> None:
    record = {"id": 1909, "taskId": "77", "callbackStatus": "FAILED", "retryCount": 3}
    async with httpx.AsyncClient(transport=v1_transport(record)) as client:
        assert await adapter().webhook_detail(client, "77") == record


async def test_webhook_detail_without_an_event_is_a_refusal_with_code_1() -> None:
    async with httpx.AsyncClient(
        transport=v1_transport(None, 1, "webhook event not exists")
    ) as client:
        with pytest.raises(ProviderRejected, match="webhook event not exists") as caught:
            await adapter().webhook_detail(client, "77")
    assert caught.value.provider_code == "1"


async def test_resend_with_a_bad_key_is_an_auth_error() -> None:
    async with httpx.AsyncClient(
        transport=v1_transport(None, 802, "APIKEY_UNAUTHORIZED")
    ) as client:
        with pytest.raises(ProviderAuthError):
            await adapter().resend(client, 1909, CALLBACK)


async def test_reconcile_asks_for_the_event_again_at_the_current_url() -> None:
    sent: list[tuple[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, json.loads(request.content)))
        if request.url.path.endswith("getWebhookDetail"):
            return httpx.Response(200, json={"code": 0, "msg": "", "data": {"id": 1909}})
        return httpx.Response(200, json={"code": 0, "msg": "", "data": None})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await adapter().reconcile(client, make_job(rh_request(), task_id="77"), CALLBACK)
    assert sent == [
        ("/task/openapi/getWebhookDetail", {"apiKey": "rh-key", "taskId": "77"}),
        (
            "/task/openapi/retryWebhook",
            {"apiKey": "rh-key", "webhookId": 1909, "webhookUrl": CALLBACK},
        ),
    ]


async def test_reconcile_before_the_task_ends_sends_nothing_more() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={"code": 1, "msg": "webhook event not exists"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await adapter().reconcile(client, make_job(rh_request(), task_id="77"), CALLBACK)
    assert paths == ["/task/openapi/getWebhookDetail"]


# end to end: the real app, the fake RunningHub, real HTTP both ways


@pytest.fixture
async def fake() -> AsyncIterator[FakeRunningHub]:
    fake = FakeRunningHub(api_key="rh-key")
    async with fake.serving():
        yield fake


@pytest.fixture
async def live_rh(
    fake: FakeRunningHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LiveApp]:
    point_at(monkeypatch, "runninghub", fake)
    async with live_app(tmp_path / "data") as app:
        yield app


@pytest.mark.parametrize("event_data", ["string", "object"])
async def test_a_runninghub_job_succeeds_and_its_video_is_mirrored(
    live_rh: LiveApp, fake: FakeRunningHub, event_data: str
) -> None:
    fake.event_data = event_data
    job = await live_rh.submit(provider="runninghub", image_url=IMAGE, duration=10)
    job = await live_rh.wait_for(job["id"])
    assert job["state"] == "succeeded"
    task = fake.tasks[job["provider_task_id"]]
    assert job["outputs"] == [f"{fake.base_url}/files/{task.id}.mp4"]
    assert mirrored(job) == SAMPLE_MP4
    assert [d[1] for d in task.deliveries] == [202]
    submit = fake.seen[0]
    assert submit.path == "/openapi/v2/minimax/hailuo-2.3/i2v-standard"
    assert submit.body["duration"] == "10" and submit.body["imageUrl"] == IMAGE
    assert submit.body["webhookUrl"].startswith(f"{live_rh.url}/hooks/runninghub/")


async def test_a_failed_runninghub_task_fails_the_job_with_its_message(
    live_rh: LiveApp, fake: FakeRunningHub
) -> None:
    fake.outcome = "fail"
    job = await live_rh.wait_for((await live_rh.submit(provider="runninghub"))["id"])
    assert job["state"] == "failed"
    assert job["error"] == {"code": "805", "message": f"{FAIL_MSG}: {FAIL_REASON}"}
    assert job["outputs"] == []


async def test_a_refused_submission_fails_the_job_with_runninghubs_words(
    live_rh: LiveApp, fake: FakeRunningHub
) -> None:
    fake.submit_error = (433, "VALIDATE_PROMPT_FAILED")
    job = await live_rh.wait_for((await live_rh.submit(provider="runninghub"))["id"])
    assert job["state"] == "failed"
    assert job["error"]["code"] == "433"
    assert "VALIDATE_PROMPT_FAILED" in job["error"]["message"]


async def test_an_unoffered_combination_is_refused_before_any_call(
    live_rh: LiveApp, fake: FakeRunningHub
) -> None:
    response = await live_rh.client.post(
        "/v1/jobs",
        json={"provider": "runninghub", "prompt": "a fox", "provider_options": {"variant": "fast"}},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unsupported_combination"
    assert fake.seen == []


async def test_a_lost_webhook_is_looked_up_and_resent_to_the_current_url(
    live_rh: LiveApp, fake: FakeRunningHub
) -> None:
    fake.deliver = False
    job = await live_rh.submit(provider="runninghub")

    def ended_at_runninghub(job: dict[str, Any]) -> bool:
        task = fake.tasks.get(job["provider_task_id"] or "")
        return task is not None and task.webhook_id is not None

    job = await live_rh.wait_for(job["id"], ended_at_runninghub)
    assert job["state"] == "submitted"
    rh = live_rh.clipwire.adapters["runninghub"]
    client = live_rh.clipwire.client
    detail = await rh.webhook_detail(client, job["provider_task_id"])
    assert detail["taskId"] == job["provider_task_id"]
    assert json.loads(detail["eventData"])["code"] == 0
    callback_url = live_rh.clipwire.signer.url_for(live_rh.url, "runninghub", job["id"])
    await rh.resend(client, detail["id"], callback_url)
    job = await live_rh.wait_for(job["id"])
    assert job["state"] == "succeeded"
    assert mirrored(job) == SAMPLE_MP4


async def test_the_query_reads_the_fakes_answers_over_http(
    live_rh: LiveApp, fake: FakeRunningHub
) -> None:
    job = await live_rh.wait_for((await live_rh.submit(provider="runninghub"))["id"])
    stored = await live_rh.clipwire.store.get_job(job["id"])
    rh = live_rh.clipwire.adapters["runninghub"]
    event = await rh.status(live_rh.clipwire.client, stored)
    assert event is not None
    assert (event.kind, event.outputs) == (EventKind.SUCCEEDED, tuple(job["outputs"]))
    missing = make_job(rh_request(), task_id="404")
    with pytest.raises(ProviderRejected, match="APIKEY_TASK_NOT_FOUND"):
        await rh.status(live_rh.clipwire.client, missing)
