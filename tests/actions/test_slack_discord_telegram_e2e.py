"""End to end: the real app and its simulator finish jobs; the chat actions post them to fake
Slack, Discord and Telegram servers on loopback that rate-limit and fail now and then. Every
destination gets exactly one message per job, and no secret shows anywhere."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from orchestrator.logs import configure_logging
from orchestrator.sim.server import SAMPLE_MP4
from tests.actions.fakes_chat import (
    SECRETS,
    TELEGRAM_TOKEN,
    FakeDiscord,
    FakeSlack,
    FakeTelegram,
)
from tests.conftest import live_app

pytestmark = pytest.mark.anyio

CHAT = "-1001234567890"
FAST = {"delay": 0.02}
PROMPTS = ("a paper boat at dusk", "a red fox in snow", "a city of glass")


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """clipwire's own logging pipeline, writing JSON lines to a buffer instead of stderr."""
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    configure_logging(log_format="json", level="debug")
    yield stderr
    structlog.reset_defaults()


def one_message_about(prompt: str, messages: list[dict[str, Any]], key: str) -> dict[str, Any]:
    (message,) = [m for m in messages if prompt in m[key]]
    return message


def action(job: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [a for a in job["actions"] if a["kind"] == kind]
    return found


async def test_each_destination_gets_one_message_per_job_through_limits_and_failures(
    tmp_path: Path, json_logs: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx's request lines too: they carry the URLs
    slack, discord, telegram = FakeSlack(), FakeDiscord(limit=2, window=1.0), FakeTelegram()
    # Each fails once or twice on top of its own limits: a 429 costs Slack a second, so it gets
    # only that; Telegram's 429 is tested on its own (test_telegram.py).
    slack.script, discord.script, telegram.script = [429], [500, 429], [500]
    async with (
        slack.serving(),
        discord.serving(),
        telegram.serving(),
        live_app(
            tmp_path / "data",
            action_retry_base=0.01,
            slack_webhook_url=slack.webhook_url,
            discord_webhook_url=discord.webhook_url,
            telegram_bot_token=TELEGRAM_TOKEN,
            telegram_chat_id=CHAT,
            telegram_api_base=telegram.api_base,
        ) as live,
    ):
        actions = [{"kind": k} for k in ("mirror", "slack", "discord", "telegram")]
        failing = {**FAST, "outcome": "fail", "error_message": "the prompt was refused"}
        submitted = [
            await live.submit(prompt=PROMPTS[0], provider_options=FAST, actions=actions),
            await live.submit(prompt=PROMPTS[1], provider_options=FAST, actions=actions),
            await live.submit(prompt=PROMPTS[2], provider_options=failing, actions=actions),
        ]
        jobs = [await live.wait_for(job["id"], timeout=60) for job in submitted]

    assert [job["state"] for job in jobs] == ["succeeded", "succeeded", "failed"]
    for job in jobs:
        assert {a["kind"]: a["state"] for a in job["actions"]} == {
            **({"mirror": "done"} if job["state"] == "succeeded" else {}),
            "slack": "done",
            "discord": "done",
            "telegram": "done",
        }

    # Exactly one message per job at every destination, through 500s and 429s.
    for fake in (slack, discord, telegram):
        assert len(fake.accepted) == len(jobs)
        assert fake.script == []  # every scripted failure was served
        assert fake.ignored_waits == 0  # no request came while told to wait
    for job, prompt in zip(jobs, PROMPTS, strict=True):
        succeeded = job["state"] == "succeeded"
        said = one_message_about(prompt, slack.accepted, "text")["text"]
        posted = one_message_about(prompt, discord.accepted, "content")
        sent = one_message_about(prompt, telegram.accepted, "text")
        for text in (said, posted["content"], sent["text"]):
            if succeeded:
                assert "Video ready (sim, 6 s, 768P)" in text
                assert job["outputs"][0] in text  # the link
            else:
                assert text.endswith("Reason: the prompt was refused")
        assert posted["files"] == ([SAMPLE_MP4] if succeeded else [])
        assert sent["method"] == ("sendVideo" if succeeded else "sendMessage")
        assert sent["video"] == (SAMPLE_MP4 if succeeded else None)
        assert action(job, "discord")["result"]["message_id"] == posted["id"]
        assert action(job, "telegram")["result"]["message_id"] == sent["message_id"]
        assert action(job, "telegram")["result"]["sent_as"] == ("upload" if succeeded else "link")

    # No secret in the logs (clipwire's and httpx's), the jobs, their actions' results or errors.
    output = json_logs.getvalue() + caplog.text
    events = [json.loads(line)["event"] for line in output.splitlines() if line.startswith("{")]
    assert "action.retrying" in events and "action.done" in events
    shown = output + json.dumps(jobs)
    for secret in SECRETS:
        assert secret not in shown

    attempts = {
        k: sum(action(j, k)["attempts"] for j in jobs) for k in ("slack", "discord", "telegram")
    }
    print(  # the figures, for whoever runs this with -s
        "\nchat e2e:",
        {
            name: {
                "requests": len(fake.answers),
                "accepted": len(fake.accepted),
                "429": fake.throttled,
                "500": fake.answers.count(500),
                "attempts": attempts[name],
            }
            for name, fake in (("slack", slack), ("discord", discord), ("telegram", telegram))
        },
    )


async def test_a_job_for_an_unconfigured_chat_is_refused_with_what_to_set(tmp_path: Path) -> None:
    async with live_app(tmp_path / "data", slack_webhook_url="https://hooks.slack.com/x") as live:
        unconfigured = await live.client.post(
            "/v1/jobs", json={"prompt": "a red fox", "actions": [{"kind": "telegram"}]}
        )
        own = await live.client.post(
            "/v1/jobs",
            json={
                "prompt": "a red fox",
                "actions": [{"kind": "slack", "webhook_url": "https://x"}],
            },
        )
        listed = (await live.client.get("/v1/jobs")).json()["jobs"]

    assert unconfigured.status_code == 422
    assert unconfigured.json()["error"] == {
        "code": "action_not_configured",
        "message": "actions[0]: telegram is not configured: set CLIPWIRE_TELEGRAM_BOT_TOKEN"
        " and CLIPWIRE_TELEGRAM_CHAT_ID",
    }
    assert own.status_code == 422
    assert "CLIPWIRE_ALLOW_JOB_DESTINATIONS=1" in own.json()["error"]["message"]
    assert listed == []  # neither job was made
