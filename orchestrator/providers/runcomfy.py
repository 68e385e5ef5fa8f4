"""RunComfy's model API (``https://model-api.runcomfy.net``): submit, then poll.

``POST /v1/models/{model_id}`` answers ``{request_id, status_url, result_url, cancel_url}``.
``GET /v1/requests/{id}/status`` says ``in_queue | in_progress | completed | cancelled``;
a completed request's video is read from ``GET /v1/requests/{id}/result`` (``output.video``,
or ``videos``/``image``/``images``), so ``status`` makes that second call itself.
``POST /v1/requests/{id}/cancel`` cancels a request still in the queue.

No webhooks are documented for this API: the worker polls. The one Hailuo 2.3 model the
page documents is Hailuo 2.3 Pro text-to-video (1080P, body ``{prompt,
enable_prompt_expansion}``: no duration, resolution or image), so anything else is refused.
How a failed request reads is not documented: ``failed``/``error`` statuses and an ``error``
field are read as a failure, defensively.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import ProviderRejected
from ..models import Job, JobRequest, ProviderEvent
from ..states import EventKind
from .base import ProviderAdapter, json_body

PRO_TEXT_TO_VIDEO = "minimax/hailuo-2-3/pro/text-to-video"
_KINDS = {
    "in_queue": EventKind.QUEUED,
    "in_progress": EventKind.RUNNING,
    "completed": EventKind.SUCCEEDED,
    "cancelled": EventKind.CANCELLED,
    "canceled": EventKind.CANCELLED,
    "failed": EventKind.FAILED,
    "error": EventKind.FAILED,
}
_OUTPUT_KEYS = ("video", "videos", "image", "images")


def model_for(request: JobRequest) -> str | None:
    """The RunComfy model id for ``request``, or ``None`` when RunComfy does not offer it."""
    if (
        request.mode == "t2v"
        and request.tier == "pro"
        and "variant" not in request.provider_options
    ):
        return PRO_TEXT_TO_VIDEO
    return None


def _urls(output: Any) -> tuple[str, ...]:
    if not isinstance(output, dict):
        return ()
    urls: list[str] = []
    for key in _OUTPUT_KEYS:
        value = output.get(key)
        for url in value if isinstance(value, list) else [value]:
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                urls.append(url)
    return tuple(urls)


def error_words(payload: Any) -> tuple[str | None, str | None]:
    """The code and message in a RunComfy error body: ``error`` (a string or an object),
    ``detail`` or ``message``."""
    if not isinstance(payload, dict):
        return None, None
    error = payload.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message") or error.get("detail")
        return (str(code) if code is not None else None, str(message) if message else None)
    for key in ("error", "detail", "message", "error_message"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return None, value
    return None, None


def read_request(payload: Any) -> ProviderEvent:
    """A status or result answer as an event; a body it cannot read is ``UNKNOWN``."""
    if not isinstance(payload, dict):
        return ProviderEvent(EventKind.UNKNOWN)
    status = payload.get("status")
    task = payload.get("request_id")
    task_id = task if isinstance(task, str) else None
    kind = _KINDS.get(status.lower(), EventKind.UNKNOWN) if isinstance(status, str) else None
    outputs = _urls(payload.get("output"))
    code, message = error_words(payload)
    if kind is None:  # a result body may carry only its output
        kind = EventKind.SUCCEEDED if outputs else EventKind.UNKNOWN
    if kind is EventKind.SUCCEEDED and not outputs and message:
        kind = EventKind.FAILED
    return ProviderEvent(
        kind,
        task_id=task_id,
        outputs=outputs if kind is EventKind.SUCCEEDED else (),
        error_code=code if kind is EventKind.FAILED else None,
        error_message=message if kind is EventKind.FAILED else None,
        provider_status=status if isinstance(status, str) else None,
    )


def finished(event: ProviderEvent) -> ProviderEvent:
    """``event`` read as a final answer: a success without a video URL is ``UNKNOWN``."""
    if event.kind is EventKind.SUCCEEDED and not event.outputs:
        return ProviderEvent(EventKind.UNKNOWN, event.task_id, provider_status="completed")
    return event


class RunComfyAdapter(ProviderAdapter):
    name = "runcomfy"
    default_base_url = "https://model-api.runcomfy.net"
    has_webhooks = False

    def validate(self, request: JobRequest) -> None:
        if model_for(request) is None:
            self.refuse(
                "runcomfy: only Hailuo 2.3 Pro text-to-video is offered"
                f" ({PRO_TEXT_TO_VIDEO}): tier pro, no image_url, no variant"
            )
        if request.resolution != "1080P" or request.duration != 6:
            self.refuse(
                "runcomfy: Hailuo 2.3 Pro text-to-video makes 1080P videos and takes no"
                " duration or resolution: ask for resolution 1080P, duration 6"
            )

    def build_submit(self, job: Job, callback_url: str) -> httpx.Request:
        request = job.request
        model = model_for(request) or PRO_TEXT_TO_VIDEO
        body = {"prompt": request.prompt, "enable_prompt_expansion": request.prompt_optimizer}
        return httpx.Request(
            "POST", self.url(f"/v1/models/{model}"), json=body, headers=self.auth_headers()
        )

    def parse_submit(self, response: httpx.Response) -> ProviderEvent:
        payload = json_body(response, self.name)
        task = payload.get("request_id") if isinstance(payload, dict) else None
        if not isinstance(task, str) or not task:
            raise ProviderRejected("runcomfy answered without a request_id")
        return ProviderEvent(EventKind.SUBMITTED, task_id=task)

    def parse_webhook(self, payload: Any) -> ProviderEvent:
        # Not documented for the model API; should one arrive, it is read like a result.
        return finished(read_request(payload))

    def build_status(self, job: Job) -> httpx.Request | None:
        return self._request("GET", job, "status")

    def build_result(self, job: Job) -> httpx.Request | None:
        return self._request("GET", job, "result")

    def build_cancel(self, job: Job) -> httpx.Request | None:
        return self._request("POST", job, "cancel")

    def parse_status(self, response: httpx.Response) -> ProviderEvent:
        """The status answer; ``completed`` here is a success still without its video."""
        return read_request(json_body(response, self.name))

    def parse_result(self, response: httpx.Response) -> ProviderEvent:
        """The result answer; a completed request without a video URL is ``UNKNOWN``."""
        return finished(read_request(json_body(response, self.name)))

    async def status(self, client: httpx.AsyncClient, job: Job) -> ProviderEvent | None:
        """The status, and for a completed request the result: two calls."""
        event = await super().status(client, job)
        result = self.build_result(job)
        if event is None or event.kind is not EventKind.SUCCEEDED or event.outputs or not result:
            return event
        return self.parse_result(await self.send(client, result))

    def error_detail(self, response: httpx.Response) -> tuple[str | None, str | None]:
        try:
            return error_words(response.json())
        except ValueError:
            return None, None

    def _request(self, method: str, job: Job, action: str) -> httpx.Request | None:
        if not job.provider_task_id:
            return None
        path = f"/v1/requests/{job.provider_task_id}/{action}"
        return httpx.Request(method, self.url(path), headers=self.auth_headers())
