"""The Starlette application: routes, error handlers, and a lifespan that runs the orchestrator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from orchestrator.config import Settings
from orchestrator.service import Clipwire

from . import api, hooks, operations
from .errors import HANDLERS
from .limits import HeaderLimit


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with Clipwire.running(settings) as clipwire:
            app.state.clipwire = clipwire
            yield

    routes = [
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/hooks/{provider}/{token}", hooks.receive_hook, methods=["POST"]),
        Route("/v1/jobs", api.create_job, methods=["POST"]),
        Route("/v1/jobs", api.list_jobs, methods=["GET"]),
        Route("/v1/jobs/{job_id}", api.get_job, methods=["GET"]),
        Route("/v1/jobs/{job_id}/video", api.get_video, methods=["GET"]),
        Route("/v1/jobs/{job_id}/cancel", api.cancel_job, methods=["POST"]),
        Route("/v1/jobs/{job_id}/retry", operations.retry_job, methods=["POST"]),
        Route("/v1/actions", operations.list_actions, methods=["GET"]),
        Route("/v1/rejections", operations.list_rejections, methods=["GET"]),
        Route("/v1/actions/{action_id}/retry", operations.retry_action, methods=["POST"]),
        Route(
            "/v1/runninghub/webhooks/{task_id}",
            operations.runninghub_webhook_detail,
            methods=["GET"],
        ),
        Route(
            "/v1/runninghub/webhooks/{task_id}/resend",
            operations.runninghub_resend,
            methods=["POST"],
        ),
        Route("/v1/stream", api.stream, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(HeaderLimit)],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
