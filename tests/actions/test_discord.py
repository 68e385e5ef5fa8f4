"""The discord action against a fake Discord that sends rate-limit headers, 429s with
``retry_after`` and 413s for files over its limit."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from orchestrator.actions import KINDS
from orchestrator.actions.discord import MAX_CONTENT
from orchestrator.config import Settings
from orchestrator.errors import ActionError, ActionRejected
from orchestrator.sim.server import SAMPLE_MP4
from orchestrator.states import JobState
from tests.actions.fakes_chat import SECRETS, FakeDiscord, chat_context, finished_job

pytestmark = pytest.mark.anyio


async def test_the_mirrored_video_is_attached_and_the_message_id_kept(
    client: httpx.AsyncClient, video: Path
) -> None:
    async with FakeDiscord().serving() as discord:
        settings = Settings(discord_webhook_url=discord.webhook_url)
        ctx = chat_context("discord", finished_job(), settings, client, mirrored=video)
        result = await KINDS["discord"].run(ctx)

    (posted,) = discord.accepted
    assert result == {
        "destination": "discord",
        "webhook": "configured",
        "message_id": posted["id"],
        "channel_id": posted["channel_id"],
        "attached": True,
    }
    assert posted["files"] == [SAMPLE_MP4]
    assert posted["attachments"] == [{"filename": "job_1.mp4", "size": len(SAMPLE_MP4)}]
    assert posted["content"].startswith("✅ Video ready (sim, 10 s, 1080P): a paper boat at dusk")
    assert posted["allowed_mentions"] == {"parse": []}  # a prompt pings nobody


async def test_a_video_too_large_for_the_server_becomes_a_link(
    client: httpx.AsyncClient, video: Path
) -> None:
    async with FakeDiscord(max_file_bytes=len(SAMPLE_MP4) - 1).serving() as discord:
        settings = Settings(discord_webhook_url=discord.webhook_url)
        ctx = chat_context("discord", finished_job(), settings, client, mirrored=video)
        result = await KINDS["discord"].run(ctx)

    assert discord.answers == [413, 200]
    (posted,) = discord.accepted
    assert posted["attachments"] == []
    assert posted["content"].endswith("\nhttps://cdn.example.com/videos/job_1.mp4")
    assert result["attached"] is False
    assert result["message_id"] == posted["id"]


async def test_without_a_mirrored_file_or_on_failure_the_message_is_text(
    client: httpx.AsyncClient,
) -> None:
    async with FakeDiscord().serving() as discord:
        settings = Settings(discord_webhook_url=discord.webhook_url)
        await KINDS["discord"].run(chat_context("discord", finished_job(), settings, client))
        failed = finished_job(JobState.FAILED)
        await KINDS["discord"].run(chat_context("discord", failed, settings, client))

    linked, failure = discord.accepted
    assert linked["attachments"] == [] and linked["content"].endswith("job_1.mp4")
    assert (
        failure["content"] == "❌ Video failed (sim, 10 s): a paper boat at dusk\nReason: refused"
    )


async def test_the_rate_limit_headers_are_obeyed_before_any_429(
    client: httpx.AsyncClient,
) -> None:
    async with FakeDiscord(limit=1, window=0.3).serving() as discord:
        settings = Settings(discord_webhook_url=discord.webhook_url)
        first = chat_context("discord", finished_job(prompt="one"), settings, client)
        await KINDS["discord"].run(first)  # answered with X-RateLimit-Remaining: 0
        second = chat_context(
            "discord", finished_job(prompt="two"), settings, client, limiter=first.limiter
        )
        await KINDS["discord"].run(second)

    assert discord.answers == [200, 200]
    assert [m["content"].split(": ", 1)[1].split("\n")[0] for m in discord.accepted] == [
        "one",
        "two",
    ]


async def test_a_429_is_retried_after_its_retry_after(client: httpx.AsyncClient) -> None:
    async with FakeDiscord().serving() as discord:
        discord.script = [429]
        ctx = chat_context(
            "discord", finished_job(), Settings(discord_webhook_url=discord.webhook_url), client
        )
        with pytest.raises(ActionError, match="rate-limited") as raised:
            await KINDS["discord"].run(ctx)
        assert raised.value.retry_after == 0.25  # the JSON field, finer than Retry-After: 1
        await KINDS["discord"].run(ctx)  # at once: the paused bucket holds it back

    assert discord.answers == [429, 200]
    assert discord.ignored_waits == 0
    assert len(discord.accepted) == 1


async def test_a_long_prompt_still_fits_with_its_link(client: httpx.AsyncClient) -> None:
    async with FakeDiscord().serving() as discord:
        settings = Settings(discord_webhook_url=discord.webhook_url)
        job = finished_job(prompt="x" * 2000)
        await KINDS["discord"].run(chat_context("discord", job, settings, client))

    (posted,) = discord.accepted
    assert len(posted["content"]) <= MAX_CONTENT
    assert posted["content"].endswith("…\nhttps://cdn.example.com/videos/job_1.mp4")


async def test_errors_are_retried_or_final_and_name_no_secret(client: httpx.AsyncClient) -> None:
    async with FakeDiscord().serving() as discord:
        discord.script = [502]
        settings = Settings(discord_webhook_url=discord.webhook_url)
        with pytest.raises(ActionError) as transient:
            await KINDS["discord"].run(chat_context("discord", finished_job(), settings, client))
        assert not isinstance(transient.value, ActionRejected)

        wrong = Settings(discord_webhook_url=f"{discord.url}/api/webhooks/1/wrong-token")
        with pytest.raises(ActionRejected) as final:
            await KINDS["discord"].run(chat_context("discord", finished_job(), wrong, client))

    assert final.value.message == "Discord answered HTTP 401: Invalid Webhook Token"
    for error in (transient.value, final.value):
        assert not any(secret in error.message for secret in [*SECRETS, "wrong-token"])
    assert discord.accepted == []
