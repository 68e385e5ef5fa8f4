"""What the chat actions (``slack``, ``discord``, ``telegram``) share.

the message    a finished job's fields, put into a ``str.format`` template: the action's own
               ``template``, else ``CLIPWIRE_CHAT_TEMPLATE_SUCCEEDED`` / ``_FAILED``, else
               the built-in one; shortened to fit the destination (the prompt goes first)
the place      the configured webhook URL or chat id, or the job's own when the operator
               allows it (``CLIPWIRE_ALLOW_JOB_DESTINATIONS=1``); checked when the job is made
the secrets    webhook URLs and the bot token (it is in Telegram's URL path) are redacted from
               anything said about a call, and from httpx's own request log lines
"""

from __future__ import annotations

import dataclasses
import hashlib
import string
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx

from ..errors import ActionError, ActionRejected, InvalidJobRequest
from ..logs import redact_text
from ..providers.base import retry_after_seconds
from ..states import JobState
from .base import ActionContext, check_http_url

if TYPE_CHECKING:
    from ..config import Settings
    from ..models import Job

FIELDS = (
    "job_id",
    "prompt",
    "provider",
    "state",
    "mode",
    "duration",
    "resolution",
    "video_url",
    "error",
    "error_code",
)
DEFAULT_TEMPLATES = {
    "succeeded": "✅ Video ready ({provider}, {duration} s, {resolution}): {prompt}\n{video_url}",
    "failed": "❌ Video {state} ({provider}, {duration} s): {prompt}\nReason: {error}",
}
MAX_TEMPLATE_CHARS = 2000
_SAMPLE = dict.fromkeys(FIELDS, "x")


def message_fields(job: Job) -> dict[str, str]:
    """The values a template may name, all strings (``""`` where there is nothing to say)."""
    error = job.error or {}
    reason = error.get("message") or error.get("code")
    if job.state is not JobState.SUCCEEDED and not reason:
        reason = "no reason given"
    return {
        "job_id": job.id,
        "prompt": job.request.prompt,
        "provider": job.provider,
        "state": str(job.state),
        "mode": job.request.mode,
        "duration": str(job.request.duration),
        "resolution": job.request.resolution,
        "video_url": job.outputs[0] if job.outputs else "",
        "error": str(reason or ""),
        "error_code": str(error.get("code") or ""),
    }


@dataclasses.dataclass(frozen=True)
class Video:
    """The mirrored copy of a job's video, as the mirror action recorded it."""

    path: Path
    size: int
    content_type: str

    @property
    def on_disk(self) -> bool:
        return self.path.is_file()


def mirrored_video(ctx: ActionContext) -> Video | None:
    """The mirror's record of a succeeded job's video (its size is known even if the file has
    gone since), or ``None``."""
    mirrored = ctx.mirrored()
    if ctx.job.state is not JobState.SUCCEEDED or not mirrored:
        return None
    size, path = mirrored.get("bytes"), mirrored.get("path")
    if not isinstance(size, int) or not isinstance(path, str):
        return None
    content_type = str(mirrored.get("content_type") or "video/mp4").split(";")[0].strip()
    return Video(Path(path), size, content_type)


def template_for(ctx: ActionContext) -> str:
    own = ctx.action.params.get("template")
    if isinstance(own, str) and own:
        return own
    if ctx.job.state is JobState.SUCCEEDED:
        return ctx.settings.chat_template_succeeded or DEFAULT_TEMPLATES["succeeded"]
    return ctx.settings.chat_template_failed or DEFAULT_TEMPLATES["failed"]


def render(
    template: str,
    fields: dict[str, str],
    *,
    limit: int,
    escape: Callable[[str], str] = lambda text: text,
) -> str:
    """``template`` filled with ``fields`` (each escaped), at most ``limit`` characters: a long
    prompt is shortened first, so that the link or the reason survives."""
    values = {key: escape(value) for key, value in fields.items()}
    prompt = fields["prompt"]
    keep = len(prompt)
    while True:
        shown = prompt if keep >= len(prompt) else prompt[: max(0, keep)].rstrip() + "…"
        text = template.format_map({**values, "prompt": escape(shown)})
        over = len(text) - limit
        if over <= 0:
            return text
        if keep <= 0:
            return text[: limit - 1] + "…"
        keep -= over + 1


def check_template(template: object, name: str) -> None:
    """Refuse a template that is not a string, names an unknown field or does not format."""
    if not isinstance(template, str) or not template.strip():
        raise InvalidJobRequest(f"{name} must be a non-empty string")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise InvalidJobRequest(f"{name} is longer than {MAX_TEMPLATE_CHARS} characters")
    try:
        for _, field, spec, _ in string.Formatter().parse(template):
            if field is not None and field not in FIELDS:
                known = ", ".join(f"{{{f}}}" for f in FIELDS)
                raise InvalidJobRequest(f"{name} names an unknown field {{{field}}} ({known})")
            if spec and "{" in spec:
                raise InvalidJobRequest(f"{name} nests a field in a format spec")
        template.format_map(_SAMPLE)
    except ValueError as error:
        raise InvalidJobRequest(f"{name} is not a valid template: {error}") from None


