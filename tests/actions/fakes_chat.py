"""Fake Slack, Discord and Telegram servers on loopback that enforce the real limits.

Each records every message it accepts (``accepted``) and every status it answered
(``answers``), and can be told to fail the next calls (``script``: statuses answered first,
e.g. ``[500]`` or ``[429]``). Rate limits are kept per webhook or chat, by the clock:

    Slack     more than one message a second on a webhook: 429 with ``Retry-After``
    Discord   ``limit`` requests per ``window`` seconds on a webhook, said in
              ``X-RateLimit-*`` headers; past it 429 with a ``retry_after`` JSON field;
              a file over ``max_file_bytes``: 413 (code 40005)
    Telegram  one message a second per chat: 429 with ``parameters.retry_after``; an upload
              over ``upload_max``: 413; a video by URL over ``url_max`` (the sizes the URLs
              would have are in ``url_sizes``; it fetches nothing): 400

A request that arrives while a fake has told its client to wait is answered 429 again and
counted in ``ignored_waits``: a client that honours the limits keeps it at zero.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import time
from collections.abc import AsyncIterator
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from orchestrator.actions import KINDS, ActionContext, RateLimiter
from orchestrator.config import Settings
from orchestrator.errors import ActionError, ActionRejected
from orchestrator.models import Action, ActionState, Job, JobRequest, now_iso
from orchestrator.serving import bind, running
from orchestrator.states import JobState
from tests.providers.fakes.jobs import make_job

SLACK_SECRET = "T0CLIPWIRE/B0CLIPWIRE/s3cretSlackHookPathXYZ"
DISCORD_TOKEN = "s3cret-Discord-Webhook-Token_0123456789"
TELEGRAM_TOKEN = "123456789:s3cretTelegramBotToken_abcdefghijkl"
SECRETS = ("s3cretSlackHookPathXYZ", DISCORD_TOKEN, TELEGRAM_TOKEN, "s3cretTelegramBotToken")


@dataclasses.dataclass
class Upload:
    filename: str | None
    content: bytes


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Upload]]:
    """A multipart/form-data body's fields and files, with the standard library's parser."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        content = part.get_payload(decode=True)
        assert isinstance(content, bytes)
        if part.get_filename() is not None:
            files[name] = Upload(part.get_filename(), content)
        else:
            fields[name] = content.decode()
    return fields, files


class ChatFake:
    """What the three fakes share: serving, the script, the record, told waits."""

    app: Starlette

    def __init__(self) -> None:
        self.url = ""
        self.script: list[int] = []
        self.accepted: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.ignored_waits = 0
        self._quiet_until: dict[str, float] = {}  # per webhook or chat: told to wait till then
        self._last: dict[str, float] = {}  # per webhook or chat: when the last message came

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[ChatFake]:
        async with running(self.app, bind(), lifespan="off") as url:
            self.url = url
            yield self

    def answered(self, response: Response) -> Response:
        self.answers.append(response.status_code)
        return response

    def told_to_wait(self, key: str) -> float:
        """Seconds ``key`` was told to wait that have not passed (counted when > 0)."""
        left = self._quiet_until.get(key, 0.0) - time.monotonic()
        if left > 0:
            self.ignored_waits += 1
        return left

    def tell_to_wait(self, key: str, seconds: float) -> None:
        self._quiet_until[key] = max(self._quiet_until.get(key, 0.0), time.monotonic() + seconds)

    @property
    def throttled(self) -> int:
        return self.answers.count(429)

    def pace(self, key: str, interval: float) -> Turn:
        """One message per ``interval`` per ``key`` (Slack, Telegram): the request's turn."""
        arrived = time.monotonic()
        wait = self.told_to_wait(key)
        since = arrived - self._last.get(key, -math.inf)
        free = wait <= 0 and since >= interval  # a script runs only on a free request
        scripted = self.script.pop(0) if self.script and free else None
        if not free or scripted == 429:
            after = max(1, math.ceil(max(wait, interval - since)))  # whole seconds, as they say
            self.tell_to_wait(key, after)
            return Turn(key, arrived, retry_after=after)
        return Turn(key, arrived, scripted=scripted)

    def accept(self, turn: Turn, record: dict[str, Any]) -> None:
        self._last[turn.key] = turn.arrived
        self.accepted.append(record)


