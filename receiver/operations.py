"""Operator endpoints: what waits for a person, and sending it again.

POST /v1/jobs/{id}/retry       send a held job again (ambiguous or failed submission)
POST /v1/actions/{id}/retry    put a dead action back in the queue
GET  /v1/actions?state=dead    the dead-letter list of actions
GET  /v1/rejections?limit=     the latest refused webhook deliveries: who knocked, and why
GET  /v1/runninghub/webhooks/{task}          what RunningHub recorded of a task's webhook
POST /v1/runninghub/webhooks/{task}/resend   ask for it again (?to_current_url=1)
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .api import _clipwire
from .errors import BadRequest, NotFound
from .limits import query_limit


async def retry_job(request: Request) -> Response:
    clipwire = _clipwire(request)
    job = await clipwire.retry_job(request.path_params["job_id"])
    return JSONResponse(await clipwire.describe(job.id))


async def retry_action(request: Request) -> Response:
    clipwire = _clipwire(request)
    raw = request.path_params["action_id"]
    if not raw.isdigit():
        raise NotFound(f"no action {raw!r}", code="action_not_found")
    action = await clipwire.retry_action(int(raw))
    return JSONResponse(action.to_json())


async def runninghub_webhook_detail(request: Request) -> Response:
    clipwire = _clipwire(request)
    return JSONResponse(await clipwire.runninghub_webhook_detail(request.path_params["task_id"]))


async def runninghub_resend(request: Request) -> Response:
    clipwire = _clipwire(request)
    to_current = request.query_params.get("to_current_url", "0") in ("1", "true", "yes")
    answer = await clipwire.runninghub_resend(
        request.path_params["task_id"], to_current_url=to_current
    )
    return JSONResponse(answer)


async def list_rejections(request: Request) -> Response:
    clipwire = _clipwire(request)
    limit = query_limit(request)
    return JSONResponse({"rejections": await clipwire.store.rejections(limit)})


async def list_actions(request: Request) -> Response:
    clipwire = _clipwire(request)
    if request.query_params.get("state", "dead") != "dead":
        raise BadRequest("only state=dead is listed here; a job's actions are in GET /v1/jobs/{id}")
    return JSONResponse({"actions": [a.to_json() for a in await clipwire.store.dead_actions()]})
