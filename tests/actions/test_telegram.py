"""The telegram action against a fake Bot API with Telegram's size limits (made small here),
its one-message-a-second-per-chat limit and its ``{"ok": false, ...}`` errors."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from orchestrator.actions import KINDS
from orchestrator.actions.telegram import is_public_https, ways_to_send
from orchestrator.config import Settings
from orchestrator.errors import ActionError, ActionRejected
from orchestrator.sim.server import SAMPLE_MP4
from orchestrator.states import JobState
from tests.actions.fakes_chat import (
    SECRETS,
    TELEGRAM_TOKEN,
    FakeTelegram,
    chat_context,
    finished_job,
)

pytestmark = pytest.mark.anyio

CHAT = "-1001234567890"
VIDEO_URL = "https://cdn.example.com/videos/job_1.mp4"


@pytest.mark.parametrize(
    ("size", "local_file", "url", "ways"),
    [
        (4_000, True, VIDEO_URL, ["upload", "url", "link"]),
        (30_000_000, True, VIDEO_URL, ["upload", "link"]),  # over 20 MB: not by URL
        (60_000_000, True, VIDEO_URL, ["link"]),  # over 50 MB: no upload either
        (50_000_000, True, None, ["upload", "link"]),  # exactly the limit still goes
        (4_000, False, VIDEO_URL, ["url", "link"]),  # the mirrored file is gone
        (None, False, VIDEO_URL, ["link"]),  # no mirror: the size is not known
        (4_000, True, "http://cdn.example.com/v.mp4", ["upload", "link"]),  # not https
        (4_000, False, "https://127.0.0.1:9000/files/v.mp4", ["link"]),  # not public
    ],
)
def test_the_way_a_video_goes_depends_on_its_size_and_url(
    size: int | None, local_file: bool, url: str | None, ways: list[str]
) -> None:
    assert ways_to_send(size=size, local_file=local_file, video_url=url) == ways


@pytest.mark.parametrize(
    ("url", "public"),
    [
        (VIDEO_URL, True),
        ("https://8.8.8.8/v.mp4", True),
        ("http://cdn.example.com/v.mp4", False),
        ("https://localhost/v.mp4", False),
        ("https://nas.local/v.mp4", False),
        ("https://10.0.0.7/v.mp4", False),
        ("https://[::1]/v.mp4", False),
        ("https://intranet/v.mp4", False),
    ],
)
def test_only_a_public_https_url_is_given_to_telegram(url: str, public: bool) -> None:
    assert is_public_https(url) is public


def settings_for(telegram: FakeTelegram) -> Settings:
    return Settings(
        telegram_bot_token=TELEGRAM_TOKEN,
        telegram_chat_id=CHAT,
        telegram_api_base=telegram.api_base,
    )


async def test_the_mirrored_video_is_uploaded(client: httpx.AsyncClient, video: Path) -> None:
    async with FakeTelegram().serving() as telegram:
        ctx = chat_context(
            "telegram", finished_job(), settings_for(telegram), client, mirrored=video
        )
        result = await KINDS["telegram"].run(ctx)

    (sent,) = telegram.accepted
    assert (sent["method"], sent["chat_id"], sent["video"]) == ("sendVideo", CHAT, SAMPLE_MP4)
    assert sent["text"] == f"✅ Video ready (sim, 10 s, 1080P): a paper boat at dusk\n{VIDEO_URL}"
    assert result == {
        "destination": "telegram",
        "chat_id": CHAT,
        "message_id": sent["message_id"],
        "sent_as": "upload",
    }


async def test_an_upload_too_large_goes_by_url(client: httpx.AsyncClient, video: Path) -> None:
    fake = FakeTelegram(upload_max=1_000, url_max=10_000, url_sizes={VIDEO_URL: len(SAMPLE_MP4)})
    async with fake.serving() as telegram:
        ctx = chat_context(
            "telegram", finished_job(), settings_for(telegram), client, mirrored=video
        )
        result = await KINDS["telegram"].run(ctx)

    assert telegram.answers == [413, 200]  # one message: the refused upload took no turn
    (sent,) = telegram.accepted
    assert (sent["method"], sent["video"]) == ("sendVideo", VIDEO_URL)
    assert result["sent_as"] == "url"


async def test_too_large_both_ways_it_is_a_link(client: httpx.AsyncClient, video: Path) -> None:
    fake = FakeTelegram(upload_max=1_000, url_max=1_000, url_sizes={VIDEO_URL: len(SAMPLE_MP4)})
    async with fake.serving() as telegram:
        ctx = chat_context(
            "telegram", finished_job(), settings_for(telegram), client, mirrored=video
        )
        result = await KINDS["telegram"].run(ctx)

    assert telegram.answers == [413, 400, 200]
    (sent,) = telegram.accepted
    assert sent["method"] == "sendMessage"
    assert sent["text"].endswith(f"\n{VIDEO_URL}")
    assert result["sent_as"] == "link"


async def test_a_failed_job_is_a_message_with_the_reason(client: httpx.AsyncClient) -> None:
    async with FakeTelegram().serving() as telegram:
        job = finished_job(JobState.TIMED_OUT, error={"code": "deadline", "message": "no result"})
        await KINDS["telegram"].run(chat_context("telegram", job, settings_for(telegram), client))

    (sent,) = telegram.accepted
    assert sent["method"] == "sendMessage"
    assert sent["text"] == "❌ Video timed_out (sim, 10 s): a paper boat at dusk\nReason: no result"


async def test_a_429_waits_its_retry_after(client: httpx.AsyncClient) -> None:
    async with FakeTelegram().serving() as telegram:
        telegram.script = [429]
        ctx = chat_context("telegram", finished_job(), settings_for(telegram), client)
        with pytest.raises(ActionError, match="rate-limited") as raised:
            await KINDS["telegram"].run(ctx)
        assert raised.value.retry_after == 1.0  # parameters.retry_after
        await KINDS["telegram"].run(ctx)  # at once: the chat's paused bucket holds it back

    assert telegram.answers == [429, 200]
    assert telegram.ignored_waits == 0
    assert len(telegram.accepted) == 1


async def test_a_jobs_own_chat_when_the_operator_allows_it(client: httpx.AsyncClient) -> None:
    async with FakeTelegram(chats=(CHAT, "@clipwire_news")).serving() as telegram:
        settings = replace(settings_for(telegram), allow_job_destinations=True)
        params = {"chat_id": "@clipwire_news"}
        ctx = chat_context("telegram", finished_job(), settings, client, params=params)
        result = await KINDS["telegram"].run(ctx)

    assert result["chat_id"] == "@clipwire_news"
    assert [m["chat_id"] for m in telegram.accepted] == ["@clipwire_news"]


async def test_errors_never_show_the_bot_token(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx logs each request line, URL and all, at INFO
    async with FakeTelegram().serving() as telegram:
        unknown_chat = replace(settings_for(telegram), telegram_chat_id="-100999")
        with pytest.raises(ActionRejected) as no_chat:
            await KINDS["telegram"].run(
                chat_context("telegram", finished_job(), unknown_chat, client)
            )
        wrong_token = replace(
            settings_for(telegram), telegram_bot_token="987654321:s3cretWrongTokenNotShown"
        )
        with pytest.raises(ActionRejected) as unauthorized:
            await KINDS["telegram"].run(
                chat_context("telegram", finished_job(), wrong_token, client)
            )
        telegram.script = [500]
        with pytest.raises(ActionError) as transient:
            await KINDS["telegram"].run(
                chat_context("telegram", finished_job(), settings_for(telegram), client)
            )

    assert no_chat.value.message == "Telegram answered HTTP 400: Bad Request: chat not found"
    assert unauthorized.value.message == "Telegram answered HTTP 401: Unauthorized"
    assert not isinstance(transient.value, ActionRejected)
    assert "/bot***/sendMessage" in caplog.text  # the request lines were logged, redacted
    shown = caplog.text + no_chat.value.message + unauthorized.value.message
    for secret in [*SECRETS, "s3cretWrongTokenNotShown"]:
        assert secret not in shown
