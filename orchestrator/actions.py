"""Downstream actions, run by the worker from the outbox once a job finishes.

    mirror   stream the job's video into ``data/media/<job>.<ext>``, capped in size, with its
             SHA-256, before the provider's URL expires
    notify   POST a JSON event (``job.succeeded`` / ``job.failed`` ...) to a URL, and always
             write it to the log

An action returns a JSON-able result, raises ``ActionRejected`` when retrying cannot help,
or ``ActionError`` when it may succeed later.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from .errors import ActionError, ActionRejected
from .models import Action, Job
from .providers.base import retry_after_seconds
from .urlguard import UnsafeURL, check_fetchable

log = structlog.get_logger("clipwire.actions")

_EXTENSIONS = {"video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm"}


@dataclasses.dataclass(frozen=True)
class ActionContext:
    job: Job
    action: Action
    earlier: tuple[Action, ...]  # the job's actions that ran before this one
    client: httpx.AsyncClient
    media_dir: Path
    mirror_max_bytes: int
    trusted_origins: frozenset[str] = frozenset()  # may be http or private (the simulator, ...)

    def mirrored(self) -> dict[str, Any] | None:
        """The result of this job's mirror action, if it has run."""
        for action in self.earlier:
            if action.kind == "mirror" and action.result:
                return action.result
        return None


def _extension(url: str, content_type: str) -> str:
    known = _EXTENSIONS.get(content_type.split(";")[0].strip().lower())
    if known:
        return known
    suffix = Path(urlsplit(url).path).suffix.lstrip(".").lower()
    return suffix if suffix.isalnum() and 0 < len(suffix) <= 5 else "mp4"


def _raise_for(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if response.is_success:
        return
    message = f"{what} answered HTTP {status}"
    if status in (408, 425, 429) or status >= 500:
        raise ActionError(message, retry_after=retry_after_seconds(response))
    raise ActionRejected(message)


async def mirror(ctx: ActionContext) -> dict[str, Any]:
    if not ctx.job.outputs:
        raise ActionRejected("the job has no output to mirror")
    url = ctx.job.outputs[0]
    limit = int(ctx.action.params.get("max_bytes", ctx.mirror_max_bytes))
    ctx.media_dir.mkdir(parents=True, exist_ok=True)
    partial = ctx.media_dir / f".{ctx.job.id}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        async with _open_checked(ctx, url) as response:
            _raise_for(response, "the video host")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise ActionRejected(f"the video is {declared} bytes, over the {limit} byte cap")
            content_type = response.headers.get("content-type", "")
            with partial.open("wb") as file:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise ActionRejected(f"the video is over the {limit} byte cap")
                    digest.update(chunk)
                    file.write(chunk)
                file.flush()
                os.fsync(file.fileno())
    except httpx.HTTPError as error:
        partial.unlink(missing_ok=True)
        raise ActionError(f"download failed: {type(error).__name__}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if size == 0:
        partial.unlink(missing_ok=True)
        raise ActionError("the video host sent an empty body")
    path = ctx.media_dir / f"{ctx.job.id}.{_extension(url, content_type)}"
    partial.replace(path)
    return {
        "path": str(path),
        "bytes": size,
        "sha256": digest.hexdigest(),
        "content_type": content_type or None,
    }


MAX_REDIRECTS = 5


@contextlib.asynccontextmanager
async def _open_checked(ctx: ActionContext, url: str) -> AsyncIterator[httpx.Response]:
    """GET ``url`` as a stream, checking it and every redirect against the SSRF guard."""
    for _ in range(MAX_REDIRECTS + 1):
        try:
            await check_fetchable(url, trusted_origins=ctx.trusted_origins)
        except UnsafeURL as error:
            raise ActionRejected(f"refusing to fetch the video: {error}") from None
        async with ctx.client.stream("GET", url) as response:
            if response.is_redirect and "location" in response.headers:
                url = str(response.url.join(response.headers["location"]))
                continue
            yield response
            return
    raise ActionRejected(f"more than {MAX_REDIRECTS} redirects")


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
    _raise_for(response, "the notify URL")
    return {"delivered_to": urlsplit(url).netloc, "status": response.status_code}


RUNNERS: dict[str, Callable[[ActionContext], Awaitable[dict[str, Any]]]] = {
    "mirror": mirror,
    "notify": notify,
}
