"""API in One (``https://apiin.one``): Hailuo 2.3 image-to-video, driven by polling.

``POST /api/v1/videos/generations`` with ``{model, prompt, image, duration: "6"|"10",
resolution}`` answers ``{"code": 200, "message": "success", "data": {"task_id", "status"}}``;
errors read ``{"error": {"code", "message", "type"}}``. ``GET /api/v1/tasks/{task_id}`` is
polled "until status is completed or failed"; nothing more of its body is documented, so it
is read defensively (a ``data`` wrapper or not, several spellings of status, id and output).

The page offers image-to-video only, standard (``hailuo/2-3-image-to-video-standard``) or pro
(``hailuo/2-3-image-to-video-pro``), from an image URL. "Webhook support" is advertised
without a field name or payload: set ``CLIPWIRE_APIINONE_WEBHOOK_FIELD`` (e.g.
``callback_url``) to send clipwire's callback URL in that field; a callback that arrives is
read like a status answer. Without it, no callback is asked for and polling does the work.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import ProviderRejected
from ..models import Job, JobRequest, ProviderEvent
from ..states import EventKind
from .base import ProviderAdapter, error_for_status, json_body

MODELS = {
    "standard": "hailuo/2-3-image-to-video-standard",
    "pro": "hailuo/2-3-image-to-video-pro",
}
_KINDS = {
    **dict.fromkeys(("pending", "queued", "queueing", "waiting", "submitted"), EventKind.QUEUED),
    **dict.fromkeys(("in_progress", "processing", "running", "generating"), EventKind.RUNNING),
    **dict.fromkeys(("completed", "complete", "success", "succeeded", "done"), EventKind.SUCCEEDED),
    **dict.fromkeys(("failed", "failure", "fail", "error"), EventKind.FAILED),
    **dict.fromkeys(("cancelled", "canceled"), EventKind.CANCELLED),
}
_ID_KEYS = ("task_id", "taskId", "id")
_OUTPUT_KEYS = (
    "video_url",
    "videoUrl",
    "video",
    "videos",
    "url",
    "urls",
    "file_url",
    "fileUrl",
    "output",
    "outputs",
    "result",
    "results",
)
_ERROR_KEYS = ("error_message", "errorMessage", "fail_reason", "failReason", "message", "msg")


def _urls(value: Any, depth: int = 0) -> list[str]:
    """The http(s) URLs under output-like keys of ``value``, in order."""
    if depth > 4:
        return []
    if isinstance(value, str):
        return [value] if value.startswith(("http://", "https://")) else []
    if isinstance(value, list):
        return [url for item in value for url in _urls(item, depth + 1)]
    if isinstance(value, dict):
        return [url for key in _OUTPUT_KEYS if key in value for url in _urls(value[key], depth + 1)]
    return []


def error_words(body: Any) -> tuple[str | None, str | None]:
    """The code and message of an error: ``{"error": {"code", "message", "type"}}``, an
    ``error`` string, or a message-like field."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        code, message, kind = error.get("code"), error.get("message"), error.get("type")
        words = f"{message} ({kind})" if message and kind else message or kind
        return (str(code) if code is not None else None, str(words) if words else None)
    if isinstance(error, str) and error:
        return None, error
    for key in _ERROR_KEYS:
        value = body.get(key)
        if isinstance(value, str) and value and value.lower() != "success":
            return None, value
    return None, None


def _unwrap(payload: dict[str, Any]) -> dict[str, Any]:
    data = payload.get("data")
    return data if isinstance(data, dict) else payload


