"""Runware (``https://api.runware.ai/v1``): Hailuo 2.3 as ``videoInference`` tasks.

Every request is a POST of a JSON **array** of task objects to the API root; answers are
``{"data": [...], "errors": [...]}``. A task submitted with ``deliveryMethod: "async"`` is
acknowledged at once; Runware then POSTs the finished task, flat, to ``webhookURL``, and
``getResponse`` polls it. A failure webhook's shape is not documented, so both an
``errors[]`` body and a flat error object are read as a failure.

Job mapping: ``minimax:4@1`` is Hailuo 2.3 (t2v and i2v); ``provider_options["variant"] ==
"fast"`` picks ``minimax:4@2``, Hailuo 2.3 Fast (i2v only). Runware has no pro tier: quality
follows the resolution, 768P = 1366x768 and 1080P = 1920x1080 (the page's examples).
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from typing import Any

import httpx

from ..errors import ProviderAuthError, ProviderError, ProviderRejected, ProviderUnavailable
from ..models import Job, JobRequest, ProviderEvent
from ..states import EventKind
from .base import ProviderAdapter, json_body

MODELS = {"standard": "minimax:4@1", "fast": "minimax:4@2"}
SIZES = {"768P": (1366, 768), "1080P": (1920, 1080)}
FPS = 25
_KINDS = {"processing": EventKind.RUNNING, "success": EventKind.SUCCEEDED}
_AUTH_CODES = ("apikey", "unauthorized", "forbidden")
_TRANSIENT_CODES = ("timeout", "ratelimit", "unavailable", "servererror", "busy", "overload")


def task_uuid_for(job: Job) -> str:
    """The taskUUID of the job's current submit attempt. Runware asks for a v4 UUID and lets
    the client choose it; deriving it (a hash, with the v4 bits set) instead of drawing it
    lets clipwire ask Runware, after a submit whose answer was lost, whether that very task
    exists (``locate``)."""
    digest = hashlib.sha256(f"clipwire-runware:{job.id}:{job.submit_attempts}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def variant_of(request: JobRequest) -> str:
    return str(request.provider_options.get("variant", "standard"))


def _error_item(item: dict[str, Any]) -> tuple[str | None, str | None]:
    code, message = item.get("code"), item.get("message")
    return (
        str(code) if code is not None else None,
        str(message) if message is not None else None,
    )


def _failed(item: dict[str, Any], task_id: str | None = None) -> ProviderEvent:
    code, message = _error_item(item)
    task = item.get("taskUUID")
    return ProviderEvent(
        EventKind.FAILED,
        task_id=task if isinstance(task, str) else task_id,
        error_code=code,
        error_message=message,
        provider_status="error",
    )


def _first_dict(value: Any) -> dict[str, Any] | None:
    if isinstance(value, list):
        return next((item for item in value if isinstance(item, dict)), None)
    return None


def _task_event(item: dict[str, Any]) -> ProviderEvent:
    """One task object (a webhook body, or an item of ``data``) as an event."""
    task = item.get("taskUUID")
    task_id = task if isinstance(task, str) else None
    status = item.get("status")
    video = item.get("videoURL")
    if status == "error" or (status is None and "code" in item and "message" in item):
        return _failed(item, task_id)
    if isinstance(video, str) and video and status in (None, "success"):
        return ProviderEvent(
            EventKind.SUCCEEDED, task_id=task_id, outputs=(video,), provider_status="success"
        )
    kind = _KINDS.get(status, EventKind.UNKNOWN) if isinstance(status, str) else EventKind.UNKNOWN
    if kind is EventKind.SUCCEEDED:  # success without a video URL: nothing to keep
        kind = EventKind.UNKNOWN
    return ProviderEvent(
        kind, task_id=task_id, provider_status=status if isinstance(status, str) else None
    )


def read_answer(payload: Any) -> ProviderEvent:
    """A webhook body or a ``getResponse`` answer: the flat task object, ``{"data": [...]}``,
    ``{"errors": [...]}`` or a flat error object. Anything else is ``UNKNOWN``."""
    if isinstance(payload, list):
        payload = _first_dict(payload)
    if not isinstance(payload, dict):
        return ProviderEvent(EventKind.UNKNOWN)
    error = _first_dict(payload.get("errors"))
    if error is not None:
        return _failed(error)
    if isinstance(payload.get("error"), dict):
        return _failed(payload["error"])
    if "data" in payload:
        item = _first_dict(payload["data"])
        return _task_event(item) if item is not None else ProviderEvent(EventKind.UNKNOWN)
    return _task_event(payload)


def error_class(code: str | None) -> type[ProviderError]:
    """What a Runware error code in a 2xx body means for retrying."""
    folded = (code or "").lower()
    if any(word in folded for word in _AUTH_CODES):
        return ProviderAuthError
    if any(word in folded for word in _TRANSIENT_CODES):
        return ProviderUnavailable
    return ProviderRejected


class RunwareAdapter(ProviderAdapter):
    name = "runware"
    default_base_url = "https://api.runware.ai/v1"

    def validate(self, request: JobRequest) -> None:
        variant = variant_of(request)
        if variant not in MODELS:
            self.refuse('runware: provider_options.variant must be "standard" or "fast"')
        if variant == "fast" and request.mode == "t2v":
            self.refuse("runware: Hailuo 2.3 Fast (minimax:4@2) is image-to-video only")
        if request.tier != "standard":
            self.refuse(
                "runware: Hailuo 2.3 has no pro tier on Runware; quality follows the"
                " resolution (ask for 1080P)"
            )
        if request.duration == 10 and request.resolution == "1080P":
            self.refuse("runware: Hailuo 2.3 makes 10 s videos at 768P only")

    def build_submit(self, job: Job, callback_url: str) -> httpx.Request:
        request = job.request
        width, height = SIZES[request.resolution]
        task: dict[str, Any] = {
            "taskType": "videoInference",
            "taskUUID": task_uuid_for(job),
            "model": MODELS[variant_of(request)],
            "positivePrompt": request.prompt,
            "width": width,
            "height": height,
            "duration": request.duration,
            "fps": FPS,
            "deliveryMethod": "async",
            "webhookURL": callback_url,
            "includeCost": True,
            "providerSettings": {"minimax": {"promptOptimizer": request.prompt_optimizer}},
        }
        if request.image_url:
            task["inputs"] = {"frameImages": [{"image": request.image_url, "frame": "first"}]}
        return self._post([task])

    def parse_submit(self, response: httpx.Response) -> ProviderEvent:
        payload = json_body(response, self.name)
        error = _first_dict(payload.get("errors")) if isinstance(payload, dict) else None
        if error is not None:
            code, message = _error_item(error)
            raise error_class(code)(
                f"runware refused the task: {message or code}", provider_code=code
            )
        event = read_answer(payload)
        if not event.task_id:
            raise ProviderRejected("runware answered without a taskUUID")
        if event.kind is EventKind.UNKNOWN:  # the async acknowledgement has no status
            return ProviderEvent(EventKind.SUBMITTED, task_id=event.task_id)
        return event

    def parse_webhook(self, payload: Any) -> ProviderEvent:
        return read_answer(payload)

    async def locate(self, client: httpx.AsyncClient, job: Job) -> ProviderEvent | None:
        """Did the last submit reach Runware? Ask for its task by the UUID we chose for it."""
        uuid_ = task_uuid_for(job)
        asking = self._post([{"taskType": "getResponse", "taskUUID": uuid_}])
        try:
            event = self.parse_status(await self.send(client, asking))
        except ProviderRejected:  # e.g. taskNotFound: the submit never arrived
            return None
        if event.kind in (EventKind.UNKNOWN, EventKind.FAILED) and event.task_id != uuid_:
            return None
        return dataclasses.replace(event, task_id=uuid_)

    def build_status(self, job: Job) -> httpx.Request | None:
        if not job.provider_task_id:
            return None
        return self._post([{"taskType": "getResponse", "taskUUID": job.provider_task_id}])

    def parse_status(self, response: httpx.Response) -> ProviderEvent:
        payload = json_body(response, self.name)
        error = _first_dict(payload.get("errors")) if isinstance(payload, dict) else None
        if error is not None and not isinstance(error.get("taskUUID"), str):
            code, message = _error_item(error)  # about the request (our key), not the task
            raise error_class(code)(f"runware: {message or code}", provider_code=code)
        return read_answer(payload)

    def error_detail(self, response: httpx.Response) -> tuple[str | None, str | None]:
        try:
            payload = response.json()
        except ValueError:
            return None, None
        event = read_answer(payload)
        if event.kind is not EventKind.FAILED:
            return None, None
        return event.error_code, event.error_message

    def _post(self, tasks: list[dict[str, Any]]) -> httpx.Request:
        return httpx.Request(
            "POST", self.config.base_url.rstrip("/"), json=tasks, headers=self.auth_headers()
        )