@dataclasses.dataclass(frozen=True)
class Turn:
    key: str
    arrived: float
    retry_after: int | None = None  # throttled: answer 429 with this
    scripted: int | None = None  # a scripted failure to answer


class FakeSlack(ChatFake):
    """Incoming webhooks at ``/services/<secret>``; answers ``ok`` or a plain-text error."""

    def __init__(self, *, interval: float = 1.0) -> None:
        super().__init__()
        self.interval = interval
        self.app = Starlette(routes=[Route("/services/{hook:path}", self.post, methods=["POST"])])

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/services/{SLACK_SECRET}"

    async def post(self, request: Request) -> Response:
        hook = request.path_params["hook"]
        if hook != SLACK_SECRET:
            return self.answered(PlainTextResponse("no_service", status_code=404))
        turn = self.pace(hook, self.interval)
        if turn.retry_after is not None:
            headers = {"Retry-After": str(turn.retry_after)}
            return self.answered(
                PlainTextResponse("rate_limited", status_code=429, headers=headers)
            )
        if turn.scripted is not None:
            return self.answered(PlainTextResponse("rollup_error", status_code=turn.scripted))
        try:
            body = await request.json()
        except ValueError:
            return self.answered(PlainTextResponse("invalid_payload", status_code=400))
        if not isinstance(body, dict) or not body.get("text"):
            return self.answered(PlainTextResponse("no_text", status_code=400))
        self.accept(turn, {"text": body["text"]})
        return self.answered(PlainTextResponse("ok"))


class FakeDiscord(ChatFake):
    """Webhooks at ``/api/webhooks/<id>/<token>``; JSON or multipart (``payload_json`` and
    ``files[n]``); with ``?wait=true`` the created message is the answer, else 204."""

    def __init__(
        self, *, limit: int = 5, window: float = 2.0, max_file_bytes: int = 10 * 1024 * 1024
    ) -> None:
        super().__init__()
        self.limit = limit
        self.window = window
        self.max_file_bytes = max_file_bytes
        self._windows: dict[str, tuple[float, int]] = {}  # per webhook: (reset at, used)
        self._ids = itertools.count(1_100_000_000_000_000_001)
        route = Route("/api/webhooks/{id}/{token}", self.post, methods=["POST"])
        self.app = Starlette(routes=[route])

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/api/webhooks/1100000000000000000/{DISCORD_TOKEN}"

    async def post(self, request: Request) -> Response:
        hook = request.path_params["id"]
        if request.path_params["token"] != DISCORD_TOKEN:
            return self.answered(_discord_error(401, 50027, "Invalid Webhook Token"))
        now = time.monotonic()
        reset_at, used = self._windows.get(hook, (now + self.window, 0))
        if now >= reset_at:
            reset_at, used = now + self.window, 0
        wait = self.told_to_wait(hook)
        free = wait <= 0 and used < self.limit  # a script runs only on a free request
        scripted = self.script.pop(0) if self.script and free else None
        if not free or scripted == 429:
            over = reset_at - now if used >= self.limit else 0.0
            retry_after = round(max(wait, over, 0.25), 3)
            self.tell_to_wait(hook, retry_after)
            body = {"message": "You are being rate limited.", "retry_after": retry_after}
            headers = {"Retry-After": str(math.ceil(retry_after)), **self._headers(0, retry_after)}
            response = JSONResponse({**body, "global": False}, status_code=429, headers=headers)
            return self.answered(response)
        self._windows[hook] = (reset_at, used + 1)
        headers = self._headers(self.limit - used - 1, reset_at - now)
        if scripted is not None:
            return self.answered(_discord_error(scripted, 0, f"{scripted}: Server Error", headers))
        message, files = await self._read(request)
        if not isinstance(message, dict):
            invalid = "The request body contains invalid JSON."
            return self.answered(_discord_error(400, 50109, invalid, headers))
        if any(len(f.content) > self.max_file_bytes for f in files.values()):
            return self.answered(_discord_error(413, 40005, "Request entity too large", headers))
        content = message.get("content") or ""
        if len(content) > 2000 or not (content or files):
            return self.answered(_discord_error(400, 50035, "Invalid Form Body", headers))
        record = {
            "id": str(next(self._ids)),
            "channel_id": "1100000000000000777",
            "content": content,
            "allowed_mentions": message.get("allowed_mentions"),
            "attachments": [
                {"filename": f.filename, "size": len(f.content)} for f in files.values()
            ],
        }
        self.accepted.append({**record, "files": [f.content for f in files.values()]})
        if request.query_params.get("wait") != "true":
            return self.answered(Response(status_code=204, headers=headers))
        return self.answered(JSONResponse(record, headers=headers))

    async def _read(self, request: Request) -> tuple[object, dict[str, Upload]]:
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        try:
            if content_type.startswith("multipart/form-data"):
                fields, files = parse_form(content_type, body)
                return json.loads(fields.get("payload_json", "null")), files
            return json.loads(body), {}
        except ValueError:
            return None, {}

    def _headers(self, remaining: int, reset_after: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset-After": f"{max(0.0, reset_after):.3f}",
            "X-RateLimit-Bucket": "fake-webhook-bucket",
        }


