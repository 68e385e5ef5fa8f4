"""``slack``: post the finished job to a Slack incoming webhook, about one message a second.

Slack answers ``429`` with ``Retry-After`` when a webhook is sent more than about one message a
second: the webhook's bucket is paused that long and the action retried after it. Incoming
webhooks take no idempotency key, so delivery is at least once (see docs/ACTIONS.md).
"""

from __future__ import annotations

from typing import Any

from ..errors import ActionError
from ..providers.base import retry_after_seconds
from . import chat
from .base import ActionContext, ActionKind

RATE = 1 / 1.1  # one message a second per webhook, with time to spare for jitter on the way
MAX_TEXT = 4000  # Slack truncates longer messages


def escape(text: str) -> str:
    """Slack's mrkdwn control characters, so that a prompt cannot ping ``<!channel>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(ctx: ActionContext) -> dict[str, Any]:
    text = chat.render(
        chat.template_for(ctx), chat.message_fields(ctx.job), limit=MAX_TEXT, escape=escape
    )
    return {"text": text}


async def slack(ctx: ActionContext) -> dict[str, Any]:
    url = chat.destination(
        ctx, "webhook_url", ctx.settings.slack_webhook_url, "CLIPWIRE_SLACK_WEBHOOK_URL"
    )
    key = chat.limiter_key("slack", url)
    await ctx.limiter.acquire(key, rate=RATE)
    response = await chat.send(ctx, "Slack", "POST", url, json=message(ctx))
    if response.status_code == 429:
        wait = retry_after_seconds(response) or 1.0
        ctx.limiter.pause(key, wait)
        raise ActionError(
            f"Slack rate-limited the webhook; retry after {wait:g} s", retry_after=wait
        )
    if not response.is_success:
        chat.fail(response, "Slack", url)
    return {
        "destination": "slack",
        "webhook": "job" if "webhook_url" in ctx.action.params else "configured",
        "status": response.status_code,
    }


KIND = ActionKind("slack", slack, chat.webhook_check("slack", lambda s: s.slack_webhook_url))
