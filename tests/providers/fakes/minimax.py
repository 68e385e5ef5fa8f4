"""A fake MiniMax video API on loopback, speaking its wire format (see PROVIDERS.md).

``POST /v1/video_generation``, ``GET /v1/query/video_generation``, ``GET /v1/files/retrieve``
(all ``Authorization: Bearer``, all HTTP 200 with the verdict in ``base_resp``). After a
submission it POSTs ``{"challenge": ...}`` to ``callback_url`` and, only when the answer echoes
it, pushes the query shape on each status change: Processing, then success or Fail.

Steer it through attributes: ``outcome`` ("success" | "fail"), ``status_case`` ("title":
``Success``/``Fail``; "lower": ``success``/``failed``), ``submit_error`` (a
``(status_code, status_msg)`` every submission answers with), ``retry_after``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import secrets
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.sim.server import SAMPLE_MP4

from .loopback import LoopbackFake

MODELS = ("MiniMax-Hailuo-2.3", "MiniMax-Hailuo-2.3-Fast")
FAIL_CODE = 1026
FAIL_MSG = "input new_sensitive, please modify your prompt"


@dataclasses.dataclass
class Task:
    id: str
    callback_url: str
    status: str = "Queueing"
    file_id: str | None = None
    handshake: str | None = None  # "validated", "refused" or None (not yet)
    pushes: list[tuple[str, int]] = dataclasses.field(default_factory=list)


def _base(code: int = 0, msg: str = "success") -> dict[str, Any]:
    return {"status_code": code, "status_msg": msg}


class FakeMiniMax(LoopbackFake):
    def __init__(self, api_key: str = "mm-key") -> None:
        super().__init__(api_key)
        self.outcome = "success"
        self.status_case = "title"
        self.submit_error: tuple[int, str] | None = None
        self.retry_after: str | None = None
        self.tasks: dict[str, Task] = {}
        self._ids = itertools.count(106916112212032)
        self.app = Starlette(
            routes=[
                Route("/v1/video_generation", self.submit, methods=["POST"]),
                Route("/v1/query/video_generation", self.query, methods=["GET"]),
                Route("/v1/files/retrieve", self.retrieve, methods=["GET"]),
                Route("/download/{file_id}.mp4", self.video, methods=["GET"]),
            ]
        )

    def _unauthorised(self, request: Request) -> JSONResponse | None:
        if self.bearer_ok(request):
            return None
        return JSONResponse({"base_resp": _base(1004, "login fail: Please carry the API secret")})

    async def submit(self, request: Request) -> Response:
        body = await self.record(request)
        if refused := self._unauthorised(request):
            return refused
        if self.submit_error is not None:
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            return JSONResponse(
                {"task_id": "", "base_resp": _base(*self.submit_error)}, headers=headers
            )
        valid = (
            isinstance(body, dict)
            and body.get("model") in MODELS
            and isinstance(body.get("prompt"), str)
            and len(body["prompt"]) <= 2000
            and body.get("duration") in (6, 10)
            and not isinstance(body.get("duration"), bool)
            and body.get("resolution") in ("768P", "1080P")
            and not (body.get("resolution") == "1080P" and body.get("duration") == 10)
            and isinstance(body.get("prompt_optimizer"), bool)
            and isinstance(body.get("callback_url"), str)
            and (body.get("model") != MODELS[1] or isinstance(body.get("first_frame_image"), str))
        )
        if not valid:
            return JSONResponse({"task_id": "", "base_resp": _base(2013, "invalid params")})
        task = Task(str(next(self._ids)), body["callback_url"])
        self.tasks[task.id] = task
        self.spawn(self._run(task))
        return JSONResponse({"task_id": task.id, "base_resp": _base()})

    def _status_word(self, status: str) -> str:
        if self.status_case == "lower":
            return {"Success": "success", "Fail": "failed"}.get(status, status.lower())
        return status

    def _body(self, task: Task) -> dict[str, Any]:
        body: dict[str, Any] = {
            "task_id": task.id,
            "status": self._status_word(task.status),
            "file_id": task.file_id or "",
            "base_resp": _base(),
        }
        if task.status == "Success":
            body.update(video_width=1366, video_height=768)
        if task.status == "Fail":
            body["base_resp"] = _base(FAIL_CODE, FAIL_MSG)
        return body

    async def _run(self, task: Task) -> None:
        challenge = secrets.token_urlsafe(12)
        try:
            answer = await self.client.post(task.callback_url, json={"challenge": challenge})
            echoed = answer.status_code == 200 and answer.json() == {"challenge": challenge}
        except (httpx.HTTPError, ValueError):
            echoed = False
        task.handshake = "validated" if echoed else "refused"
        final = "Fail" if self.outcome == "fail" else "Success"
        for status in ("Processing", final):
            await asyncio.sleep(self.delay)
            task.status = status
            if status == "Success":
                task.file_id = str(next(self._ids))
            if echoed:
                await self._push(task)

    async def _push(self, task: Task) -> None:
        status = await self.call_back(task.callback_url, self._body(task))
        task.pushes.append((task.status, status))

    async def query(self, request: Request) -> Response:
        await self.record(request)
        if refused := self._unauthorised(request):
            return refused
        task = self.tasks.get(request.query_params.get("task_id", ""))
        if task is None:
            return JSONResponse({"task_id": "", "status": "", "base_resp": _base(2013, "no task")})
        return JSONResponse(self._body(task))

    async def retrieve(self, request: Request) -> Response:
        await self.record(request)
        if refused := self._unauthorised(request):
            return refused
        file_id = request.query_params.get("file_id", "")
        if not any(t.file_id == file_id for t in self.tasks.values()):
            return JSONResponse({"base_resp": _base(2013, "file not found")})
        return JSONResponse(
            {
                "file": {
                    "file_id": int(file_id),
                    "bytes": len(SAMPLE_MP4),
                    "created_at": 1700469398,
                    "filename": "output.mp4",
                    "purpose": "video_generation",
                    "download_url": f"{self.base_url}/download/{file_id}.mp4",
                },
                "base_resp": _base(),
            }
        )

    async def video(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        if not any(t.file_id == file_id for t in self.tasks.values()):
            return Response(status_code=404)
        return Response(SAMPLE_MP4, media_type="video/mp4")
