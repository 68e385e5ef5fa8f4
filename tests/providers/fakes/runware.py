"""A fake Runware on loopback, speaking its wire format (runware--minimax-hailuo-2.3.txt).

``POST /v1`` takes a JSON **array** of tasks and answers ``{"data": [...]}`` or
``{"errors": [...]}``. A ``videoInference`` task with ``deliveryMethod: "async"`` is
acknowledged at once; a moment later the fake POSTs the flat finished task
``{taskType, taskUUID, videoUUID, videoURL, seed, cost}`` to its ``webhookURL`` over real
HTTP. ``getResponse`` answers ``processing``, ``success`` or an error item.

Steer it through attributes: ``outcome`` ("success" | "fail"), ``failure_shape`` ("errors":
``{"errors": [item]}``; "flat": the error item itself), ``deliver`` (send webhooks at all),
``submit_error`` (``(http_status, code, message)`` every submission answers with) and
``retry_after`` (a header on those).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.sim.server import SAMPLE_MP4

from .loopback import LoopbackFake

MODELS = ("minimax:4@1", "minimax:4@2")
FAIL_CODE = "providerContentModeration"
FAIL_MESSAGE = "The provider rejected the prompt: content moderation"


@dataclasses.dataclass
class Task:
    uuid: str
    webhook_url: str
    body: dict[str, Any]
    status: str = "processing"
    deliveries: list[int] = dataclasses.field(default_factory=list)


def _errors(status: int, code: str, message: str, **fields: Any) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"code": code, "message": message, **fields}]}, status_code=status
    )


def _is_uuid4(value: str) -> bool:
    try:
        return uuid.UUID(value).version == 4
    except ValueError:
        return False


class FakeRunware(LoopbackFake):
    def __init__(self, api_key: str = "rw-key") -> None:
        super().__init__(api_key)
        self.outcome = "success"
        self.failure_shape = "errors"
        self.deliver = True
        self.submit_error: tuple[int, str, str] | None = None
        self.retry_after: str | None = None
        self.tasks: dict[str, Task] = {}
        self.app = Starlette(
            routes=[
                Route("/v1", self.api, methods=["POST"]),
                Route("/video/{video_uuid}.mp4", self.video, methods=["GET"]),
            ]
        )

    async def api(self, request: Request) -> Response:
        body = await self.record(request)
        if not self.bearer_ok(request):
            return _errors(401, "invalidApiKey", "Invalid API key.", taskType="authentication")
        if not isinstance(body, list) or not all(isinstance(t, dict) for t in body):
            return _errors(400, "invalidRequestBody", "The body must be an array of tasks.")
        data: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for task in body:
            if task.get("taskType") == "videoInference":
                answer = self._video_inference(task)
            elif task.get("taskType") == "getResponse":
                answer = self._get_response(task)
            else:
                answer = {"code": "unsupportedTaskType", "message": "Unknown taskType."}
            (errors if "code" in answer else data).append(answer)
        if errors and self.submit_error is not None:
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            return JSONResponse({"errors": errors}, self.submit_error[0], headers=headers)
        if errors and not data:
            return JSONResponse({"errors": errors}, 400)
        return JSONResponse({"data": data, **({"errors": errors} if errors else {})})

    def _video_inference(self, task: dict[str, Any]) -> dict[str, Any]:
        if self.submit_error is not None:
            _, code, message = self.submit_error
            return {"code": code, "message": message, "taskType": "videoInference"}
        task_uuid = task.get("taskUUID")
        valid = (
            isinstance(task_uuid, str)
            and _is_uuid4(task_uuid)
            and task.get("model") in MODELS
            and isinstance(task.get("positivePrompt"), str)
            and 2 <= len(task["positivePrompt"]) <= 2000
            and isinstance(task.get("width"), int)
            and isinstance(task.get("height"), int)
            and isinstance(task.get("duration"), int | float)
            and task.get("deliveryMethod") == "async"
            and isinstance(task.get("webhookURL"), str)
        )
        if not valid:
            return {
                "code": "invalidParameters",
                "message": "Invalid task parameters.",
                "taskType": "videoInference",
                "taskUUID": task_uuid,
            }
        stored = Task(str(task_uuid), task["webhookURL"], task)
        self.tasks[stored.uuid] = stored
        self.spawn(self._finish(stored))
        return {"taskType": "videoInference", "taskUUID": stored.uuid}

    def _get_response(self, task: dict[str, Any]) -> dict[str, Any]:
        stored = self.tasks.get(str(task.get("taskUUID")))
        if stored is None:
            return {"code": "taskNotFound", "message": "No such task.", "taskType": "getResponse"}
        if stored.status == "error":
            return self.error_item(stored)
        if stored.status == "success":
            return {**self.result(stored), "status": "success"}
        return {"taskType": "videoInference", "taskUUID": stored.uuid, "status": "processing"}

    def result(self, task: Task) -> dict[str, Any]:
        """The finished task as the page's examples show it (the webhook body)."""
        video_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, task.uuid))
        return {
            "taskType": "videoInference",
            "taskUUID": task.uuid,
            "videoUUID": video_uuid,
            "videoURL": f"{self.base_url}/video/{video_uuid}.mp4",
            "seed": 552434557,
            "cost": 0.49,
        }

    def error_item(self, task: Task) -> dict[str, Any]:
        return {
            "code": FAIL_CODE,
            "message": FAIL_MESSAGE,
            "parameter": "positivePrompt",
            "taskType": "videoInference",
            "taskUUID": task.uuid,
        }

    def webhook_body(self, task: Task) -> dict[str, Any]:
        if task.status == "success":
            return self.result(task)
        if self.failure_shape == "flat":
            return self.error_item(task)
        return {"errors": [self.error_item(task)]}

    async def _finish(self, task: Task) -> None:
        await asyncio.sleep(self.delay)
        task.status = "error" if self.outcome == "fail" else "success"
        if not self.deliver:
            return
        task.deliveries.append(await self.call_back(task.webhook_url, self.webhook_body(task)))

    async def video(self, request: Request) -> Response:
        return Response(SAMPLE_MP4, media_type="video/mp4")
