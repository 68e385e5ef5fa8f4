"""``webhook``: POST the finished job as a JSON event signed per the Standard Webhooks spec
(https://www.standardwebhooks.com), so the receiver can check it came from this clipwire.

    webhook-id          the action's idempotency key: the same across retries and restarts
    webhook-timestamp   seconds since the epoch, fresh on each attempt (receivers refuse old ones)
    webhook-signature   ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one per secret,
                        space-separated (key rotation)

The body is the same on every attempt: ``{"type": "job.succeeded", "timestamp", "data"}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from ..config import webhook_key
from ..errors import ActionError, ActionRejected, InvalidJobRequest
from .base import ActionContext, ActionKind, check_http_url, raise_for_status
from .notify import event_payload

if TYPE_CHECKING:
    from ..config import Settings


def signature(secrets: tuple[str, ...], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: a ``v1,<base64>`` signature per secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.digest(webhook_key(s), signed, hashlib.sha256)).decode()
        for s in secrets
    )


def signed_headers(
    secrets: tuple[str, ...], msg_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature(secrets, msg_id, stamp, body),
    }


def webhook_event(ctx: ActionContext) -> dict[str, Any]:
    """The event: the job, its outputs, and its mirrored video (path, size, SHA-256) if any."""
    notification = event_payload(ctx)
    job = ctx.job
    return {
        "type": notification["type"],
        "timestamp": job.finished_at or job.updated_at,
        "data": {
            **notification["job"],
            "parent_id": job.parent_id,
            "relation": job.relation and str(job.relation),
            "video": ctx.mirrored(),
        },
    }


async def webhook(ctx: ActionContext) -> dict[str, Any]:
    url = ctx.action.params.get("url") or ctx.settings.webhook_url
    if not url:
        raise ActionRejected("no webhook URL: give the action a url or set CLIPWIRE_WEBHOOK_URL")
    if not ctx.settings.webhook_secrets:
        raise ActionRejected("no webhook secret: set CLIPWIRE_WEBHOOK_SECRET")
    body = json.dumps(webhook_event(ctx), separators=(",", ":"), sort_keys=True).encode()
    msg_id = ctx.action.idempotency_key
    headers = signed_headers(ctx.settings.webhook_secrets, msg_id, body)
    try:
        response = await ctx.client.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        raise ActionError(f"webhook failed: {type(error).__name__}") from None
    raise_for_status(response, "the webhook URL")
    return {
        "delivered_to": urlsplit(url).netloc,
        "status": response.status_code,
        "webhook_id": msg_id,
    }


def check(params: dict[str, Any], settings: Settings, where: str) -> None:
    unknown = set(params) - {"url"}
    if unknown:
        raise InvalidJobRequest(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
    check_http_url(params, "url", where, required=False)
    if "url" not in params and not settings.webhook_url:
        raise InvalidJobRequest(f"{where}.url is required when CLIPWIRE_WEBHOOK_URL is unset")


KIND = ActionKind("webhook", webhook, check)