def _discord_error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"message": message, "code": code}, status_code=status, headers=headers)


class FakeTelegram(ChatFake):
    """The Bot API at ``/bot<token>/<method>``: ``sendMessage`` and ``sendVideo`` (an upload
    or a URL), JSON or multipart; answers ``{"ok": ...}`` as Telegram does."""

    def __init__(
        self,
        *,
        chats: tuple[str, ...] = ("-1001234567890",),
        upload_max: int = 50_000_000,
        url_max: int = 20_000_000,
        url_sizes: dict[str, int] | None = None,
        interval: float = 1.0,
    ) -> None:
        super().__init__()
        self.chats = set(chats)
        self.upload_max = upload_max
        self.url_max = url_max
        self.url_sizes = dict(url_sizes or {})
        self.interval = interval
        self._ids = itertools.count(1)
        self.app = Starlette(routes=[Route("/bot{token}/{method}", self.call, methods=["POST"])])

    @property
    def api_base(self) -> str:
        return self.url

    async def call(self, request: Request) -> Response:
        if request.path_params["token"] != TELEGRAM_TOKEN:
            return self.answered(_telegram_error(401, "Unauthorized"))
        method = request.path_params["method"]
        if method not in ("sendMessage", "sendVideo"):
            return self.answered(_telegram_error(404, "Not Found"))
        params, files = await self._read(request)
        chat_id = str(params.get("chat_id", ""))
        if chat_id not in self.chats:
            return self.answered(_telegram_error(400, "Bad Request: chat not found"))
        turn = self.pace(chat_id, self.interval)
        if turn.retry_after is not None:
            after = turn.retry_after
            described = f"Too Many Requests: retry after {after}"
            return self.answered(_telegram_error(429, described, {"retry_after": after}))
        if turn.scripted is not None:
            return self.answered(_telegram_error(turn.scripted, "Internal Server Error"))
        refused = self._refuse(method, params, files)
        if refused is not None:
            return self.answered(refused)
        message_id = next(self._ids)
        video = files.get("video")
        self.accept(
            turn,
            {
                "method": method,
                "chat_id": chat_id,
                "message_id": message_id,
                "text": params.get("text") or params.get("caption"),
                "video": video.content if video else params.get("video"),
            },
        )
        return self.answered(
            JSONResponse(
                {"ok": True, "result": {"message_id": message_id, "chat": {"id": chat_id}}}
            )
        )

    def _refuse(
        self, method: str, params: dict[str, Any], files: dict[str, Upload]
    ) -> Response | None:
        if method == "sendMessage":
            text = str(params.get("text") or "")
            if not text:
                return _telegram_error(400, "Bad Request: message text is empty")
            if len(text) > 4096:
                return _telegram_error(400, "Bad Request: message is too long")
            return None
        if len(str(params.get("caption") or "")) > 1024:
            return _telegram_error(400, "Bad Request: message caption is too long")
        if "video" in files:
            if len(files["video"].content) > self.upload_max:
                return _telegram_error(413, "Request Entity Too Large")
            return None
        url = params.get("video")
        if not isinstance(url, str) or url not in self.url_sizes:
            return _telegram_error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if self.url_sizes[url] > self.url_max:
            return _telegram_error(400, "Bad Request: failed to get HTTP URL content")
        return None

    async def _read(self, request: Request) -> tuple[dict[str, Any], dict[str, Upload]]:
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            return parse_form(content_type, body)
        try:
            params = json.loads(body)
        except ValueError:
            return {}, {}
        return (params if isinstance(params, dict) else {}), {}


