"""MiniMax: the exact requests, the callback handshake, every status shape, its error codes,
the file_id → download URL step, and real runs against the fake in
``tests/providers/fakes/minimax.py``, which calls back over real HTTP.
"""

from __future__ import annotations

import dataclasses
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
from orchestrator.providers.minimax import MiniMaxAdapter, error_for
from orchestrator.sim.server import SAMPLE_MP4
from orchestrator.states import EventKind
from tests.conftest import LiveApp, live_app
from tests.providers.conftest import mirrored, point_at
from tests.providers.fakes.jobs import make_job
from tests.providers.fakes.minimax import FAIL_CODE, FAIL_MSG, FakeMiniMax

pytestmark = pytest.mark.anyio

BASE = "https://api.minimax.io"
CALLBACK = "https://clipwire.example/hooks/minimax/tok"
IMAGE = "https://img.example/first.png"
PROMPT = "A man picks up a book [Pedestal up], then reads [Static shot]."


def adapter(options: dict[str, str] | None = None) -> MiniMaxAdapter:
    return MiniMaxAdapter(ProviderConfig(base_url=BASE, api_key="mm-key", options=options or {}))


def mm_request(**fields: Any) -> JobRequest:
    return JobRequest(provider="minimax", prompt=PROMPT, **fields)


def answer(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def ok() -> dict[str, Any]:
    return {"status_code": 0, "status_msg": "success"}


# the requests


def test_minimax_is_registered_with_its_public_url() -> None:
    assert ADAPTERS["minimax"] is MiniMaxAdapter
    config = ProviderConfig.from_env("minimax", MiniMaxAdapter.default_base_url, {})
    assert config.base_url == "https://api.minimax.io"


def test_the_t2v_body_has_minimaxs_fields_and_types() -> None:
    built = adapter().build_submit(make_job(mm_request()), CALLBACK)
    assert (built.method, str(built.url)) == ("POST", f"{BASE}/v1/video_generation")
    assert built.headers["authorization"] == "Bearer mm-key"
    assert built.headers["content-type"] == "application/json"
    assert json.loads(built.content) == {
        "model": "MiniMax-Hailuo-2.3",
        "prompt": PROMPT,
        "duration": 6,
        "resolution": "768P",
        "prompt_optimizer": True,
        "callback_url": CALLBACK,
    }


@pytest.mark.parametrize(
    ("fields", "model"),
    [
        ({"image_url": IMAGE}, "MiniMax-Hailuo-2.3"),
        ({"image_url": IMAGE, "provider_options": {"variant": "fast"}}, "MiniMax-Hailuo-2.3-Fast"),
    ],
)
def test_the_i2v_body_sends_the_first_frame(fields: dict[str, Any], model: str) -> None:
    request = mm_request(duration=10, prompt_optimizer=False, **fields)
    adapter().validate(request)
    body = json.loads(adapter().build_submit(make_job(request), CALLBACK).content)
    assert body == {
        "model": model,
        "prompt": PROMPT,
        "duration": 10,
        "resolution": "768P",
        "prompt_optimizer": False,
        "first_frame_image": IMAGE,
        "callback_url": CALLBACK,
    }


def test_1080p_is_sent_as_asked() -> None:
    request = mm_request(resolution="1080P", tier="pro")
    adapter().validate(request)
    body = json.loads(adapter().build_submit(make_job(request), CALLBACK).content)
    assert (body["resolution"], body["duration"]) == ("1080P", 6)


def test_the_query_and_the_file_lookup_are_gets_with_the_id_in_the_query() -> None:
    status = adapter().build_status(make_job(mm_request(), task_id="106916112212032"))
    assert status is not None
    assert (status.method, status.url.path) == ("GET", "/v1/query/video_generation")
    assert dict(status.url.params) == {"task_id": "106916112212032"}
    assert status.headers["authorization"] == "Bearer mm-key"
    assert adapter().build_status(make_job(mm_request())) is None
    file = adapter().build_file("205258526306433")
    assert (file.method, str(file.url)) == (
        "GET",
        f"{BASE}/v1/files/retrieve?file_id=205258526306433",
    )
    grouped = adapter({"group_id": "1782658868262748467"}).build_file("2")
    assert dict(grouped.url.params) == {"file_id": "2", "GroupId": "1782658868262748467"}


def test_minimax_tasks_cannot_be_cancelled() -> None:
    assert adapter().build_cancel(make_job(mm_request(), task_id="1")) is None


# what it refuses before any call


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"resolution": "1080P", "duration": 10}, "10 s videos at 768P only"),
        ({"provider_options": {"variant": "fast"}}, "image-to-video only"),
        ({"provider_options": {"variant": "director"}}, "variant"),
        ({"provider_options": {"aspect": "9:16"}}, "aspect"),
        ({"tier": "pro"}, "1080P"),
    ],
)
def test_combinations_minimax_does_not_offer_are_refused(
    fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidJobRequest, match=words) as caught:
        adapter().validate(mm_request(**fields))
    assert caught.value.code == "unsupported_combination"


