"""The RunningHub adapter: Hailuo 2.3 through RunningHub's standard model API (v2).

Variants (``JobRequest.tier`` and ``provider_options["variant"]``), each a path under
``/openapi/v2/minimax/``:

    t2v  standard          hailuo-2.3/t2v-standard                 768P, 6 or 10 s
    t2v  pro               hailuo-2.3/t2v-pro                      1080P, 6 s
    i2v  standard          hailuo-2.3/i2v-standard                 768P, 6 or 10 s
    i2v  pro               hailuo-2.3/image-to-video-pro           1080P, 6 s (not ``i2v-pro``)
    i2v  standard, fast    hailuo-2.3-fast/image-to-video          768P, 6 or 10 s
    i2v  pro, fast         hailuo-2.3-fast-pro/image-to-video      1080P, 6 s

RunningHub takes no resolution: the tier fixes it, so a job's ``resolution`` must agree with
its tier. It answers HTTP 200 with a ``code`` in the body; ``804``/``813`` (or the names
``APIKEY_TASK_IS_RUNNING``/``APIKEY_TASK_IS_QUEUED`` in ``msg``) mean *still pending*.

The v1 event tools (``apiKey`` in the JSON body) look up a task's webhook delivery and ask
RunningHub to send it again, to this or another URL: ``webhook_detail`` and ``resend``.
There is no documented cancel for standard-model tasks.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from ..errors import ProviderAuthError, ProviderError, ProviderRejected, ProviderUnavailable
from ..models import Job, JobRequest, ProviderEvent
from ..states import EventKind
from .base import ProviderAdapter, json_body, retry_after_seconds

_PATHS = {
    ("t2v", "standard", False): "minimax/hailuo-2.3/t2v-standard",
    ("t2v", "pro", False): "minimax/hailuo-2.3/t2v-pro",
    ("i2v", "standard", False): "minimax/hailuo-2.3/i2v-standard",
    ("i2v", "pro", False): "minimax/hailuo-2.3/image-to-video-pro",
    ("i2v", "standard", True): "minimax/hailuo-2.3-fast/image-to-video",
    ("i2v", "pro", True): "minimax/hailuo-2.3-fast-pro/image-to-video",
}
_RESOLUTION_OF_TIER = {"standard": "768P", "pro": "1080P"}
OPTIONS = ("variant",)
VARIANTS = ("fast",)

_STATUSES = {
    "QUEUED": EventKind.QUEUED,
    "RUNNING": EventKind.RUNNING,
    "SUCCESS": EventKind.SUCCEEDED,
    "FAILED": EventKind.FAILED,
    "CANCEL": EventKind.CANCELLED,
    "CANCELED": EventKind.CANCELLED,
    "CANCELLED": EventKind.CANCELLED,
}

# What a ``code`` (or the name RunningHub puts in ``msg``) means. Anything else is a refusal.
_PENDING_CODES = {"804": EventKind.RUNNING, "813": EventKind.QUEUED}
_PENDING_NAMES = {
    "APIKEY_TASK_IS_RUNNING": EventKind.RUNNING,
    "APIKEY_TASK_IS_QUEUED": EventKind.QUEUED,
}
_AUTH_CODES = {"801", "802", "811"}
_AUTH_NAMES = ("APIKEY_UNAUTHORIZED", "APIKEY_UNSUPPORTED_FREE_USER", "CORPAPIKEY_INVALID")
_BUSY_CODES = {"415", "421", "429", "814"}
_BUSY_NAMES = (
    "TASK_INSTANCE_MAXED",
    "TASK_QUEUE_MAXED",
    "PERSONAL_QUEUE_COUNT_LIMIT",
    "UNKNOWN_ERROR",
)
_VIDEO_TYPES = ("mp4", "mov", "webm", "video")


def _text(value: object) -> str | None:
    """A non-empty string form of a scalar: codes come as numbers or as strings."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        text = str(value).strip()
        return text or None
    return None


def pending_kind(code: str | None, msg: str | None) -> EventKind | None:
    """``QUEUED``/``RUNNING`` when a code or message means the task is still pending."""
    if code in _PENDING_CODES:
        return _PENDING_CODES[code]
    upper = (msg or "").upper()
    for name, kind in _PENDING_NAMES.items():
        if name in upper:
            return kind
    return None


