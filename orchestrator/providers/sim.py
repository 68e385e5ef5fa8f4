"""The adapter for clipwire's own simulated provider (``orchestrator.sim.server``).

It speaks to the simulator over real HTTP exactly as the real adapters speak to theirs, so the
demo and the end-to-end tests exercise the whole path: submit, callback, verify, store, apply.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import ProviderRejected
from ..models import Job, ProviderEvent
from ..states import EventKind
from .base import ProviderAdapter, json_body

_KINDS = {
    "queued": EventKind.QUEUED,
    "running": EventKind.RUNNING,
    "success": EventKind.SUCCEEDED,
    "failed": EventKind.FAILED,
    "cancelled": EventKind.CANCELLED,
}


def _event(payload: Any) -> ProviderEvent:
    if not isinstance(payload, dict):
        return ProviderEvent(EventKind.UNKNOWN)
    status = payload.get("status")
    task_id = payload.get("task_id") if isinstance(payload.get("task_id"), str) else None
    kind = _KINDS.get(status, EventKind.UNKNOWN) if isinstance(status, str) else EventKind.UNKNOWN
    video = payload.get("video_url")
    error = payload.get("error")
    error = error if isinstance(error, dict) else {}
    return ProviderEvent(
        kind=kind,
        task_id=task_id,
        outputs=(video,) if isinstance(video, str) and kind is EventKind.SUCCEEDED else (),
        error_code=str(error["code"]) if "code" in error else None,
        error_message=str(error["message"]) if "message" in error else None,
        provider_status=status if isinstance(status, str) else None,
    )


class SimAdapter(ProviderAdapter):
    name = "sim"
    requires_api_key = False
    expected_seconds = 5.0

    def build_submit(self, job: Job, callback_url: str) -> httpx.Request:
        request = job.request
        body = {
            "model": f"hailuo-2.3-{request.tier}",
            "mode": request.mode,
            "prompt": request.prompt,
            "image_url": request.image_url,
            "duration": request.duration,
            "resolution": request.resolution,
            "callback_url": callback_url,
            "options": request.provider_options,
        }
        return httpx.Request(
            "POST", self.url("/v1/video/tasks"), json=body, headers=self.auth_headers()
        )

    def parse_submit(self, response: httpx.Response) -> ProviderEvent:
        event = _event(json_body(response, self.name))
        if not event.task_id:
            raise ProviderRejected("the simulator answered without a task_id")
        return event

    def parse_webhook(self, payload: Any) -> ProviderEvent:
        return _event(payload)

    def build_status(self, job: Job) -> httpx.Request | None:
        if not job.provider_task_id:
            return None
        return httpx.Request(
            "GET",
            self.url(f"/v1/video/tasks/{job.provider_task_id}"),
            headers=self.auth_headers(),
        )

    def parse_status(self, response: httpx.Response) -> ProviderEvent:
        return _event(json_body(response, self.name))