# the handshake


@pytest.mark.parametrize("challenge", ["1a3cs1j-601a-118y-ch52-o48911eabc3u", 12345, ""])
def test_a_challenge_is_echoed_as_it_came(challenge: Any) -> None:
    assert adapter().handshake_reply({"challenge": challenge}) == {"challenge": challenge}


@pytest.mark.parametrize("payload", [{"task_id": "1", "status": "Processing"}, [], "challenge"])
def test_anything_else_is_not_a_handshake(payload: Any) -> None:
    assert adapter().handshake_reply(payload) is None


# the submit answer and the error codes


def test_the_submit_answer_gives_the_task_id() -> None:
    event = adapter().parse_submit(answer({"task_id": "106916112212032", "base_resp": ok()}))
    assert (event.kind, event.task_id) == (EventKind.QUEUED, "106916112212032")


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (1004, ProviderAuthError),
        (2049, ProviderAuthError),
        (1000, ProviderUnavailable),
        (1001, ProviderUnavailable),
        (1002, ProviderUnavailable),
        (1013, ProviderUnavailable),
        (1024, ProviderUnavailable),
        (1039, ProviderUnavailable),
        (1008, ProviderRejected),
        (1026, ProviderRejected),
        (1027, ProviderRejected),
        (2013, ProviderRejected),
    ],
)
def test_each_status_code_maps_to_its_error_class(code: int, error: type[ProviderError]) -> None:
    body = {"task_id": "", "base_resp": {"status_code": code, "status_msg": "said minimax"}}
    with pytest.raises(ProviderError) as caught:
        adapter().parse_submit(answer(body))
    assert type(caught.value) is error
    assert caught.value.provider_code == str(code)
    assert "said minimax" in caught.value.message
    assert type(error_for(code, "x")) is error


def test_a_rate_limit_honours_retry_after() -> None:
    body = {"base_resp": {"status_code": 1002, "status_msg": "rate limit exceeded(RPM)"}}
    with pytest.raises(ProviderUnavailable) as caught:
        adapter().parse_submit(answer(body, **{"Retry-After": "12"}))
    assert caught.value.retry_after == 12.0


