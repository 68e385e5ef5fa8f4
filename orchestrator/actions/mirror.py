"""``mirror``: stream the job's video into ``data/media/<job>.<ext>`` before the provider's
URL expires, capped in size, with its SHA-256; later actions use the local copy, and the API
serves it at ``GET /v1/jobs/{id}/video``.

Only a video is kept: a ``video/*`` answer, or a generic one (``application/octet-stream``, no
content type) whose first bytes are an MP4/QuickTime or WebM/Matroska header. Anything else
(an HTML error page, JSON) is refused, and the action dead-lettered with what was sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import structlog

from ..errors import ActionError, ActionRejected, InvalidJobRequest
from ..urlguard import UnsafeURL, check_fetchable
from .base import ActionContext, ActionKind, raise_for_status

if TYPE_CHECKING:
    from ..config import Settings

log = structlog.get_logger("clipwire.actions")

_EXTENSIONS = {"video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm"}
_GENERIC_TYPES = ("", "application/octet-stream", "binary/octet-stream")
_SNIFF_BYTES = 12


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def sniff_video(head: bytes) -> str | None:
    """The video type the first bytes of a file announce, if any."""
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM and Matroska
        return "video/webm"
    return None


def _extension(url: str, content_type: str) -> str:
    known = _EXTENSIONS.get(_media_type(content_type))
    if known:
        return known
    suffix = Path(urlsplit(url).path).suffix.lstrip(".").lower()
    return suffix if suffix.isalnum() and 0 < len(suffix) <= 5 else "mp4"


async def mirror(ctx: ActionContext) -> dict[str, Any]:
    if not ctx.job.outputs:
        raise ActionRejected("the job has no output to mirror")
    url = ctx.job.outputs[0]
    limit = int(ctx.action.params.get("max_bytes", ctx.settings.mirror_max_bytes))
    media = ctx.settings.media_dir
    media.mkdir(parents=True, exist_ok=True)
    partial = media / f".{ctx.job.id}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        async with _open_checked(ctx, url) as response:
            raise_for_status(response, "the video host")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise ActionRejected(f"the video is {declared} bytes, over the {limit} byte cap")
            content_type = _media_type(response.headers.get("content-type", ""))
            if not content_type.startswith("video/") and content_type not in _GENERIC_TYPES:
                raise ActionRejected(f"the video host sent {content_type}, not a video")
            head = b""
            with partial.open("wb") as file:
                async for chunk in response.aiter_bytes():
                    head += chunk[: _SNIFF_BYTES - len(head)]
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
    if content_type in _GENERIC_TYPES:
        sniffed = sniff_video(head)
        if sniffed is None:
            partial.unlink(missing_ok=True)
            raise ActionRejected(
                f"the video host sent {content_type or 'a body'} that is not a video"
            )
        content_type = sniffed
    path = media / f"{ctx.job.id}.{_extension(url, content_type)}"
    partial.replace(path)
    return {
        "path": str(path),
        "bytes": size,
        "sha256": digest.hexdigest(),
        "content_type": content_type,
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


def check(params: dict[str, Any], settings: Settings, where: str) -> None:
    unknown = set(params) - {"max_bytes"}
    if unknown:
        raise InvalidJobRequest(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
    limit = params.get("max_bytes")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0):
        raise InvalidJobRequest(f"{where}.max_bytes must be a positive integer")


KIND = ActionKind("mirror", mirror, check)