def read_task(payload: Any) -> ProviderEvent:
    """A status answer or callback body as an event; what it cannot read is ``UNKNOWN``."""
    if not isinstance(payload, dict):
        return ProviderEvent(EventKind.UNKNOWN)
    body = _unwrap(payload)
    task_id = next((str(body[k]) for k in _ID_KEYS if isinstance(body.get(k), str | int)), None)
    status = body.get("status") or body.get("state")
    kind = _KINDS.get(status.lower(), EventKind.UNKNOWN) if isinstance(status, str) else None
    outputs = tuple(dict.fromkeys(_urls(body)))
    if kind is None:
        kind = EventKind.SUCCEEDED if outputs else EventKind.UNKNOWN
    if kind is EventKind.SUCCEEDED and not outputs:  # done, but nothing to fetch
        kind = EventKind.UNKNOWN
    code, message = error_words(body) if kind is EventKind.FAILED else (None, None)
    if kind is EventKind.FAILED and message is None and body is not payload:
        code, message = error_words(payload)
    return ProviderEvent(
        kind,
        task_id=task_id,
        outputs=outputs if kind is EventKind.SUCCEEDED else (),
        error_code=code,
        error_message=message,
        provider_status=status if isinstance(status, str) else None,
    )


def raise_body_error(payload: Any, provider: str) -> None:
    """A 2xx answer can still carry an error: an ``error`` object, or a ``code`` other than
    200 (API in One's envelope); raise what its code means, as for an HTTP status."""
    if not isinstance(payload, dict):
        return
    error = payload.get("error")
    raw = error.get("code") if isinstance(error, dict) else payload.get("code")
    if error is None and raw in (None, 0, 200, "200"):
        return
    status = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else 400
    code, message = error_words(payload)
    words = message or str(payload)[:300]
    raise error_for_status(status, f"{provider}: {words}", provider_code=code or str(raw))


class APIInOneAdapter(ProviderAdapter):
    name = "apiinone"
    default_base_url = "https://apiin.one"
    has_webhooks = False

    @property
    def webhook_field(self) -> str | None:
        return self.config.options.get("webhook_field") or None

    def validate(self, request: JobRequest) -> None:
        if request.mode == "t2v":
            self.refuse("apiinone: Hailuo 2.3 is offered as image-to-video only (image_url)")
        if request.image_url and request.image_url.startswith("data:"):
            self.refuse("apiinone: the image must be an http(s) URL, not a data: URI")
        if request.provider_options.get("variant", "standard") != "standard":
            self.refuse("apiinone: only the standard and pro tiers are offered (no Fast)")
        if request.duration == 10 and request.resolution == "1080P":
            self.refuse("apiinone: Hailuo 2.3 makes 10 s videos at 768P only")

    def build_submit(self, job: Job, callback_url: str) -> httpx.Request:
        request = job.request
        body: dict[str, Any] = {
            "model": MODELS[request.tier],
            "prompt": request.prompt,
            "image": request.image_url,
            "duration": str(request.duration),
            "resolution": request.resolution,
        }
        if self.webhook_field:
            body[self.webhook_field] = callback_url
        return httpx.Request(
            "POST", self.url("/api/v1/videos/generations"), json=body, headers=self.auth_headers()
        )

    def parse_submit(self, response: httpx.Response) -> ProviderEvent:
        payload = json_body(response, self.name)
        raise_body_error(payload, self.name)
        event = read_task(payload)
        if not event.task_id:
            raise ProviderRejected("apiinone answered without a task_id")
        if event.kind in (EventKind.UNKNOWN, EventKind.QUEUED):
            return ProviderEvent(EventKind.SUBMITTED, event.task_id, provider_status="submitted")
        return event

    def parse_webhook(self, payload: Any) -> ProviderEvent:
        return read_task(payload)

    def build_status(self, job: Job) -> httpx.Request | None:
        if not job.provider_task_id:
            return None
        return httpx.Request(
            "GET",
            self.url(f"/api/v1/tasks/{job.provider_task_id}"),
            headers=self.auth_headers(),
        )

    def parse_status(self, response: httpx.Response) -> ProviderEvent:
        payload = json_body(response, self.name)
        event = read_task(payload)
        if event.kind is EventKind.UNKNOWN:  # an envelope with an error code, not a task
            raise_body_error(payload, self.name)
        return event

    def error_detail(self, response: httpx.Response) -> tuple[str | None, str | None]:
        try:
            return error_words(response.json())
        except ValueError:
            return None, None