@pytest.mark.parametrize("body", [{"base_resp": ok()}, {"task_id": ""}, ["task_id"]])
def test_a_submit_answer_without_a_task_id_is_a_refusal(body: Any) -> None:
    with pytest.raises(ProviderRejected):
        adapter().parse_submit(answer(body))


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, ProviderAuthError), (429, ProviderUnavailable), (500, ProviderUnavailable)],
)
async def test_http_errors_are_mapped_too(status: int, error: type[ProviderError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"base_resp": {"status_code": 1004, "status_msg": "login fail"}}
        return httpx.Response(status, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(error) as caught:
            await adapter().submit(client, make_job(mm_request()), CALLBACK)
    assert caught.value.provider_code == "1004"  # MiniMax's own code and words are kept
    assert "login fail" in caught.value.message


# status pushes and query answers


def pushed(status: str, **fields: Any) -> dict[str, Any]:
    return {"task_id": "176843862716480", "status": status, "base_resp": ok(), **fields}


@pytest.mark.parametrize(
    ("body", "kind", "outputs", "error"),
    [
        (pushed("Preparing"), EventKind.QUEUED, (), None),
        (pushed("Queueing"), EventKind.QUEUED, (), None),
        (pushed("Processing"), EventKind.RUNNING, (), None),
        (pushed("processing"), EventKind.RUNNING, (), None),
        (
            pushed("Success", file_id="176844028768320", video_width=1920, video_height=1080),
            EventKind.SUCCEEDED,
            ("minimax-file:176844028768320",),
            None,
        ),
        (
            pushed("success", file_id=176844028768320),
            EventKind.SUCCEEDED,
            ("minimax-file:176844028768320",),
            None,
        ),
        (
            pushed("Fail", base_resp={"status_code": 1026, "status_msg": "input sensitive"}),
            EventKind.FAILED,
            (),
            ("1026", "input sensitive"),
        ),
        (pushed("failed"), EventKind.FAILED, (), (None, "the task failed")),
    ],
)
def test_every_status_shape_becomes_one_event(
    body: dict[str, Any], kind: EventKind, outputs: tuple[str, ...], error: tuple[Any, Any] | None
) -> None:
    for event in (adapter().parse_webhook(body), adapter().parse_status(answer(body))):
        assert (event.kind, event.task_id, event.outputs) == (kind, "176843862716480", outputs)
        assert (event.error_code, event.error_message) == (error or (None, None))


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "Success",
        {},
        {"task_id": "1"},
        {"task_id": "1", "status": "Success"},  # no file_id: nothing to fetch
        {"task_id": "1", "status": "Success", "file_id": ""},
        {"task_id": "1", "status": "Rendering"},
        {"task_id": "1", "status": 3},
        {"task_id": ["1"], "status": None, "base_resp": "x"},
    ],
)
def test_unreadable_bodies_are_unknown_never_errors(payload: Any) -> None:
    assert adapter().parse_webhook(payload).kind is EventKind.UNKNOWN


def test_a_query_refusal_raises() -> None:
    body = {"task_id": "", "status": "", "base_resp": {"status_code": 1004, "status_msg": "no"}}
    with pytest.raises(ProviderAuthError):
        adapter().parse_status(answer(body))


# complete(): file_id to a download URL


def file_transport(body: dict[str, Any], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handler)


async def test_complete_swaps_the_file_id_for_its_download_url() -> None:
    url = "https://public-cdn-video-data-algeng.oss-cn-wulanchabu.aliyuncs.com/out.mp4"
    body = {"file": {"file_id": 205258526306433, "download_url": url}, "base_resp": ok()}
    seen: list[httpx.Request] = []
    event = ProviderEvent(EventKind.SUCCEEDED, "1", ("minimax-file:205258526306433",))
    async with httpx.AsyncClient(transport=file_transport(body, seen)) as client:
        done = await adapter().complete(client, event)
    assert done == dataclasses.replace(event, outputs=(url,))
    assert [r.url.params["file_id"] for r in seen] == ["205258526306433"]


async def test_complete_leaves_other_events_alone_and_calls_nothing() -> None:
    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=file_transport({}, seen)) as client:
        for event in (
            ProviderEvent(EventKind.RUNNING, "1"),
            ProviderEvent(EventKind.FAILED, "1", error_code="1026", error_message="x"),
        ):
            assert await adapter().complete(client, event) is event
    assert seen == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"base_resp": {"status_code": 1004, "status_msg": "bad key"}}, ProviderAuthError),
        ({"base_resp": {"status_code": 1002, "status_msg": "slow down"}}, ProviderUnavailable),
        ({"file": {"file_id": 1}, "base_resp": ok()}, ProviderError),
    ],
)
async def test_a_failed_file_lookup_raises(
    body: dict[str, Any], error: type[ProviderError]
) -> None:
    event = ProviderEvent(EventKind.SUCCEEDED, "1", ("minimax-file:1",))
    async with httpx.AsyncClient(transport=file_transport(body, [])) as client:
        with pytest.raises(error):
            await adapter().complete(client, event)


