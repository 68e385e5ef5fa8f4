"""A fake API in One on loopback (apiinone--hailuo-2.3.txt).

``POST /api/v1/videos/generations`` takes ``{model, prompt, image, duration: "6"|"10",
resolution}`` and answers ``{"code": 200, "message": "success", "data": {"task_id",
"status": "IN_PROGRESS"}}``; errors read ``{"error": {"code", "message", "type"}}``.
``GET /api/v1/tasks/{task_id}`` (its body is not documented) answers ``in_progress`` for
``polls_to_finish`` calls, then ``completed`` with ``output.video_url`` or ``failed`` with
an ``error``; ``wrapped`` puts that inside the submit answer's envelope.

When ``webhook_field`` names a body field that holds a URL, the fake POSTs the finished task
to it over real HTTP once it ends (the payload is a guess: API in One does not document it).
Other steering attributes: ``outcome`` ("success" | "fail"), ``submit_error``
(``(http_status, message, type)``), ``retry_after``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.sim.server import SAMPLE_MP4

from .loopback import LoopbackFake

MODELS = ("hailuo/2-3-image-to-video-standard", "hailuo/2-3-image-to-video-pro")
FAIL_MESSAGE = "Image failed content review"


@dataclasses.dataclass
class Task:
    id: str
    body: dict[str, Any]
    callback_url: str | None
    polls: int = 0
    status: str = "in_progress"
    deliveries: list[int] = dataclasses.field(default_factory=list)


def _error(status: int, message: str, kind: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": status, "message": message, "type": kind}},
        status_code=status,
        headers=headers or None,
    )


class FakeAPIInOne(LoopbackFake):
    def __init__(self, api_key: str = "aio_key") -> None:
        super().__init__(api_key)
        self.outcome = "success"
        self.wrapped = True
        self.polls_to_finish = 2
        self.webhook_field: str | None = None
        self.submit_error: tuple[int, str, str] | None = None
        self.retry_after: str | None = None
        self.tasks: dict[str, Task] = {}
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/api/v1/videos/generations", self.submit, methods=["POST"]),
                Route("/api/v1/tasks/{task_id}", self.task, methods=["GET"]),
                Route("/files/{task_id}.mp4", self.video, methods=["GET"]),
            ]
        )

    async def _check(self, request: Request) -> tuple[Any, Response | None]:
        body = await self.record(request)
        if not self.bearer_ok(request):
            return body, _error(401, "Invalid API key", "authentication_error")
        return body, None

    async def submit(self, request: Request) -> Response:
        body, refused = await self._check(request)
        if refused:
            return refused
        if self.submit_error is not None:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return _error(*self.submit_error, **headers)
        valid = (
            isinstance(body, dict)
            and body.get("model", MODELS[0]) in MODELS
            and isinstance(body.get("prompt"), str)
            and isinstance(body.get("image"), str)
            and body.get("duration", "6") in ("6", "10")
            and body.get("resolution", "768P") in ("768P", "1080P")
        )
        if not valid:
            return _error(400, "Invalid parameters", "invalid_request")
        callback = body.get(self.webhook_field) if self.webhook_field else None
        task = Task(f"n51{next(self._ids):05d}_hailuo", body, callback)
        self.tasks[task.id] = task
        if isinstance(callback, str):
            self.spawn(self._call_back(task))
        return JSONResponse(
            {
                "code": 200,
                "message": "success",
                "data": {"task_id": task.id, "status": "IN_PROGRESS"},
            }
        )

    def _finish(self, task: Task) -> None:
        task.status = "failed" if self.outcome == "fail" else "completed"

    def task_body(self, task: Task) -> dict[str, Any]:
        data: dict[str, Any] = {"task_id": task.id, "status": task.status}
        if task.status == "completed":
            data["output"] = {"video_url": f"{self.base_url}/files/{task.id}.mp4"}
        if task.status == "failed":
            data["error"] = FAIL_MESSAGE
        return {"code": 200, "message": "success", "data": data} if self.wrapped else data

    async def task(self, request: Request) -> Response:
        _, refused = await self._check(request)
        task = self.tasks.get(request.path_params["task_id"])
        if refused or task is None:
            return refused or _error(404, "Task not found", "not_found")
        task.polls += 1
        if task.status == "in_progress" and task.polls >= self.polls_to_finish:
            self._finish(task)
        return JSONResponse(self.task_body(task))

    async def _call_back(self, task: Task) -> None:
        await asyncio.sleep(self.delay)
        self._finish(task)
        assert task.callback_url is not None
        task.deliveries.append(await self.call_back(task.callback_url, self.task_body(task)))

    async def video(self, request: Request) -> Response:
        return Response(SAMPLE_MP4, media_type="video/mp4")
