"""The MiniMax adapter: Hailuo 2.3 from its maker, ``api.minimax.io`` (``api.minimaxi.com``).

Models: ``MiniMax-Hailuo-2.3`` (t2v and i2v) and, with ``provider_options["variant"] ==
"fast"``, ``MiniMax-Hailuo-2.3-Fast`` (i2v only). ``resolution`` is sent as asked: 768P
(6 or 10 s) or 1080P (6 s only). MiniMax has no tiers; ``tier: "pro"`` means 1080P here.

The callback: MiniMax first POSTs ``{"challenge": ...}`` to ``callback_url`` and must get the
same value back within 3 s (``handshake_reply``); then it POSTs the query shape on each change.
A success names a ``file_id``, not a URL: the event carries ``minimax-file:<id>`` as its output
until ``complete`` swaps it for the download URL from ``GET /v1/files/retrieve`` (valid 9 h).
Set ``CLIPWIRE_MINIMAX_GROUP_ID`` for accounts whose file API still wants ``GroupId``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from ..errors import ProviderAuthError, ProviderError, ProviderRejected, ProviderUnavailable
from ..models import Job, JobRequest, ProviderEvent
from ..states import EventKind
from .base import ProviderAdapter, json_body, retry_after_seconds

MODEL = "MiniMax-Hailuo-2.3"
FAST_MODEL = "MiniMax-Hailuo-2.3-Fast"
FILE_PREFIX = "minimax-file:"
OPTIONS = ("variant",)

_STATUSES = {
    "preparing": EventKind.QUEUED,
    "queueing": EventKind.QUEUED,
    "queued": EventKind.QUEUED,
    "processing": EventKind.RUNNING,
    "success": EventKind.SUCCEEDED,
    "fail": EventKind.FAILED,
    "failed": EventKind.FAILED,
}

# ``base_resp.status_code`` as MiniMax documents it and public clients handle it.
_AUTH_CODES = {1004, 2049}  # authentication failed; invalid API key
_BUSY_CODES = {1000, 1001, 1002, 1013, 1024, 1039}  # unknown, timeout, rate limits, internal


def _text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int):
        text = str(value).strip()
        return text or None
    return None


def _base_resp(body: dict[str, Any]) -> tuple[int | None, str | None]:
    """``(status_code, status_msg)`` of ``base_resp``; ``(None, None)`` when it is absent."""
    base = body.get("base_resp")
    if not isinstance(base, dict):
        return None, None
    raw = base.get("status_code")
    code = int(raw) if isinstance(raw, int | str) and str(raw).lstrip("-").isdigit() else None
    return code, _text(base.get("status_msg"))


def error_for(code: int, msg: str | None, response: httpx.Response | None = None) -> ProviderError:
    """The error a non-zero ``base_resp.status_code`` means; the provider's words are kept."""
    message = f"minimax {code}: {msg or 'no message'}"
    if code in _AUTH_CODES:
        return ProviderAuthError(message, provider_code=str(code))
    if code in _BUSY_CODES:
        retry_after = retry_after_seconds(response) if response is not None else None
        return ProviderUnavailable(message, provider_code=str(code), retry_after=retry_after)
    return ProviderRejected(message, provider_code=str(code))


def _raise_for_base_resp(body: dict[str, Any], response: httpx.Response) -> None:
    code, msg = _base_resp(body)
    if code:
        raise error_for(code, msg, response)


def read_event(payload: Any) -> ProviderEvent:
    """A status push or query answer ``{task_id, status, file_id, base_resp}`` as one event."""
    if not isinstance(payload, dict):
        return ProviderEvent(EventKind.UNKNOWN)
    task_id = _text(payload.get("task_id"))
    status = _text(payload.get("status"))
    kind = _STATUSES.get(status.lower(), EventKind.UNKNOWN) if status else EventKind.UNKNOWN
    if kind is EventKind.SUCCEEDED:
        file_id = _text(payload.get("file_id"))
        if not file_id:
            return ProviderEvent(EventKind.UNKNOWN, task_id, provider_status=status)
        return ProviderEvent(kind, task_id, (f"{FILE_PREFIX}{file_id}",), provider_status=status)
    if kind is EventKind.FAILED:
        code, msg = _base_resp(payload)
        if not code:  # base_resp only says the query itself went well
            msg = None
        message = msg or _text(payload.get("error_message")) or "the task failed"
        return ProviderEvent(
            kind,
            task_id,
            error_code=str(code) if code else None,
            error_message=message,
            provider_status=status,
        )
    return ProviderEvent(kind, task_id, provider_status=status)


