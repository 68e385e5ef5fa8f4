"""``telegram``: send the finished job to a chat through the Bot API, about one message a second.

A video goes the best way that fits: the mirrored file uploaded with ``sendVideo`` (up to
50 MB), else ``sendVideo`` with its URL for Telegram to fetch (public https, up to 20 MB, and
the size known from the mirror), else ``sendMessage`` with a link. A way Telegram finds too
large falls through to the next. The bot token is in every URL's path: it is redacted from
whatever is said about a call. The Bot API takes no idempotency key: at least once.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from ..errors import ActionError, ActionRejected, InvalidJobRequest
from ..providers.base import retry_after_seconds
from . import chat
from .base import ActionContext, ActionKind

if TYPE_CHECKING:
    from ..config import Settings

RATE = 1 / 1.1  # one message a second per chat, with time to spare for jitter on the way
UPLOAD_MAX_BYTES = 50_000_000  # sendVideo with the file in the request
URL_MAX_BYTES = 20_000_000  # sendVideo with a URL that Telegram fetches
MAX_CAPTION = 1024
MAX_TEXT = 4096
_CHAT_ID = re.compile(r"-?\d{1,20}|@\w{4,64}")
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")
# How Telegram says it could not take a video by URL (too big, unreachable, not a video).
_URL_REFUSED = ("http url", "url content", "web page content", "too big")


def is_public_https(url: str) -> bool:
    """Could Telegram's servers fetch ``url``? https, and not a loopback or private name."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme != "https" or not host:
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return "." in host and not host.endswith(_PRIVATE_SUFFIXES)


def ways_to_send(
    *,
    size: int | None,
    local_file: bool,
    video_url: str | None,
    upload_max: int = UPLOAD_MAX_BYTES,
    url_max: int = URL_MAX_BYTES,
) -> list[str]:
    """How to send a video, best first: ``upload`` the mirrored file, ``url`` for Telegram to
    fetch, and always, last, ``link`` in a message. ``size`` is the mirror's byte count."""
    ways = []
    if local_file and size is not None and size <= upload_max:
        ways.append("upload")
    if video_url and is_public_https(video_url) and size is not None and size <= url_max:
        ways.append("url")
    return [*ways, "link"]


async def telegram(ctx: ActionContext) -> dict[str, Any]:
    token = ctx.settings.telegram_bot_token
    if not token:
        raise ActionRejected("CLIPWIRE_TELEGRAM_BOT_TOKEN is no longer configured")
    chat_id = chat.destination(
        ctx, "chat_id", ctx.settings.telegram_chat_id, "CLIPWIRE_TELEGRAM_CHAT_ID"
    )
    bot = _Bot(ctx, token, chat_id)
    fields, template = chat.message_fields(ctx.job), chat.template_for(ctx)
    caption = chat.render(template, fields, limit=MAX_CAPTION)
    video = chat.mirrored_video(ctx)
    ways = ways_to_send(
        size=video.size if video else None,
        local_file=video is not None and video.on_disk,
        video_url=fields["video_url"] or None,
    )
    for way in ways:
        if way == "upload" and video is not None:
            with video.path.open("rb") as file:
                answer = await bot.call(
                    "sendVideo",
                    data={"chat_id": chat_id, "caption": caption, "supports_streaming": "true"},
                    files={"video": (video.path.name, file, video.content_type)},
                )
            if answer.status_code == 413:
                continue
        elif way == "url":
            answer = await bot.call(
                "sendVideo",
                json={"chat_id": chat_id, "video": fields["video_url"], "caption": caption},
            )
            described = str(chat.json_body(answer).get("description", "")).lower()
            if answer.status_code == 400 and any(s in described for s in _URL_REFUSED):
                continue
        else:
            text = chat.render(template, fields, limit=MAX_TEXT)
            answer = await bot.call("sendMessage", json={"chat_id": chat_id, "text": text})
        return bot.result(answer, way)
    raise AssertionError("ways_to_send always ends with a link")  # pragma: no cover


class _Bot:
    """Calls to one bot and chat: rate-limited, 429s obeyed, the token never shown."""

    def __init__(self, ctx: ActionContext, token: str, chat_id: str) -> None:
        self.ctx = ctx
        self.token = token
        self.chat_id = chat_id
        self.base = f"{ctx.settings.telegram_api_base.rstrip('/')}/bot{token}"
        self.key = chat.limiter_key("telegram", f"{token}:{chat_id}")
        self.acquired = False

    async def call(self, method: str, **request: Any) -> httpx.Response:
        if not self.acquired:  # one token a message: a way refused as too large posted nothing
            await self.ctx.limiter.acquire(self.key, rate=RATE)
            self.acquired = True
        answer = await chat.send(self.ctx, "Telegram", "POST", f"{self.base}/{method}", **request)
        if answer.status_code == 429:
            parameters = chat.json_body(answer).get("parameters")
            wait = (
                chat.seconds(
                    parameters.get("retry_after") if isinstance(parameters, dict) else None
                )
                or retry_after_seconds(answer)
                or 1.0
            )
            self.ctx.limiter.pause(self.key, wait)
            raise ActionError(
                f"Telegram rate-limited the chat; retry after {wait:g} s", retry_after=wait
            )
        return answer

    def result(self, answer: httpx.Response, way: str) -> dict[str, Any]:
        body = chat.json_body(answer)
        if not answer.is_success or body.get("ok") is not True:
            parameters = body.get("parameters")
            moved = parameters.get("migrate_to_chat_id") if isinstance(parameters, dict) else None
            if moved is not None:
                raise ActionRejected(f"the Telegram group moved: use chat_id {moved}")
            if answer.is_success:  # 200 without ok: not the Bot API we know
                raise ActionError("Telegram answered without ok: true")
            chat.fail(answer, "Telegram", self.token)
        message = body.get("result")
        return {
            "destination": "telegram",
            "chat_id": self.chat_id,
            "message_id": message.get("message_id") if isinstance(message, dict) else None,
            "sent_as": way,
        }


def check(params: dict[str, Any], settings: Settings, where: str) -> None:
    chat.check_chat_params(
        params,
        settings,
        where,
        kind="telegram",
        destination="chat_id",
        configured=[
            ("CLIPWIRE_TELEGRAM_BOT_TOKEN", settings.telegram_bot_token),
            ("CLIPWIRE_TELEGRAM_CHAT_ID", settings.telegram_chat_id),
        ],
    )
    chat_id = params.get("chat_id")
    if chat_id is not None and (
        isinstance(chat_id, bool)
        or not isinstance(chat_id, (int, str))
        or not _CHAT_ID.fullmatch(str(chat_id))
    ):
        raise InvalidJobRequest(f"{where}.chat_id must be a numeric id or an @channel name")


KIND = ActionKind("telegram", telegram, check)
