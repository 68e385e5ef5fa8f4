"""The ``clipwire`` command: run the service, drive it and look inside it from a terminal.

    clipwire serve                  run the service (API, webhook receiver, worker, simulator)
    clipwire demo                   run three simulated jobs end to end and show them live
    clipwire submit --prompt TEXT   submit a job to a running service (--wait to follow it)
    clipwire jobs                   list jobs
    clipwire job ID                 one job: timeline, actions, outputs, error
    clipwire cancel ID              cancel a job
    clipwire retry JOB|ACTION       send a held job again, or re-queue a dead action
    clipwire actions [JOB]          a job's actions, or every dead action
    clipwire rejections             the latest refused webhook deliveries (who knocked, why)
    clipwire runninghub webhook-detail TASK             what RunningHub recorded of a webhook
    clipwire runninghub resend TASK [--to-current-url]  ask RunningHub to send it again

Client commands talk to ``CLIPWIRE_URL`` (default ``http://127.0.0.1:8700``) with
``CLIPWIRE_API_TOKEN`` as bearer token when it is set.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import httpx

from .config import DEFAULT_PORT, Settings
from .errors import ConfigError
from .logs import configure_logging
from .models import DURATIONS, RESOLUTIONS, TIERS
from .states import JobState


class CLIError(Exception):
    """A failure the user can act on: printed as one line, exit status 2."""


def _client() -> httpx.Client:
    url = os.environ.get("CLIPWIRE_URL", f"http://127.0.0.1:{DEFAULT_PORT}")
    token = os.environ.get("CLIPWIRE_API_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30)


def _call(method: str, path: str, **kwargs: Any) -> Any:
    with _client() as client:
        try:
            response = client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise CLIError(
                f"cannot reach clipwire at {client.base_url} ({type(error).__name__});"
                " is `clipwire serve` running? (set CLIPWIRE_URL to point elsewhere)"
            ) from None
    try:
        body = response.json()
    except ValueError:
        raise CLIError(f"clipwire answered HTTP {response.status_code} without JSON") from None
    if response.is_error:
        problem = body.get("error", {}) if isinstance(body, dict) else {}
        message = problem.get("message", "request failed")
        raise CLIError(f"{message} ({problem.get('code', response.status_code)})")
    return body


def _option(raw: str) -> tuple[str, Any]:
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {raw!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def print_job(job: dict[str, Any]) -> None:
    request = job["request"]
    print(
        f"{job['id']}  {job['state']}  {job['provider']} {job['mode']}"
        f"  {request['duration']}s {request['resolution']} {request['tier']}"
    )
    print(f"  prompt: {request['prompt']}")
    if job.get("provider_task_id"):
        print(f"  provider task: {job['provider_task_id']}")
    print("  timeline:")
    for step in job.get("timeline", []):
        print(f"    {step['at']}  {step['from'] or '-':>9} -> {step['to']:<9}  {step['reason']}")
    for url in job.get("outputs", []):
        print(f"  output: {url}")
    if job.get("error"):
        print(f"  error: {job['error'].get('code')}: {job['error'].get('message')}")
    if job.get("attention"):
        print(f"  NEEDS A DECISION: {job['attention']}")
    if job.get("parent"):
        parent = job["parent"]
        print(f"  {parent['relation']} of {parent['id']} ({parent['state']})")
    for child in job.get("children", []):
        print(f"  {child['relation']}: {child['id']} ({child['state']})")
    for action in job.get("actions", []):
        _print_action(action)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from receiver import create_app

    settings = Settings.from_env()
    settings = dataclasses.replace(
        settings, host=args.host or settings.host, port=args.port or settings.port
    )
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,  # the access log would print callback tokens
        timeout_graceful_shutdown=5,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return asyncio.run(run_demo(args.data_dir))


def cmd_submit(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "provider": args.provider,
        "prompt": args.prompt,
        "duration": args.duration,
        "resolution": args.resolution,
        "tier": args.tier,
        "provider_options": dict(args.option),
    }
    if args.image_url:
        body["image_url"] = args.image_url
    if args.notify_url:
        body["actions"] = [{"kind": "mirror"}, {"kind": "notify", "url": args.notify_url}]
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    job = _call("POST", "/v1/jobs", json=body, headers=headers)
    print(job["id"])
    if args.wait:
        job = _follow(job["id"])
        print_job(job)
        return 0 if job["state"] == JobState.SUCCEEDED else 1
    return 0


def _follow(job_id: str) -> dict[str, Any]:
    """Print the job's transitions as the server streams them; return the settled job."""
    with _client() as client:
        try:
            with client.stream("GET", "/v1/stream", params={"job": job_id}, timeout=None) as stream:
                lines = stream.iter_lines()
                job = _call("GET", f"/v1/jobs/{job_id}")  # after subscribing: nothing is missed
                while not _settled(job):
                    line = next(lines, None)
                    if line is None:
                        raise CLIError("the server closed the event stream")
                    if not line.startswith("data: "):
                        continue
                    message = json.loads(line[6:])
                    if message["type"] == "transition":
                        print(f"  {message['from']} -> {message['to']}  ({message['reason']})")
                    job = _call("GET", f"/v1/jobs/{job_id}")
        except httpx.HTTPError as error:
            raise CLIError(f"lost the event stream: {type(error).__name__}") from None
    return dict(job)