def _telegram_error(
    code: int, description: str, parameters: dict[str, Any] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)


def finished_job(
    state: JobState = JobState.SUCCEEDED,
    *,
    prompt: str = "a paper boat at dusk",
    video_url: str = "https://cdn.example.com/videos/job_1.mp4",
    error: dict[str, Any] | None = None,
) -> Job:
    """A finished job as an action sees it."""
    succeeded = state is JobState.SUCCEEDED
    return make_job(
        JobRequest(provider="sim", prompt=prompt, duration=10, resolution="1080P"),
        "sim-task-1",
        state=state,
        outputs=(video_url,) if succeeded else (),
        error=None
        if succeeded
        else error
        if error is not None
        else {"code": "E_NSFW", "message": "refused"},
    )


def chat_context(
    kind: str,
    job: Job,
    settings: Settings,
    client: httpx.AsyncClient,
    *,
    params: dict[str, Any] | None = None,
    mirrored: Path | None = None,
    limiter: RateLimiter | None = None,
) -> ActionContext:
    """What the worker hands a chat action; ``mirrored``: a file the mirror action wrote."""
    earlier: tuple[Action, ...] = ()
    if mirrored is not None:
        result = {"path": str(mirrored), "bytes": mirrored.stat().st_size, "sha256": "-"}
        earlier = (_action(job, 0, "mirror", {}, result),)
    return ActionContext(
        job=job,
        action=_action(job, 1, kind, params or {}, None),
        earlier=earlier,
        client=client,
        settings=settings,
        limiter=limiter or RateLimiter(),
    )


def _action(
    job: Job, position: int, kind: str, params: dict[str, Any], result: dict[str, Any] | None
) -> Action:
    return Action(
        id=position + 1,
        job_id=job.id,
        position=position,
        kind=kind,
        params=params,
        state=ActionState.DONE if result else ActionState.RUNNING,
        attempts=1,
        next_attempt_at=now_iso(),
        last_error=None,
        result=result,
        idempotency_key=f"{job.id}:{job.state}:{position}:{kind}",
    )


async def run_until_done(kind: str, ctx: ActionContext, attempts: int = 5) -> dict[str, Any]:
    """Run an action as the worker would, again at once after each retryable failure: the rate
    limiter (paused by a 429) is all that holds a retry back."""
    for _ in range(attempts - 1):
        try:
            return await KINDS[kind].run(ctx)
        except ActionRejected:
            raise
        except ActionError:
            continue
    return await KINDS[kind].run(ctx)
