"""A fake RunComfy model API on loopback (runcomfy--hailuo-2.3-pro-text-to-video.txt).

``POST /v1/models/minimax/hailuo-2-3/pro/text-to-video`` answers ``{request_id, status_url,
result_url, cancel_url}``; ``GET /v1/requests/{id}/status`` walks ``in_queue`` (with
``queue_position``) → ``in_progress`` → ``completed`` one step per call; ``GET .../result``
answers the current state until completed, then ``{"output": {"video": url}}``;
``POST .../cancel`` cancels a queued request and refuses one in progress. No webhooks.

Steer it through attributes: ``outcome`` ("success" | "fail": the request ends ``failed``
with an ``error``; RunComfy does not document this shape), ``hold`` (requests stay queued),
``submit_error`` (``(http_status, message)`` every submission answers with) and
``retry_after`` (a header on those).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.sim.server import SAMPLE_MP4

from .loopback import LoopbackFake

MODEL = "minimax/hailuo-2-3/pro/text-to-video"
STEPS = ("in_queue", "in_progress", "completed")
FAIL_MESSAGE = "Generation failed: the prompt was flagged by content moderation"


@dataclasses.dataclass
class RunRequest:
    id: str
    body: dict[str, Any]
    status: str = "in_queue"


def _detail(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers or None)


class FakeRunComfy(LoopbackFake):
    def __init__(self, api_key: str = "rc-key") -> None:
        super().__init__(api_key)
        self.outcome = "success"
        self.hold = False
        self.submit_error: tuple[int, str] | None = None
        self.retry_after: str | None = None
        self.requests: dict[str, RunRequest] = {}
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/v1/models/{model:path}", self.submit, methods=["POST"]),
                Route("/v1/requests/{id}/status", self.status, methods=["GET"]),
                Route("/v1/requests/{id}/result", self.result, methods=["GET"]),
                Route("/v1/requests/{id}/cancel", self.cancel, methods=["POST"]),
                Route("/files/{id}.mp4", self.video, methods=["GET"]),
            ]
        )

    @property
    def cancels(self) -> list[str]:
        return [s.path.split("/")[3] for s in self.seen if s.path.endswith("/cancel")]

    async def _check(self, request: Request) -> tuple[Any, Response | None]:
        body = await self.record(request)
        if not self.bearer_ok(request):
            return body, _detail(401, "Invalid or missing API token")
        return body, None

    def _urls(self, request_id: str) -> dict[str, str]:
        base = f"{self.base_url}/v1/requests/{request_id}"
        return {
            "request_id": request_id,
            "status_url": f"{base}/status",
            "result_url": f"{base}/result",
            "cancel_url": f"{base}/cancel",
        }

    async def submit(self, request: Request) -> Response:
        body, refused = await self._check(request)
        if refused:
            return refused
        if self.submit_error is not None:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return _detail(*self.submit_error, **headers)
        if request.path_params["model"] != MODEL:
            return _detail(404, f"Model {request.path_params['model']} not found")
        valid = (
            isinstance(body, dict)
            and isinstance(body.get("prompt"), str)
            and isinstance(body.get("enable_prompt_expansion", True), bool)
            and set(body) <= {"prompt", "enable_prompt_expansion"}
        )
        if not valid:
            return _detail(422, "Input does not match the model's schema")
        request_id = f"rc-{next(self._ids):08d}"
        self.requests[request_id] = RunRequest(request_id, body)
        return JSONResponse(self._urls(request_id))

    def _find(self, request: Request) -> RunRequest | None:
        return self.requests.get(request.path_params["id"])

    def _advance(self, item: RunRequest) -> None:
        if self.hold or item.status in ("completed", "cancelled", "failed"):
            return
        following = STEPS[STEPS.index(item.status) + 1]
        item.status = "failed" if following == "completed" and self.outcome == "fail" else following

    def _state(self, item: RunRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"request_id": item.id, "status": item.status}
        if item.status == "in_queue":
            body["queue_position"] = 0
        if item.status == "failed":
            body["error"] = FAIL_MESSAGE
        return body

    async def status(self, request: Request) -> Response:
        _, refused = await self._check(request)
        item = self._find(request)
        if refused or item is None:
            return refused or _detail(404, "Request not found")
        self._advance(item)
        return JSONResponse(self._state(item))

    async def result(self, request: Request) -> Response:
        _, refused = await self._check(request)
        item = self._find(request)
        if refused or item is None:
            return refused or _detail(404, "Request not found")
        body = self._state(item)
        if item.status == "completed":
            body["output"] = {"video": f"{self.base_url}/files/{item.id}.mp4"}
        return JSONResponse(body)

    async def cancel(self, request: Request) -> Response:
        _, refused = await self._check(request)
        item = self._find(request)
        if refused or item is None:
            return refused or _detail(404, "Request not found")
        if item.status != "in_queue":
            return _detail(409, "Only queued requests can be cancelled")
        item.status = "cancelled"
        return JSONResponse({"request_id": item.id, "status": "cancelled"})

    async def video(self, request: Request) -> Response:
        return Response(SAMPLE_MP4, media_type="video/mp4")
