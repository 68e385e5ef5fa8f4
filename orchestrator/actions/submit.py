"""``submit``: start a follow-up job when this one finishes (by default: when it succeeds).

The follow-up is this job's request with the action's fields laid over it: say a 6 s 768P
draft succeeded, ``{"kind": "submit", "resolution": "1080P"}`` renders the 1080P version.
String fields may hold placeholders, filled from this job when the action runs:

    {video_url}   this job's (first) output URL
    {prompt}      this job's prompt
    {image_url}   this job's start image, for image-to-video jobs
    {job_id}      this job's id
    {provider}    this job's provider

The follow-up keeps this job's actions without its ``submit`` ones (so it does not start
itself again), unless the action gives ``actions``; those are used as they are, placeholders
untouched (they are the follow-up's to fill). The action's idempotency key is the follow-up's
Idempotency-Key: a rerun after a crash finds the job it started instead of paying for another.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ActionRejected, IdempotencyConflict, InvalidJobRequest
from ..models import _REQUEST_FIELDS as FIELDS
from ..models import Job, Relation, parse_job_request
from ..providers import ADAPTERS
from .base import ActionContext, ActionKind

if TYPE_CHECKING:
    from ..config import Settings

PLACEHOLDER = re.compile(r"\{(\w+)\}")
_EXAMPLES = {  # what check() fills in to validate a template before any job has run
    "video_url": "https://example.com/video.mp4",
    "prompt": "a prompt",
    "image_url": "https://example.com/frame.png",
    "job_id": "job_0",
    "provider": "sim",
}


def placeholder_values(job: Job) -> dict[str, str | None]:
    return {
        "video_url": job.outputs[0] if job.outputs else None,
        "prompt": job.request.prompt,
        "image_url": job.request.image_url,
        "job_id": job.id,
        "provider": job.provider,
    }


def fill(value: Any, values: Mapping[str, str | None]) -> Any:
    """``value`` with every ``{name}`` in its strings (and nested ones) replaced."""
    if isinstance(value, str):

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise InvalidJobRequest(
                    f"unknown placeholder {{{name}}}; known: {', '.join(sorted(values))}"
                )
            found = values[name]
            if found is None:
                raise ActionRejected(f"{{{name}}} has no value for this job")
            return found

        return PLACEHOLDER.sub(one, value)
    if isinstance(value, dict):
        return {key: fill(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, values) for item in value]
    return value


def follow_up_request(
    job: Job, params: dict[str, Any], values: Mapping[str, str | None]
) -> dict[str, Any]:
    """The follow-up's request: ``job``'s request with ``params`` (filled) laid over it."""
    data = job.request.to_json()
    data["actions"] = [a for a in data["actions"] if a["kind"] != "submit"]
    data.update(fill({k: v for k, v in params.items() if k != "actions"}, values))
    if "actions" in params:
        data["actions"] = params["actions"]
    return data


async def start_linked_job(ctx: ActionContext, data: dict[str, Any], relation: Relation) -> Job:
    """Start ``data`` as a job linked to this one, keyed by the action's idempotency key."""
    if ctx.create_job is None:
        raise ActionRejected("this worker cannot start jobs")
    try:
        return await ctx.create_job(
            data, ctx.action.idempotency_key, parent_id=ctx.job.id, relation=relation
        )
    except (InvalidJobRequest, IdempotencyConflict) as error:  # retrying cannot help
        raise ActionRejected(f"cannot start the {relation} job: {error.message}") from None


def started(job: Job, relation: Relation) -> dict[str, Any]:
    return {"job_id": job.id, "relation": str(relation), "provider": job.provider}


async def submit(ctx: ActionContext) -> dict[str, Any]:
    try:
        data = follow_up_request(ctx.job, ctx.action.params, placeholder_values(ctx.job))
    except InvalidJobRequest as error:
        raise ActionRejected(error.message) from None
    return started(await start_linked_job(ctx, data, Relation.FOLLOW_UP), Relation.FOLLOW_UP)


def check(params: dict[str, Any], settings: Settings, where: str) -> None:
    from . import check_specs  # the registry imports this module

    unknown = set(params) - FIELDS
    if unknown:
        raise InvalidJobRequest(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
    try:
        template = fill({k: v for k, v in params.items() if k != "actions"}, _EXAMPLES)
        request = parse_job_request(
            {"prompt": "a prompt", **template, "actions": params.get("actions", [])},
            providers=tuple(ADAPTERS),
        )
        check_specs(request.actions, settings)
    except InvalidJobRequest as error:
        raise InvalidJobRequest(f"{where}: {error.message}") from None


KIND = ActionKind("submit", submit, check)