def _settled(job: dict[str, Any]) -> bool:
    return JobState(job["state"]).is_terminal and all(
        a["state"] in ("done", "dead") for a in job.get("actions", [])
    )


def cmd_jobs(args: argparse.Namespace) -> int:
    params = {"limit": args.limit}
    if args.state:
        params["state"] = args.state
    if args.provider:
        params["provider"] = args.provider
    if args.attention:
        params["attention"] = 1
    jobs = _call("GET", "/v1/jobs", params=params)["jobs"]
    if not jobs:
        print("no jobs")
    for job in jobs:
        note = ""
        if job.get("attention"):
            note = f"  NEEDS A DECISION: {job['attention']}"
        elif job.get("error"):
            note = f"  {job['error'].get('message')}"
        print(
            f"{job['id']}  {job['state']:<9}  {job['provider']:<10} {job['mode']}"
            f"  {job['created_at']}{note}"
        )
    dead = _call("GET", "/v1/actions", params={"state": "dead"})["actions"]
    if dead:
        print(
            f"\n{len(dead)} dead action(s): `clipwire actions` lists them,"
            " `clipwire retry ACTION` re-queues one"
        )
    return 0


def cmd_job(args: argparse.Namespace) -> int:
    print_job(_call("GET", f"/v1/jobs/{args.job_id}"))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    print_job(_call("POST", f"/v1/jobs/{args.job_id}/cancel"))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    target = args.target
    if target.isdigit():
        action = _call("POST", f"/v1/actions/{target}/retry")
        print(f"action {action['id']} ({action['kind']} of {action['job_id']}) is queued again")
    else:
        print_job(_call("POST", f"/v1/jobs/{target}/retry"))
    return 0


def _print_action(action: dict[str, Any]) -> None:
    result = action.get("result") or {}
    detail = result.get("path") or result.get("delivered_to") or action.get("last_error") or ""
    print(
        f"  action {action['id']:>4}  {action['job_id']}  {action['kind']:<8}"
        f" {action['state']:<8} attempts {action['attempts']}  {detail}"
    )


def cmd_actions(args: argparse.Namespace) -> int:
    if args.job_id:
        actions = _call("GET", f"/v1/jobs/{args.job_id}")["actions"]
    else:
        actions = _call("GET", "/v1/actions", params={"state": "dead"})["actions"]
    if not actions:
        print("no actions" if args.job_id else "no dead actions")
    for action in actions:
        _print_action(action)
    return 0