class MiniMaxAdapter(ProviderAdapter):
    name = "minimax"
    default_base_url = "https://api.minimax.io"

    def validate(self, request: JobRequest) -> None:
        unknown = sorted(set(request.provider_options) - set(OPTIONS))
        if unknown:
            self.refuse(
                f"minimax does not know provider_options {', '.join(unknown)}"
                f" (known: {', '.join(OPTIONS)})"
            )
        variant = request.provider_options.get("variant")
        if variant is not None and variant != "fast":
            self.refuse('minimax provider_options.variant must be "fast" or absent')
        if variant == "fast" and request.mode != "i2v":
            self.refuse(f"{FAST_MODEL} is image-to-video only: give an image_url")
        if request.resolution == "1080P" and request.duration != 6:
            self.refuse("minimax makes 10 s videos at 768P only; at 1080P ask for 6 s")
        if request.tier == "pro" and request.resolution != "1080P":
            self.refuse("minimax has no tiers; its pro quality is 1080P: ask for resolution 1080P")

    def build_submit(self, job: Job, callback_url: str) -> httpx.Request:
        request = job.request
        fast = request.provider_options.get("variant") == "fast"
        body: dict[str, Any] = {
            "model": FAST_MODEL if fast else MODEL,
            "prompt": request.prompt,
            "duration": request.duration,
            "resolution": request.resolution,
            "prompt_optimizer": request.prompt_optimizer,
            "callback_url": callback_url,
        }
        if request.image_url:
            body["first_frame_image"] = request.image_url
        return httpx.Request(
            "POST", self.url("/v1/video_generation"), json=body, headers=self.auth_headers()
        )

    def parse_submit(self, response: httpx.Response) -> ProviderEvent:
        body = json_body(response, self.name)
        if not isinstance(body, dict):
            raise ProviderRejected("minimax answered the submission with a non-object body")
        _raise_for_base_resp(body, response)
        task_id = _text(body.get("task_id"))
        if not task_id:
            raise ProviderRejected("minimax answered the submission without a task_id")
        return ProviderEvent(EventKind.QUEUED, task_id)

    def handshake_reply(self, payload: Any) -> dict[str, Any] | None:
        if isinstance(payload, dict) and "challenge" in payload:
            return {"challenge": payload["challenge"]}
        return None

    def parse_webhook(self, payload: Any) -> ProviderEvent:
        return read_event(payload)

    def build_status(self, job: Job) -> httpx.Request | None:
        if not job.provider_task_id:
            return None
        return httpx.Request(
            "GET",
            self.url("/v1/query/video_generation"),
            params={"task_id": job.provider_task_id},
            headers=self.auth_headers(),
        )

    def parse_status(self, response: httpx.Response) -> ProviderEvent:
        body = json_body(response, self.name)
        if not isinstance(body, dict):
            return ProviderEvent(EventKind.UNKNOWN)
        event = read_event(body)
        if event.kind is not EventKind.FAILED:  # a failed task carries its reason there
            _raise_for_base_resp(body, response)
        return event

    def error_detail(self, response: httpx.Response) -> tuple[str | None, str | None]:
        try:
            body = response.json()
        except ValueError:
            return None, None
        code, msg = _base_resp(body) if isinstance(body, dict) else (None, None)
        return (str(code) if code else None), msg

    def build_file(self, file_id: str) -> httpx.Request:
        params = {"file_id": file_id}
        group_id = self.config.options.get("group_id")
        if group_id:
            params["GroupId"] = group_id
        return httpx.Request(
            "GET", self.url("/v1/files/retrieve"), params=params, headers=self.auth_headers()
        )

    def parse_file(self, response: httpx.Response) -> str:
        body = json_body(response, self.name)
        if not isinstance(body, dict):
            raise ProviderError("minimax answered the file lookup with a non-object body")
        _raise_for_base_resp(body, response)
        file = body.get("file")
        url = file.get("download_url") if isinstance(file, dict) else None
        if not isinstance(url, str) or not url:
            raise ProviderError("minimax answered the file lookup without a download_url")
        return url

    async def complete(self, client: httpx.AsyncClient, event: ProviderEvent) -> ProviderEvent:
        """Swap every ``minimax-file:<id>`` output for its download URL."""
        if not any(output.startswith(FILE_PREFIX) for output in event.outputs):
            return event
        outputs = []
        for output in event.outputs:
            if output.startswith(FILE_PREFIX):
                request = self.build_file(output.removeprefix(FILE_PREFIX))
                output = self.parse_file(await self.send(client, request))
            outputs.append(output)
        return dataclasses.replace(event, outputs=tuple(outputs))