# end to end: the real app, the fake MiniMax, real HTTP both ways


@pytest.fixture
async def fake() -> AsyncIterator[FakeMiniMax]:
    fake = FakeMiniMax(api_key="mm-key")
    async with fake.serving():
        yield fake


@pytest.fixture
async def live_mm(
    fake: FakeMiniMax, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LiveApp]:
    point_at(monkeypatch, "minimax", fake)
    async with live_app(tmp_path / "data") as app:
        yield app


@pytest.mark.parametrize("status_case", ["title", "lower"])
async def test_a_minimax_job_succeeds_and_its_video_is_mirrored(
    live_mm: LiveApp, fake: FakeMiniMax, status_case: str
) -> None:
    fake.status_case = status_case
    job = await live_mm.submit(provider="minimax", image_url=IMAGE, duration=10)
    job = await live_mm.wait_for(job["id"])
    assert job["state"] == "succeeded"
    task = fake.tasks[job["provider_task_id"]]
    assert task.handshake == "validated"
    assert [status for status, _ in task.pushes] == ["Processing", "Success"]
    assert job["outputs"] == [f"{fake.base_url}/download/{task.file_id}.mp4"]
    assert mirrored(job) == SAMPLE_MP4
    submit = fake.seen[0]
    assert submit.body["first_frame_image"] == IMAGE and submit.body["duration"] == 10
    assert submit.body["callback_url"].startswith(f"{live_mm.url}/hooks/minimax/")
    lookups = [s for s in fake.seen if s.path == "/v1/files/retrieve"]
    assert [s.query for s in lookups] == [{"file_id": task.file_id}]


async def test_a_failed_minimax_task_fails_the_job_with_its_message(
    live_mm: LiveApp, fake: FakeMiniMax
) -> None:
    fake.outcome = "fail"
    job = await live_mm.wait_for((await live_mm.submit(provider="minimax"))["id"])
    assert job["state"] == "failed"
    assert job["error"] == {"code": str(FAIL_CODE), "message": FAIL_MSG}
    assert not any(s.path == "/v1/files/retrieve" for s in fake.seen)


async def test_a_refused_submission_fails_the_job_with_minimaxs_words(
    live_mm: LiveApp, fake: FakeMiniMax
) -> None:
    fake.submit_error = (1008, "insufficient balance")
    job = await live_mm.wait_for((await live_mm.submit(provider="minimax"))["id"])
    assert job["state"] == "failed"
    assert job["error"]["code"] == "1008"
    assert "insufficient balance" in job["error"]["message"]


async def test_ten_seconds_at_1080p_is_refused_before_any_call(
    live_mm: LiveApp, fake: FakeMiniMax
) -> None:
    response = await live_mm.client.post(
        "/v1/jobs",
        json={"provider": "minimax", "prompt": "a fox", "resolution": "1080P", "duration": 10},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unsupported_combination"
    assert fake.seen == []


async def test_the_query_reads_the_fakes_answers_over_http(
    live_mm: LiveApp, fake: FakeMiniMax
) -> None:
    job = await live_mm.wait_for((await live_mm.submit(provider="minimax"))["id"])
    stored = await live_mm.clipwire.store.get_job(job["id"])
    mm = live_mm.clipwire.adapters["minimax"]
    event = await mm.status(live_mm.clipwire.client, stored)
    assert event is not None and event.kind is EventKind.SUCCEEDED
    done = await mm.complete(live_mm.clipwire.client, event)
    assert done.outputs == tuple(job["outputs"])