def cmd_rejections(args: argparse.Namespace) -> int:
    rows = _call("GET", "/v1/rejections", params={"limit": args.limit})["rejections"]
    if not rows:
        print("no refused deliveries")
    for row in rows:
        print(f"{row['received_at']}  {row['provider']:<10} {row['client']:<15} {row['reason']}")
    return 0


def cmd_runninghub(args: argparse.Namespace) -> int:
    path = f"/v1/runninghub/webhooks/{args.task_id}"
    if args.tool == "webhook-detail":
        print(json.dumps(_call("GET", path), indent=2, ensure_ascii=False))
    else:
        params = {"to_current_url": "1"} if args.to_current_url else {}
        answer = _call("POST", f"{path}/resend", params=params)
        where = "to the current public URL" if args.to_current_url else "to its original URL"
        print(f"RunningHub will resend webhook {answer['webhook_id']} {where}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clipwire", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the service")
    serve.add_argument("--host", help="listen address (CLIPWIRE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help=f"port (CLIPWIRE_PORT, default {DEFAULT_PORT})")
    serve.set_defaults(run=cmd_serve)

    demo = commands.add_parser("demo", help="run three simulated jobs end to end")
    demo.add_argument("--data-dir", default="demo-data", help="where the demo keeps its files")
    demo.set_defaults(run=cmd_demo)

    submit = commands.add_parser("submit", help="submit a job to a running service")
    submit.add_argument("--prompt", required=True)
    submit.add_argument("--provider", default="sim")
    submit.add_argument("--image-url", help="start from this image (image-to-video)")
    submit.add_argument("--duration", type=int, choices=DURATIONS, default=6)
    submit.add_argument("--resolution", choices=RESOLUTIONS, default="768P")
    submit.add_argument("--tier", choices=TIERS, default="standard")
    submit.add_argument(
        "--option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a provider option (repeatable)",
    )
    submit.add_argument("--notify-url", help="POST the finished job's event here")
    submit.add_argument("--idempotency-key", help="the same key returns the same job")
    submit.add_argument("--wait", action="store_true", help="follow the job until it settles")
    submit.set_defaults(run=cmd_submit)

    jobs = commands.add_parser("jobs", help="list jobs")
    jobs.add_argument("--state", choices=[s.value for s in JobState])
    jobs.add_argument("--provider")
    jobs.add_argument(
        "--attention", action="store_true", help="only jobs held for a decision (clipwire retry)"
    )
    jobs.add_argument("--limit", type=int, default=50)
    jobs.set_defaults(run=cmd_jobs)

    job = commands.add_parser("job", help="show one job")
    job.add_argument("job_id")
    job.set_defaults(run=cmd_job)

    cancel = commands.add_parser("cancel", help="cancel a job")
    cancel.add_argument("job_id")
    cancel.set_defaults(run=cmd_cancel)

    retry = commands.add_parser("retry", help="send a held job again or re-queue a dead action")
    retry.add_argument("target", metavar="JOB|ACTION", help="a job id, or an action's number")
    retry.set_defaults(run=cmd_retry)

    actions = commands.add_parser("actions", help="a job's actions, or all dead actions")
    actions.add_argument("job_id", nargs="?")
    actions.set_defaults(run=cmd_actions)

    rejections = commands.add_parser("rejections", help="the latest refused webhook deliveries")
    rejections.add_argument("--limit", type=int, default=50)
    rejections.set_defaults(run=cmd_rejections)

    runninghub = commands.add_parser("runninghub", help="RunningHub's webhook event tools")
    tools = runninghub.add_subparsers(dest="tool", required=True, metavar="TOOL")
    detail = tools.add_parser("webhook-detail", help="what RunningHub recorded for a task")
    detail.add_argument("task_id")
    resend = tools.add_parser("resend", help="ask RunningHub to deliver the webhook again")
    resend.add_argument("task_id")
    resend.add_argument(
        "--to-current-url",
        action="store_true",
        help="deliver to today's public URL (after the tunnel changed)",
    )
    runninghub.set_defaults(run=cmd_runninghub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (CLIError, ConfigError) as error:
        print(f"clipwire: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