def error_for(
    code: str | None, msg: str | None, response: httpx.Response | None = None
) -> ProviderError:
    """The error a RunningHub ``code``/``msg`` pair means; the provider's words are kept."""
    upper = (msg or "").upper()
    message = f"runninghub {code}: {msg}" if code else f"runninghub: {msg}"
    if code in _AUTH_CODES or any(name in upper for name in _AUTH_NAMES):
        return ProviderAuthError(message, provider_code=code)
    numeric = int(code) if code and code.isdigit() else 0
    if code in _BUSY_CODES or 500 <= numeric < 600 or any(name in upper for name in _BUSY_NAMES):
        retry_after = retry_after_seconds(response) if response is not None else None
        return ProviderUnavailable(message, provider_code=code, retry_after=retry_after)
    return ProviderRejected(message, provider_code=code)


def _outputs(items: object) -> tuple[str, ...]:
    """The result URLs (``fileUrl`` or ``url``), videos first."""
    if not isinstance(items, list):
        return ()
    found: list[tuple[bool, str]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        url = item.get("fileUrl") or item.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            continue
        kind = str(item.get("fileType") or item.get("outputType") or "").lower()
        is_video = kind in _VIDEO_TYPES or url.lower().split("?")[0].endswith((".mp4", ".mov"))
        found.append((not is_video, url))
    return tuple(url for _, url in sorted(found, key=lambda pair: pair[0]))


def _reason(value: object) -> str | None:
    """A failure reason, given as a string or as an object (``failedReason``)."""
    if isinstance(value, dict):
        for key in ("exception_message", "message", "msg", "error", "reason"):
            text = _text(value.get(key))
            if text:
                return text
        return json.dumps(value, sort_keys=True)[:500] if value else None
    return _text(value)


def _flat_event(body: dict[str, Any], task_id: str | None = None) -> ProviderEvent:
    """Read the flat v2 shape: ``{taskId, status, errorCode, errorMessage, results, ...}``."""
    task_id = _text(body.get("taskId")) or task_id
    status = _text(body.get("status"))
    kind = _STATUSES.get(status.upper(), EventKind.UNKNOWN) if status else EventKind.UNKNOWN
    outputs = _outputs(body.get("results"))
    if kind is EventKind.SUCCEEDED and not outputs:
        kind = EventKind.UNKNOWN  # a success without a video is not one we can act on
    code = _text(body.get("errorCode"))
    message = _text(body.get("errorMessage")) or _reason(body.get("failedReason"))
    failed = kind in (EventKind.FAILED, EventKind.CANCELLED)
    return ProviderEvent(
        kind=kind,
        task_id=task_id,
        outputs=outputs if kind is EventKind.SUCCEEDED else (),
        error_code=code if failed else None,
        error_message=message if failed else None,
        provider_status=status,
    )


def _envelope_event(body: dict[str, Any], task_id: str | None) -> ProviderEvent:
    """Read the v1 shape ``{code, msg, data}`` (webhook ``eventData``, v1 answers)."""
    code = _text(body.get("code"))
    msg = _text(body.get("msg"))
    data = body.get("data")
    if code == "0" and isinstance(data, dict) and "status" in data:
        return _flat_event(data, task_id)  # the flat shape inside an envelope
    if code == "0":
        outputs = _outputs(data)
        kind = EventKind.SUCCEEDED if outputs else EventKind.UNKNOWN
        return ProviderEvent(kind, task_id, outputs=outputs, provider_status=msg)
    pending = pending_kind(code, msg)
    if pending is not None:
        return ProviderEvent(pending, task_id, provider_status=msg)
    if code is None:
        return ProviderEvent(EventKind.UNKNOWN, task_id)
    detail = _reason(data.get("failedReason")) if isinstance(data, dict) else None
    message = f"{msg}: {detail}" if msg and detail else (msg or detail)
    return ProviderEvent(
        EventKind.FAILED, task_id, error_code=code, error_message=message, provider_status=msg
    )


def read_event(payload: Any) -> ProviderEvent:
    """Any RunningHub body that speaks of a task, as one event; unreadable ones are UNKNOWN.

    Webhooks: ``{"event": "TASK_END", "taskId", "eventData"}`` where ``eventData`` is a JSON
    string or an object, itself either ``{code, msg, data: [{fileUrl, ...}]}`` or the flat
    ``{taskId, status, results: [{url, ...}]}``. Query answers are the flat shape.
    """
    if not isinstance(payload, dict):
        return ProviderEvent(EventKind.UNKNOWN)
    task_id = _text(payload.get("taskId"))
    if "eventData" in payload:
        data = payload["eventData"]
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                return ProviderEvent(EventKind.UNKNOWN, task_id)
        payload = data
        if not isinstance(payload, dict):
            return ProviderEvent(EventKind.UNKNOWN, task_id)
    if "status" in payload:
        return _flat_event(payload, task_id)
    if "code" in payload:
        return _envelope_event(payload, task_id)
    return ProviderEvent(EventKind.UNKNOWN, task_id)


def _raise_for_code(body: dict[str, Any], response: httpx.Response) -> None:
    """Raise what a non-zero, non-pending ``code`` (v1 envelope) in a 200 answer means."""
    code = _text(body.get("code"))
    if code is None or code == "0":
        return
    msg = _text(body.get("msg")) or _text(body.get("message"))
    if pending_kind(code, msg) is None:
        raise error_for(code, msg, response)


class RunningHubAdapter(ProviderAdapter):
    name = "runninghub"
    default_base_url = "https://www.runninghub.ai"

    # jobs

    def validate(self, request: JobRequest) -> None:
        unknown = sorted(set(request.provider_options) - set(OPTIONS))
        if unknown:
            self.refuse(
                f"runninghub does not know provider_options {', '.join(unknown)}"
                f" (known: {', '.join(OPTIONS)})"
            )
        variant = request.provider_options.get("variant")
        if variant is not None and variant not in VARIANTS:
            self.refuse('runninghub provider_options.variant must be "fast" or absent')
        if variant == "fast" and request.mode != "i2v":
            self.refuse("runninghub's Hailuo 2.3 Fast is image-to-video only: give an image_url")
        wanted = _RESOLUTION_OF_TIER[request.tier]
        if request.resolution != wanted:
            self.refuse(
                f"runninghub's {request.tier} variants render {wanted}, not"
                f" {request.resolution}: use tier standard for 768P, tier pro for 1080P"
            )
        if request.tier == "pro" and request.duration != 6:
            self.refuse("runninghub's pro (1080P) variants make 6 s videos only")

    def path_for(self, request: JobRequest) -> str:
        fast = request.provider_options.get("variant") == "fast"
        return f"/openapi/v2/{_PATHS[(request.mode, request.tier, fast)]}"

    def build_submit(self, job: Job, callback_url: str) -> httpx.Request:
        request = job.request
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "duration": str(request.duration),
            "enablePromptExpansion": request.prompt_optimizer,
            "webhookUrl": callback_url,
        }
        if request.image_url:
            body["imageUrl"] = request.image_url
        return httpx.Request(
            "POST", self.url(self.path_for(request)), json=body, headers=self.auth_headers()
        )

    def parse_submit(self, response: httpx.Response) -> ProviderEvent:
        body = json_body(response, self.name)
        if not isinstance(body, dict):
            raise ProviderRejected("runninghub answered the submission with a non-object body")
        _raise_for_code(body, response)
        code = _text(body.get("errorCode"))
        message = _text(body.get("errorMessage")) or _reason(body.get("failedReason"))
        status = (_text(body.get("status")) or "").upper()
        if status == "FAILED" or (code and pending_kind(code, message) is None):
            raise error_for(code, message or "the task failed on submission", response)
        task_id = _text(body.get("taskId"))
        if not task_id and pending_kind(_text(body.get("code")), _text(body.get("msg"))):
            # "a task of this key is still running/queued": back-pressure, not a refusal
            message = f"runninghub is busy with this key's other tasks: {body.get('msg')}"
            raise ProviderUnavailable(
                message,
                provider_code=_text(body.get("code")),
                retry_after=retry_after_seconds(response),
            )
        if not task_id:
            raise ProviderRejected("runninghub answered the submission without a taskId")
        # Outputs only come by webhook or query: a submission is never a finish here.
        kind = EventKind.RUNNING if status in ("RUNNING", "SUCCESS") else EventKind.QUEUED
        return ProviderEvent(kind, task_id, provider_status=status or None)

    def parse_webhook(self, payload: Any) -> ProviderEvent:
        return read_event(payload)

    def build_status(self, job: Job) -> httpx.Request | None:
        if not job.provider_task_id:
            return None
        return httpx.Request(
            "POST",
            self.url("/openapi/v2/query"),
            json={"taskId": job.provider_task_id},
            headers=self.auth_headers(),
        )

    def parse_status(self, response: httpx.Response) -> ProviderEvent:
        body = json_body(response, self.name)
        if isinstance(body, dict) and "status" not in body:
            _raise_for_code(body, response)
        return read_event(body)

    def error_detail(self, response: httpx.Response) -> tuple[str | None, str | None]:
        try:
            body = response.json()
        except ValueError:
            return None, None
        if not isinstance(body, dict):
            return None, None
        code = _text(body.get("code")) or _text(body.get("errorCode"))
        msg = _text(body.get("msg")) or _text(body.get("errorMessage"))
        return code, msg or _text(body.get("message"))

    # the v1 event tools

    def _v1_request(self, path: str, **fields: Any) -> httpx.Request:
        return httpx.Request(
            "POST", self.url(path), json={"apiKey": self.config.api_key or "", **fields}
        )

    def build_webhook_detail(self, task_id: str) -> httpx.Request:
        return self._v1_request("/task/openapi/getWebhookDetail", taskId=task_id)

    def build_resend(self, webhook_id: str | int, url: str | None = None) -> httpx.Request:
        fields: dict[str, Any] = {"webhookId": webhook_id}
        if url is not None:
            fields["webhookUrl"] = url
        return self._v1_request("/task/openapi/retryWebhook", **fields)

    def parse_v1(self, response: httpx.Response) -> Any:
        """The ``data`` of a v1 answer ``{code, msg, data}``, or the error its code means."""
        body = json_body(response, self.name)
        if not isinstance(body, dict) or _text(body.get("code")) is None:
            raise ProviderError("runninghub answered without a code")
        code = _text(body.get("code"))
        if code != "0":
            raise error_for(code, _text(body.get("msg")), response)
        return body.get("data")

    async def webhook_detail(self, client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
        """RunningHub's record of a task's webhook: ``{id, taskId, webhookUrl, eventData,
        callbackStatus, callbackResponse, retryCount, createTime, updateTime}``.

        ``ProviderRejected`` (code ``1``) when the task sent no webhook.
        """
        data = self.parse_v1(await self.send(client, self.build_webhook_detail(task_id)))
        if not isinstance(data, dict):
            raise ProviderError("runninghub answered the webhook lookup without data")
        return data

    async def resend(
        self, client: httpx.AsyncClient, webhook_id: str | int, url: str | None = None
    ) -> None:
        """Ask RunningHub to deliver webhook ``webhook_id`` (the detail's ``id``) again, to
        ``url`` when given (a new tunnel, a fresh callback token), else where it went first."""
        self.parse_v1(await self.send(client, self.build_resend(webhook_id, url)))

    async def reconcile(self, client: httpx.AsyncClient, job: Job, callback_url: str) -> None:
        """A job's callback is overdue: if RunningHub has a webhook event for its task, ask
        for it again at ``callback_url`` (the current public URL, a fresh token). Safe to
        repeat: clipwire drops duplicate events."""
        if not job.provider_task_id:
            return
        try:
            detail = await self.webhook_detail(client, job.provider_task_id)
        except ProviderRejected as error:
            if error.provider_code == "1":  # no webhook event yet: the task is not done
                return
            raise
        webhook_id = detail.get("id")
        if isinstance(webhook_id, str | int) and not isinstance(webhook_id, bool):
            await self.resend(client, webhook_id, callback_url)
