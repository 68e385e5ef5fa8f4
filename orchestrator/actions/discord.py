"""``discord``: post the finished job to a Discord webhook with ``?wait=true``, so that the
message id is the action's result; the mirrored video goes along as a file when it fits, and
a ``413`` turns it into a link.

Discord says how much of a webhook's budget is left on every answer (``X-RateLimit-Remaining``,
``X-RateLimit-Reset-After``) and how long to wait in a ``429``'s ``retry_after``: the webhook's
bucket is paused for as long as it says. Webhooks take no idempotency key: at least once.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from ..errors import ActionError
from ..providers.base import retry_after_seconds
from . import chat
from .base import ActionContext, ActionKind

# A webhook takes about 5 requests per 2 s. One at a time, spaced, so that each answer's
# X-RateLimit headers are read before the next request goes; they have the last word.
RATE = 2.5
MAX_CONTENT = 2000
UPLOAD_MAX_BYTES = 10 * 1024 * 1024  # a server without boosts; larger servers take more
TOO_LARGE = 40005  # Discord's JSON error code for a request entity too large


def message(ctx: ActionContext) -> dict[str, Any]:
    text = chat.render(chat.template_for(ctx), chat.message_fields(ctx.job), limit=MAX_CONTENT)
    return {"content": text, "allowed_mentions": {"parse": []}}  # a prompt pings nobody


def attachment(ctx: ActionContext, *, limit: int = UPLOAD_MAX_BYTES) -> chat.Video | None:
    """The mirrored video, if the job succeeded, it is on disk and fits in an upload."""
    video = chat.mirrored_video(ctx)
    return video if video is not None and video.size <= limit and video.on_disk else None


async def discord(ctx: ActionContext) -> dict[str, Any]:
    url = chat.destination(
        ctx, "webhook_url", ctx.settings.discord_webhook_url, "CLIPWIRE_DISCORD_WEBHOOK_URL"
    )
    key = chat.limiter_key("discord", url)
    payload = message(ctx)
    video = attachment(ctx)
    if video is not None:
        response = await _post(ctx, key, url, payload, video)
        if not _too_large(response):
            return _result(ctx, response, url, attached=True)
    response = await _post(ctx, key, url, payload, None)
    return _result(ctx, response, url, attached=False)


async def _post(
    ctx: ActionContext, key: str, url: str, payload: dict[str, Any], video: chat.Video | None
) -> httpx.Response:
    await ctx.limiter.acquire(key, rate=RATE)  # Discord counts requests, refused ones too
    target = httpx.URL(url).copy_merge_params({"wait": "true"})
    if video is None:
        response = await chat.send(ctx, "Discord", "POST", target, json=payload)
    else:
        name = video.path.name
        body = {**payload, "attachments": [{"id": 0, "filename": name}]}
        with video.path.open("rb") as file:
            response = await chat.send(
                ctx,
                "Discord",
                "POST",
                target,
                data={"payload_json": json.dumps(body)},
                files={"files[0]": (name, file, video.content_type)},
            )
    _obey_limits(ctx, key, response)
    return response


def _obey_limits(ctx: ActionContext, key: str, response: httpx.Response) -> None:
    """Pause the webhook's bucket as Discord says; a ``429`` raises, to retry after it."""
    if response.status_code == 429:
        wait = (
            chat.seconds(chat.json_body(response).get("retry_after"))
            or retry_after_seconds(response)
            or 1.0
        )
        ctx.limiter.pause(key, wait)
        raise ActionError(
            f"Discord rate-limited the webhook; retry after {wait:g} s", retry_after=wait
        )
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = chat.seconds(response.headers.get("x-ratelimit-reset-after"))
        if reset:
            ctx.limiter.pause(key, reset)


def _too_large(response: httpx.Response) -> bool:
    return response.status_code == 413 or (
        response.status_code == 400 and chat.json_body(response).get("code") == TOO_LARGE
    )


def _result(
    ctx: ActionContext, response: httpx.Response, url: str, *, attached: bool
) -> dict[str, Any]:
    if not response.is_success:
        chat.fail(response, "Discord", url)
    body = chat.json_body(response)
    return {
        "destination": "discord",
        "webhook": "job" if "webhook_url" in ctx.action.params else "configured",
        "message_id": body.get("id"),
        "channel_id": body.get("channel_id"),
        "attached": attached,
    }


KIND = ActionKind(
    "discord", discord, chat.webhook_check("discord", lambda s: s.discord_webhook_url)
)
