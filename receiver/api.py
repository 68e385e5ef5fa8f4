"""The job API: ``/v1/jobs``, the live ``/v1/stream``, and ``/healthz``."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from orchestrator import __version__
from orchestrator.service import Clipwire
from orchestrator.states import JobState

from .auth import authorize
from .errors import BadRequest, NotFound
from .limits import parse_json_object, query_limit, read_body, require_json

HEARTBEAT_SECONDS = 15.0
MAX_IDEMPOTENCY_KEY = 200


def _clipwire(request: Request) -> Clipwire:
    clipwire: Clipwire = request.app.state.clipwire
    authorize(request, clipwire.settings.api_token)
    return clipwire


async def healthz(request: Request) -> Response:
    clipwire: Clipwire = request.app.state.clipwire
    return JSONResponse({"status": "ok", "version": __version__, **await clipwire.store.counts()})


async def create_job(request: Request) -> Response:
    clipwire = _clipwire(request)
    require_json(request)
    payload = parse_json_object(
        await read_body(request, clipwire.settings.max_body_bytes, clipwire.settings.body_timeout)
    )
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise BadRequest(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    job, created = await clipwire.create_job(payload, idempotency_key=key)
    return JSONResponse(await clipwire.describe(job.id), status_code=201 if created else 200)


async def list_jobs(request: Request) -> Response:
    clipwire = _clipwire(request)
    query = request.query_params
    state = query.get("state")
    if state is not None and state not in set(JobState):
        raise BadRequest(f"state must be one of {', '.join(JobState)}")
    provider = query.get("provider")
    attention = query.get("attention", "0")
    if attention not in ("0", "1", "false", "true"):
        raise BadRequest("attention must be 1 or 0")
    jobs = await clipwire.store.list_jobs(
        state=JobState(state) if state else None,
        provider=provider,
        attention=attention in ("1", "true"),
        limit=query_limit(request),
    )
    return JSONResponse({"jobs": [job.to_json() for job in jobs]})


async def get_job(request: Request) -> Response:
    clipwire = _clipwire(request)
    return JSONResponse(await clipwire.describe(request.path_params["job_id"]))


async def get_video(request: Request) -> Response:
    """The job's mirrored video, as the mirror action stored it."""
    clipwire = _clipwire(request)
    job_id = request.path_params["job_id"]
    video = await clipwire.mirrored_video(job_id)
    if video is None:
        raise NotFound(f"job {job_id} has no mirrored video", code="video_not_found")
    digest = base64.b64encode(bytes.fromhex(video["sha256"])).decode()
    return FileResponse(
        video["path"],
        media_type=video.get("content_type") or "application/octet-stream",
        headers={"Repr-Digest": f"sha-256=:{digest}:"},  # RFC 9530: the whole file's
    )


async def cancel_job(request: Request) -> Response:
    clipwire = _clipwire(request)
    job = await clipwire.cancel(request.path_params["job_id"])
    return JSONResponse(await clipwire.describe(job.id))


async def stream(request: Request) -> Response:
    """Server-sent events: every transition and action result, as it happens.

    ``?job=ID`` (repeatable) narrows the stream to those jobs.
    """
    clipwire = _clipwire(request)
    wanted = set(request.query_params.getlist("job"))

    async def events() -> AsyncIterator[str]:
        with clipwire.bus.subscription() as queue:
            yield ": connected\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if message is None:  # fell too far behind: end, the client reconnects
                    return
                if wanted and message.get("job_id") not in wanted:
                    continue
                yield f"event: {message['type']}\ndata: {json.dumps(message)}\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
