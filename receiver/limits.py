"""Request limits: strict JSON content types and a body-size cap, enforced while reading."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

MAX_JSON_DEPTH = 32


def require_json(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType("send the body as application/json")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to pass ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("Content-Length is not a number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"the body is over the {limit} byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _depth(value: Any, level: int = 1) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Decode ``body`` as one JSON object, no deeper than ``MAX_JSON_DEPTH``; else 400."""
    if not body.strip():
        raise BadRequest("the body is empty; send a JSON object", code="empty_body")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON", code="malformed_json") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object", code="malformed_json")
    if _depth(value) > MAX_JSON_DEPTH:
        raise BadRequest(f"the JSON is nested deeper than {MAX_JSON_DEPTH}", code="too_deep")
    return value
