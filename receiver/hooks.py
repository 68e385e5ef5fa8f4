"""``POST /hooks/{provider}/{token}``: verify, store, answer. Nothing else on this path.

The event is committed before the 2xx goes out; applying it to the job happens in the worker.
A provider's handshake (MiniMax's ``challenge``) is answered at once.
"""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchestrator.errors import EventLimitReached, InvalidCallbackToken, JobNotFound
from orchestrator.service import Clipwire

from .errors import NotFound, ReceiverError, error_response
from .limits import parse_json_object, read_body, require_json

log = structlog.get_logger("clipwire.receiver")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _reject(request: Request, provider: str, reason: str, body: bytes) -> None:
    clipwire: Clipwire = request.app.state.clipwire
    log.warning("webhook.rejected", provider=provider, reason=reason, client=_client(request))
    await clipwire.store.record_rejection(provider, reason, _client(request), body)


async def receive_hook(request: Request) -> Response:
    """Answer one delivery; a refused one is logged and kept in ``rejected_deliveries``."""
    try:
        return await _receive(request)
    except ReceiverError as error:  # bad provider, content type, size or body
        await _reject(request, request.path_params["provider"], error.code, b"")
        raise


async def _receive(request: Request) -> Response:
    clipwire: Clipwire = request.app.state.clipwire
    provider = request.path_params["provider"]
    token = request.path_params["token"]
    if provider not in clipwire.adapters:
        raise NotFound(f"no provider {provider!r}", code="unknown_provider")
    require_json(request)
    body = await read_body(
        request, clipwire.settings.max_body_bytes, clipwire.settings.body_timeout
    )
    payload = parse_json_object(body)
    try:
        reply = clipwire.adapters[provider].handshake_reply(payload)
        if reply is not None:
            clipwire.signer.job_for(provider, token)
            return JSONResponse(reply)
        event_id, duplicate = await clipwire.accept_callback(
            provider, token, payload, body=body, headers=request.headers
        )
    except InvalidCallbackToken as error:
        await _reject(request, provider, error.code, body)
        return error_response(401, error.code, f"callback not accepted: {error.message}")
    except EventLimitReached as error:
        await _reject(request, provider, error.code, body)
        return error_response(429, error.code, f"callback not accepted: {error.message}")
    except JobNotFound:
        await _reject(request, provider, "token_for_unknown_job", body)
        return error_response(401, "invalid_token", "callback not accepted: its job is gone")
    log.info("webhook.received", provider=provider, event_id=event_id, duplicate=duplicate)
    return JSONResponse(
        {"status": "duplicate" if duplicate else "accepted", "event_id": event_id},
        status_code=200 if duplicate else 202,
    )