def check_chat_params(
    params: dict[str, Any],
    settings: Settings,
    where: str,
    *,
    kind: str,
    destination: str,
    configured: Iterable[tuple[str, str | None]],
) -> None:
    """The checks every chat kind makes when a job is created (each failure is a 422).

    ``destination`` is the parameter a job may name its own place with (``webhook_url``,
    ``chat_id``), configured as ``CLIPWIRE_<KIND>_<DESTINATION>``; ``configured`` lists the
    settings the kind needs, as (variable, value): a job's own destination stands in for its one.
    """
    unknown = set(params) - {destination, "template"}
    if unknown:
        raise InvalidJobRequest(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
    if "template" in params:
        check_template(params["template"], f"{where}.template")
    for variable, template in (
        ("CLIPWIRE_CHAT_TEMPLATE_SUCCEEDED", settings.chat_template_succeeded),
        ("CLIPWIRE_CHAT_TEMPLATE_FAILED", settings.chat_template_failed),
    ):
        if template is not None:
            check_template(template, variable)
    if destination in params and not settings.allow_job_destinations:
        raise InvalidJobRequest(
            f"{where}.{destination}: jobs may not name their own {kind} destination"
            " (the operator can allow it with CLIPWIRE_ALLOW_JOB_DESTINATIONS=1)"
        )
    own = f"CLIPWIRE_{kind.upper()}_{destination.upper()}" if destination in params else None
    missing = [variable for variable, value in configured if not value and variable != own]
    if missing:
        raise InvalidJobRequest(
            f"{where}: {kind} is not configured: set {' and '.join(missing)}",
            code="action_not_configured",
        )


def webhook_check(
    kind: str, configured: Callable[[Settings], str | None]
) -> Callable[[dict[str, Any], Settings, str], None]:
    """The ``check`` of a kind that posts to a webhook URL (``CLIPWIRE_<KIND>_WEBHOOK_URL``)."""

    def check(params: dict[str, Any], settings: Settings, where: str) -> None:
        variable = f"CLIPWIRE_{kind.upper()}_WEBHOOK_URL"
        check_chat_params(
            params,
            settings,
            where,
            kind=kind,
            destination="webhook_url",
            configured=[(variable, configured(settings))],
        )
        check_http_url(params, "webhook_url", where, required=False)

    return check


def destination(ctx: ActionContext, key: str, configured: str | None, variable: str) -> str:
    """The job's own ``key`` (when still allowed), else the configured value."""
    own = ctx.action.params.get(key)
    if own is not None:
        if not ctx.settings.allow_job_destinations:
            raise ActionRejected(f"jobs may no longer name their own {key}")
        return str(own)
    if not configured:
        raise ActionRejected(f"{variable} is no longer configured")
    return configured


def limiter_key(kind: str, secret: str) -> str:
    """A rate-limit bucket per destination, named without the secret in it."""
    return f"{kind}:{hashlib.sha256(secret.encode()).hexdigest()[:16]}"


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with the given secrets, and any secret inside a URL, blanked out."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return redact_text(text)


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or ``{}``."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def seconds(value: object) -> float | None:
    """A positive number of seconds from a header or JSON field, else ``None``."""
    if not isinstance(value, (int, float, str)) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number > 0 else None


def detail(response: httpx.Response, *secrets: str | None) -> str:
    """A short, redacted account of an error answer: Telegram's ``description``, Discord's
    ``message``, or Slack's plain-text body."""
    body = json_body(response)
    text = str(body.get("description") or body.get("message") or response.text)
    return redact(" ".join(text.split())[:200], *secrets)


def fail(response: httpx.Response, what: str, *secrets: str | None) -> NoReturn:
    """Raise for an error answer: 408/425/429/5xx may pass later (``ActionError``), the rest
    will not (``ActionRejected``)."""
    status = response.status_code
    message = f"{what} answered HTTP {status}: {detail(response, *secrets)}"
    if status in (408, 425, 429) or status >= 500:
        raise ActionError(message, retry_after=retry_after_seconds(response))
    raise ActionRejected(message)


async def send(
    ctx: ActionContext, what: str, method: str, url: str | httpx.URL, **kwargs: Any
) -> httpx.Response:
    """One call to a chat API; a network failure is an ``ActionError`` that names no URL."""
    try:
        return await ctx.client.request(method, url, **kwargs)
    except httpx.HTTPError as error:
        raise ActionError(f"{what} could not be reached: {type(error).__name__}") from None
