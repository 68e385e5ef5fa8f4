"""``notify``: POST the finished job as a JSON event (``job.succeeded``, ``job.failed``, ...)
to a URL, with the action's idempotency key; always write it to the log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import structlog

from ..errors import ActionError, InvalidJobRequest
from .base import ActionContext, ActionKind, check_http_url, raise_for_status

if TYPE_CHECKING:
    from ..config import Settings

log = structlog.get_logger("clipwire.actions")


def event_payload(ctx: ActionContext) -> dict[str, Any]:
    """The JSON event a notification carries."""
    job = ctx.job
    mirrored = ctx.mirrored()
    return {
        "type": f"job.{job.state}",
        "job": {
            "id": job.id,
            "state": str(job.state),
            "provider": job.provider,
            "mode": job.request.mode,
            "prompt": job.request.prompt,
            "duration": job.request.duration,
            "resolution": job.request.resolution,
            "outputs": list(job.outputs),
            "video_path": mirrored["path"] if mirrored else None,
            "error": job.error,
            "finished_at": job.finished_at,
        },
    }


async def notify(ctx: ActionContext) -> dict[str, Any]:
    payload = event_payload(ctx)
    log.info("job.notified", job_id=ctx.job.id, type=payload["type"], state=str(ctx.job.state))
    url = ctx.action.params.get("url")
    if not url:
        return {"delivered_to": "log"}
    headers = {"Idempotency-Key": ctx.action.idempotency_key}
    try:
        response = await ctx.client.post(url, json=payload, headers=headers)
    except httpx.HTTPError as error:
        raise ActionError(f"notify failed: {type(error).__name__}") from None
    raise_for_status(response, "the notify URL")
    return {"delivered_to": urlsplit(url).netloc, "status": response.status_code}


def check(params: dict[str, Any], settings: Settings, where: str) -> None:
    unknown = set(params) - {"url"}
    if unknown:
        raise InvalidJobRequest(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
    check_http_url(params, "url", where, required=False)


KIND = ActionKind("notify", notify, check)
