"""Errors the HTTP edge raises itself, and the handlers that turn every error into JSON.

    ReceiverError              (one root; each carries its HTTP status)
    ├── BadRequest             400: empty or malformed body
    ├── Unauthorized           401: missing or wrong API token
    ├── Forbidden              403: the API is loopback-only and the client is not
    ├── NotFound               404: unknown provider, unknown route
    ├── RequestTimeout         408: the body did not arrive within the time allowed
    ├── PayloadTooLarge        413: body over the cap
    └── UnsupportedMediaType   415: not JSON

The orchestrator's own errors (``ClipwireError``) are mapped to statuses here too. Every error
answer has the body ``{"error": {"code": ..., "message": ...}}``; none carries a stack trace
or a secret.
"""

from __future__ import annotations

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchestrator.callbacks import redact_callback_urls
from orchestrator.errors import (
    ActionNotFound,
    ClipwireError,
    EventLimitReached,
    IdempotencyConflict,
    InvalidCallbackToken,
    InvalidJobRequest,
    JobNotFound,
    ProviderAuthError,
    ProviderError,
    StateConflict,
    StoreError,
)

log = structlog.get_logger("clipwire.receiver")


class ReceiverError(Exception):
    status = 400
    code = "bad_request"
    closes_connection = False  # the body was left unread: the connection cannot be reused

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(ReceiverError):
    status, code = 400, "bad_request"


class Unauthorized(ReceiverError):
    status, code = 401, "unauthorized"


class Forbidden(ReceiverError):
    status, code = 403, "forbidden"


class NotFound(ReceiverError):
    status, code = 404, "not_found"


class RequestTimeout(ReceiverError):
    status, code, closes_connection = 408, "request_timeout", True


class PayloadTooLarge(ReceiverError):
    status, code, closes_connection = 413, "payload_too_large", True


class UnsupportedMediaType(ReceiverError):
    status, code = 415, "unsupported_media_type"


_STATUS_OF: list[tuple[type[ClipwireError], int]] = [
    (InvalidJobRequest, 422),
    (JobNotFound, 404),
    (ActionNotFound, 404),
    (IdempotencyConflict, 409),
    (StateConflict, 409),
    (InvalidCallbackToken, 401),
    (EventLimitReached, 429),
    (ProviderAuthError, 502),
    (ProviderError, 502),
    (StoreError, 503),
]


def error_response(status: int, code: str, message: str, *, close: bool = False) -> JSONResponse:
    headers = {"Connection": "close"} if close else None
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


async def on_receiver_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ReceiverError)
    return error_response(exc.status, exc.code, exc.message, close=exc.closes_connection)


async def on_clipwire_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClipwireError)
    status = next((s for kind, s in _STATUS_OF if isinstance(exc, kind)), 500)
    if status >= 500:
        log.error(
            "request.failed",
            path=redact_callback_urls(request.url.path),
            code=exc.code,
            error=exc.message,
        )
    return error_response(status, exc.code, exc.message)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), exc.detail)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.error(
        "request.crashed", path=redact_callback_urls(request.url.path), error=type(exc).__name__
    )
    return error_response(500, "internal_error", "the server failed; the error was logged")


HANDLERS = {
    ReceiverError: on_receiver_error,
    ClipwireError: on_clipwire_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
