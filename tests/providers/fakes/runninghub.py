"""A fake RunningHub on loopback, speaking its wire format (see PROVIDERS.md).

v2 (``Authorization: Bearer``): the six Hailuo 2.3 submit paths and ``/openapi/v2/query``;
v1 (``apiKey`` in the body): ``getWebhookDetail`` and ``retryWebhook``. Every answer is HTTP
200 with the verdict in the body, as RunningHub does. When a task ends it POSTs
``{"event": "TASK_END", "taskId", "eventData"}`` to the task's ``webhookUrl`` over real HTTP.

Steer it through attributes: ``outcome`` ("success" | "fail"), ``event_data`` ("string": the
documented JSON string of ``{code, msg, data: [{fileUrl}]}``; "object": the observed flat
``{taskId, status, results: [{url}]}``), ``deliver`` (send webhooks at all), ``submit_error``
(a ``(code, msg)`` every submission answers with), ``retry_after`` (a header on those).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.sim.server import SAMPLE_MP4

from .loopback import LoopbackFake

HAILUO_PATHS = {
    "hailuo-2.3/t2v-standard": "t2v",
    "hailuo-2.3/t2v-pro": "t2v",
    "hailuo-2.3/i2v-standard": "i2v",
    "hailuo-2.3/image-to-video-pro": "i2v",
    "hailuo-2.3-fast/image-to-video": "i2v",
    "hailuo-2.3-fast-pro/image-to-video": "i2v",
}
FAIL_CODE = 805
FAIL_MSG = "APIKEY_TASK_STATUS_ERROR"
FAIL_REASON = "node 12 raised: content moderation rejected the prompt"


@dataclasses.dataclass
class Task:
    id: str
    webhook_url: str
    status: str = "QUEUED"
    webhook_id: int | None = None
    event_data: str | None = None
    deliveries: list[tuple[str, int]] = dataclasses.field(default_factory=list)


def _answer(code: int, msg: str, data: Any = None, **headers: str) -> JSONResponse:
    return JSONResponse({"code": code, "msg": msg, "data": data}, headers=headers or None)


class FakeRunningHub(LoopbackFake):
    def __init__(self, api_key: str = "rh-key") -> None:
        super().__init__(api_key)
        self.outcome = "success"
        self.event_data = "string"
        self.deliver = True
        self.submit_error: tuple[int, str] | None = None
        self.retry_after: str | None = None
        self.tasks: dict[str, Task] = {}
        self._ids = itertools.count(2013508786110730241)
        self.app = Starlette(
            routes=[
                Route("/openapi/v2/minimax/{model:path}", self.submit, methods=["POST"]),
                Route("/openapi/v2/query", self.query, methods=["POST"]),
                Route("/task/openapi/getWebhookDetail", self.webhook_detail, methods=["POST"]),
                Route("/task/openapi/retryWebhook", self.retry_webhook, methods=["POST"]),
                Route("/files/{task_id}.mp4", self.video, methods=["GET"]),
            ]
        )

    # v2

    async def submit(self, request: Request) -> Response:
        body = await self.record(request)
        if not self.bearer_ok(request):
            return _answer(802, "APIKEY_UNAUTHORIZED")
        if self.submit_error is not None:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return _answer(*self.submit_error, **headers)
        mode = HAILUO_PATHS.get(request.path_params["model"])
        if mode is None:
            return _answer(412, "TOKEN_INVALID")
        valid = (
            isinstance(body, dict)
            and isinstance(body.get("prompt"), str)
            and body.get("duration") in ("6", "10")
            and isinstance(body.get("enablePromptExpansion"), bool)
            and isinstance(body.get("webhookUrl"), str)
            and (mode == "t2v" or isinstance(body.get("imageUrl"), str))
        )
        if not valid:
            return _answer(301, "PARAMS_INVALID")
        task = Task(str(next(self._ids)), body["webhookUrl"])
        self.tasks[task.id] = task
        self.spawn(self._run(task))
        return JSONResponse(
            {
                "taskId": task.id,
                "status": "QUEUED",
                "errorCode": "",
                "errorMessage": "",
                "results": None,
                "clientId": "f828b9af25161bc066ef152db7b29ccc",
                "promptTips": json.dumps({"result": True, "error": None}),
            }
        )

    def _video_url(self, task: Task) -> str:
        return f"{self.base_url}/files/{task.id}.mp4"

    def _flat(self, task: Task) -> dict[str, Any]:
        failed = task.status == "FAILED"
        succeeded = task.status == "SUCCESS"
        return {
            "taskId": task.id,
            "status": task.status,
            "errorCode": str(FAIL_CODE) if failed else "",
            "errorMessage": FAIL_MSG if failed else "",
            "failedReason": {"exception_message": FAIL_REASON} if failed else None,
            "results": (
                [{"url": self._video_url(task), "outputType": "mp4", "nodeId": "9", "text": None}]
                if succeeded
                else None
            ),
            "usage": {"taskCostTime": "41"} if succeeded else None,
            "clientId": "f828b9af25161bc066ef152db7b29ccc",
        }

    def _event_data(self, task: Task) -> str | dict[str, Any]:
        if self.event_data == "object":
            return self._flat(task)
        if task.status == "SUCCESS":
            data: Any = [
                {
                    "fileUrl": self._video_url(task),
                    "fileType": "mp4",
                    "taskCostTime": "41",
                    "nodeId": "9",
                }
            ]
            return json.dumps({"code": 0, "msg": "success", "data": data})
        failure = {"failedReason": {"exception_message": FAIL_REASON}}
        return json.dumps({"code": FAIL_CODE, "msg": FAIL_MSG, "data": failure})

    async def _run(self, task: Task) -> None:
        for status in ("RUNNING", "FAILED" if self.outcome == "fail" else "SUCCESS"):
            await asyncio.sleep(self.delay)
            task.status = status
        event_data = self._event_data(task)
        task.webhook_id = next(self._ids)
        task.event_data = event_data if isinstance(event_data, str) else json.dumps(event_data)
        if self.deliver:
            await self._send(task, task.webhook_url)

    async def _send(self, task: Task, url: str) -> None:
        body = {"event": "TASK_END", "taskId": task.id, "eventData": self._event_data(task)}
        task.deliveries.append((url, await self.call_back(url, body)))

    async def query(self, request: Request) -> Response:
        body = await self.record(request)
        if not self.bearer_ok(request):
            return _answer(802, "APIKEY_UNAUTHORIZED")
        task_id = body.get("taskId") if isinstance(body, dict) else None
        task = self.tasks.get(str(task_id))
        if task is None:
            return _answer(807, "APIKEY_TASK_NOT_FOUND")
        return JSONResponse(self._flat(task))

    # v1: apiKey in the body

    async def webhook_detail(self, request: Request) -> Response:
        body = await self.record(request)
        if not isinstance(body, dict) or body.get("apiKey") != self.api_key:
            return _answer(802, "APIKEY_UNAUTHORIZED")
        task = self.tasks.get(str(body.get("taskId")))
        if task is None or task.webhook_id is None:
            return _answer(1, "webhook event not exists")
        last = task.deliveries[-1][1] if task.deliveries else 0
        return _answer(
            0,
            "success",
            {
                "id": task.webhook_id,
                "taskId": task.id,
                "webhookUrl": task.webhook_url,
                "eventData": task.event_data,
                "callbackStatus": "SUCCESS" if 200 <= last < 300 else "FAILED",
                "callbackResponse": "",
                "retryCount": max(0, len(task.deliveries) - 1),
                "createTime": "2026-03-12 04:00:02",
                "updateTime": "2026-03-12 04:00:05",
            },
        )

    async def retry_webhook(self, request: Request) -> Response:
        body = await self.record(request)
        if not isinstance(body, dict) or body.get("apiKey") != self.api_key:
            return _answer(802, "APIKEY_UNAUTHORIZED")
        task = next((t for t in self.tasks.values() if t.webhook_id == body.get("webhookId")), None)
        if task is None:
            return _answer(1, "webhook event not exists")
        url = body.get("webhookUrl") or task.webhook_url
        await self._send(task, str(url))
        return _answer(0, "")

    async def video(self, request: Request) -> Response:
        if request.path_params["task_id"] not in self.tasks:
            return Response(status_code=404)
        return Response(SAMPLE_MP4, media_type="video/mp4")
