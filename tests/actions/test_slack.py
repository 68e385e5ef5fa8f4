"""The slack action against a fake Slack that enforces one message a second per webhook."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from orchestrator.actions import KINDS
from orchestrator.actions.slack import message
from orchestrator.config import Settings
from orchestrator.errors import ActionError, ActionRejected
from orchestrator.states import JobState
from tests.actions.fakes_chat import (
    SECRETS,
    FakeSlack,
    chat_context,
    finished_job,
    run_until_done,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    async with fake.serving():
        yield fake


def settings_for(slack: FakeSlack) -> Settings:
    return Settings(slack_webhook_url=slack.webhook_url)


async def test_a_prompt_cannot_ping_the_channel(client: httpx.AsyncClient) -> None:
    job = finished_job(prompt="<!channel> cats & dogs")
    text = message(chat_context("slack", job, Settings(), client))["text"]
    assert text.startswith("✅ Video ready (sim, 10 s, 1080P): &lt;!channel&gt; cats &amp; dogs\n")


async def test_a_finished_job_is_posted_once(slack: FakeSlack, client: httpx.AsyncClient) -> None:
    ctx = chat_context("slack", finished_job(), settings_for(slack), client)
    result = await KINDS["slack"].run(ctx)

    assert result == {"destination": "slack", "webhook": "configured", "status": 200}
    (posted,) = slack.accepted
    assert "a paper boat at dusk" in posted["text"]
    assert "https://cdn.example.com/videos/job_1.mp4" in posted["text"]


async def test_a_failed_job_says_why(slack: FakeSlack, client: httpx.AsyncClient) -> None:
    ctx = chat_context("slack", finished_job(JobState.FAILED), settings_for(slack), client)
    await KINDS["slack"].run(ctx)
    (posted,) = slack.accepted
    assert posted["text"] == "❌ Video failed (sim, 10 s): a paper boat at dusk\nReason: refused"


async def test_a_429_pauses_the_webhook_for_its_retry_after(
    slack: FakeSlack, client: httpx.AsyncClient
) -> None:
    slack.script = [429]
    ctx = chat_context("slack", finished_job(), settings_for(slack), client)

    with pytest.raises(ActionError, match="rate-limited") as raised:
        await KINDS["slack"].run(ctx)
    assert raised.value.retry_after == 1.0
    # Run again at once, as an impatient worker would: the paused bucket holds it back.
    await KINDS["slack"].run(ctx)

    assert slack.answers == [429, 200]
    assert slack.ignored_waits == 0
    assert len(slack.accepted) == 1


async def test_messages_to_one_webhook_go_one_a_second(
    slack: FakeSlack, client: httpx.AsyncClient
) -> None:
    settings = settings_for(slack)
    ctxs = [
        chat_context("slack", finished_job(prompt=f"clip {n}"), settings, client) for n in range(2)
    ]
    limiter = ctxs[0].limiter
    for ctx in ctxs:
        await KINDS["slack"].run(dataclasses.replace(ctx, limiter=limiter))
    assert slack.answers == [200, 200]  # never throttled
    assert [m["text"].split(": ", 1)[1].split("\n")[0] for m in slack.accepted] == [
        "clip 0",
        "clip 1",
    ]


async def test_the_fake_throttles_a_client_that_does_not_wait(
    slack: FakeSlack, client: httpx.AsyncClient
) -> None:
    first = await client.post(slack.webhook_url, json={"text": "one"})
    second = await client.post(slack.webhook_url, json={"text": "two"})
    assert (first.status_code, second.status_code) == (200, 429)
    assert second.headers["retry-after"] == "1"


async def test_errors_are_retried_or_final_and_name_no_secret(
    slack: FakeSlack, client: httpx.AsyncClient
) -> None:
    slack.script = [500]
    ctx = chat_context("slack", finished_job(), settings_for(slack), client)
    with pytest.raises(ActionError) as transient:
        await KINDS["slack"].run(ctx)
    assert not isinstance(transient.value, ActionRejected)
    assert transient.value.message == "Slack answered HTTP 500: rollup_error"

    wrong = Settings(slack_webhook_url=f"{slack.url}/services/T0/B0/wrong-secret")
    with pytest.raises(ActionRejected) as final:
        await KINDS["slack"].run(chat_context("slack", finished_job(), wrong, client))
    assert final.value.message == "Slack answered HTTP 404: no_service"
    assert not any(secret in final.value.message for secret in SECRETS)

    await run_until_done("slack", ctx)
    assert len(slack.accepted) == 1


async def test_a_jobs_own_webhook_is_used_only_while_allowed(
    slack: FakeSlack, client: httpx.AsyncClient
) -> None:
    params = {"webhook_url": slack.webhook_url}
    allowed = Settings(allow_job_destinations=True)
    result = await KINDS["slack"].run(
        chat_context("slack", finished_job(), allowed, client, params=params)
    )
    assert result["webhook"] == "job"
    assert len(slack.accepted) == 1

    with pytest.raises(ActionRejected, match="no longer"):
        await KINDS["slack"].run(
            chat_context("slack", finished_job(), Settings(), client, params=params)
        )
    assert len(slack.accepted) == 1
