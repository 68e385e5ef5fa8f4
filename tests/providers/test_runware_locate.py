"""After a submit whose answer was lost, Runware can say whether that very task exists."""

from __future__ import annotations

import json

import httpx
import pytest

from orchestrator.models import Job, ProviderEvent, parse_job_request
from orchestrator.providers import ProviderConfig
from orchestrator.providers.runware import RunwareAdapter, task_uuid_for
from orchestrator.states import EventKind
from tests.providers.fakes.jobs import make_job

pytestmark = pytest.mark.anyio

BASE = "https://api.runware.ai/v1"


def job() -> Job:
    request = parse_job_request({"provider": "runware", "prompt": "a fox"}, providers=("runware",))
    return make_job(request, submit_attempts=3)


async def locate(answer: httpx.Response) -> tuple[ProviderEvent | None, list[object]]:
    asked: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(json.loads(request.content))
        return answer

    adapter = RunwareAdapter(ProviderConfig(BASE, api_key="rw-key"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        return await adapter.locate(client, job()), asked


async def test_a_task_runware_has_is_found_by_the_uuid_of_that_attempt() -> None:
    uuid_ = task_uuid_for(job())
    answer = {"data": [{"taskType": "videoInference", "taskUUID": uuid_, "status": "processing"}]}
    found, asked = await locate(httpx.Response(200, json=answer))
    assert asked == [[{"taskType": "getResponse", "taskUUID": uuid_}]]
    assert found is not None
    assert (found.kind, found.task_id) == (EventKind.RUNNING, uuid_)


async def test_a_task_runware_does_not_have_is_not_found() -> None:
    missing = {
        "errors": [{"code": "taskNotFound", "message": "No such task.", "taskType": "getResponse"}]
    }
    found, _ = await locate(httpx.Response(400, json=missing))
    assert found is None
