"""Request limits: a cap on header size, strict JSON content types, a body-size cap and a time
limit on the body (both enforced while reading), and a cap on JSON nesting.

uvicorn's HTTP parser (h11) refuses a header block that passes 16 KiB while still incomplete,
with a plain-text 400; one that arrives complete in a single read (up to the 256 KiB a socket
read takes) gets through to the app, so ``HeaderLimit`` holds every request to the same cap
and answers 431 in JSON. docs/RELIABILITY.md has the table.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import (
    BadRequest,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
    error_response,
)

MAX_JSON_DEPTH = 32
MAX_HEADER_BYTES = 16 * 1024  # h11's own cap on an incomplete header block


class HeaderLimit:
    """ASGI middleware: refuse a request whose header block passes ``max_bytes`` (431)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_HEADER_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.max_bytes:
                message = f"the request headers are over the {self.max_bytes} byte limit"
                response = error_response(431, "headers_too_large", message, close=True)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def query_limit(request: Request, default: int = 50, most: int = 1000) -> int:
    """The ``limit`` query parameter of a listing, or 400."""
    raw = request.query_params.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise BadRequest(f"limit must be a whole number from 1 to {most}")
    return int(raw)


def require_json(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType("send the body as application/json")


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body, refused with 413 as soon as it is known to pass ``limit`` bytes, and
    with 408 if it has not all arrived ``timeout`` seconds after the read began (a client that
    trickles its body would otherwise hold a connection and a task for as long as it likes)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("Content-Length is not a number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"the body is over the {limit} byte limit")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"the body is over the {limit} byte limit")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {timeout:g} seconds") from None
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
