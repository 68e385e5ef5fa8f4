"""A simulated Hailuo 2.3 provider, served over real HTTP.

It accepts a task, answers with a task id, then POSTs status webhooks (queued, running, then
success or failed) to the task's ``callback_url`` after a delay, and serves a small real MP4 as
the result. ``options`` in the submission steer it, for demos and fault-injection tests:

    outcome      "success" (default) or "fail"
    delay        seconds between webhooks (default 0.2)
    duplicates   send every webhook this many times (default 1)
    reverse      send the webhooks in reverse order (terminal first)
    silent       send no webhooks at all (the task still completes; poll to see it)
    early        deliver the first webhook before answering the submission
    error_code / error_message   what a failure reports
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from importlib import resources
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SAMPLE_MP4 = resources.files(__package__).joinpath("sample.mp4").read_bytes()
SAMPLE_PNG = resources.files(__package__).joinpath("frame.png").read_bytes()


@dataclasses.dataclass
class SimTask:
    id: str
    callback_url: str
    options: dict[str, Any]
    status: str = "queued"
    deliveries: list[int] = dataclasses.field(default_factory=list)  # HTTP status per webhook

    def body(self, status: str, base_url: str) -> dict[str, Any]:
        body: dict[str, Any] = {"task_id": self.id, "status": status}
        if status == "success":
            body["video_url"] = f"{base_url}/files/{self.id}.mp4"
        if status == "failed":
            body["error"] = {
                "code": str(self.options.get("error_code", "sim_failure")),
                "message": str(self.options.get("error_message", "the simulator was told to fail")),
            }
        return body


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class Simulator:
    def __init__(self, *, api_key: str | None = None, base_url: str | None = None) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.tasks: dict[str, SimTask] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.client = httpx.AsyncClient(timeout=5.0)
        self.app = Starlette(
            routes=[
                Route("/v1/video/tasks", self.submit, methods=["POST"]),
                Route("/v1/video/tasks/{task_id}", self.status, methods=["GET"]),
                Route("/files/{task_id}.mp4", self.video, methods=["GET"]),
                Route("/files/frame.png", self.frame, methods=["GET"]),
            ]
        )

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.client.aclose()

    def _authorised(self, request: Request) -> bool:
        return (
            self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}"
        )

    async def submit(self, request: Request) -> Response:
        if not self._authorised(request):
            return _error(401, "unauthorized", "missing or wrong API key")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "bad_json", "body is not JSON")
        if not isinstance(body, dict) or not body.get("prompt") or not body.get("callback_url"):
            return _error(400, "bad_request", "prompt and callback_url are required")
        options = body.get("options")
        options = options if isinstance(options, dict) else {}
        task = SimTask(f"sim-{secrets.token_hex(8)}", body["callback_url"], options)
        self.tasks[task.id] = task
        base_url = self.base_url or str(request.base_url).rstrip("/")
        plan = self._plan(task)
        if options.get("early") and plan and not options.get("silent"):
            await self._deliver(task, plan.pop(0), base_url)
        job = asyncio.create_task(self._run(task, plan, base_url))
        self._background.add(job)
        job.add_done_callback(self._background.discard)
        return JSONResponse({"task_id": task.id, "status": "queued"})

    @staticmethod
    def _plan(task: SimTask) -> list[str]:
        outcome = "failed" if task.options.get("outcome") == "fail" else "success"
        plan = ["queued", "running", outcome]
        return plan[::-1] if task.options.get("reverse") else plan

    async def _run(self, task: SimTask, plan: list[str], base_url: str) -> None:
        delay = float(task.options.get("delay", 0.2))
        for status in plan:
            await asyncio.sleep(delay)
            task.status = status if task.status not in ("success", "failed") else task.status
            if not task.options.get("silent"):
                await self._deliver(task, status, base_url)
        task.status = "failed" if "failed" in plan else "success"

    async def _deliver(self, task: SimTask, status: str, base_url: str) -> None:
        for _ in range(max(1, int(task.options.get("duplicates", 1)))):
            try:
                answer = await self.client.post(task.callback_url, json=task.body(status, base_url))
                task.deliveries.append(answer.status_code)
            except httpx.HTTPError:
                task.deliveries.append(0)

    async def status(self, request: Request) -> Response:
        if not self._authorised(request):
            return _error(401, "unauthorized", "missing or wrong API key")
        task = self.tasks.get(request.path_params["task_id"])
        if task is None:
            return _error(404, "not_found", "no such task")
        base_url = self.base_url or str(request.base_url).rstrip("/")
        return JSONResponse(task.body(task.status, base_url))

    async def video(self, request: Request) -> Response:
        if request.path_params["task_id"] not in self.tasks:
            return _error(404, "not_found", "no such file")
        return Response(SAMPLE_MP4, media_type="video/mp4")

    async def frame(self, request: Request) -> Response:
        return Response(SAMPLE_PNG, media_type="image/png")
