"""What the chat actions share: messages from templates, their checks, and redaction."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from orchestrator.actions import check_specs
from orchestrator.actions.chat import (
    DEFAULT_TEMPLATES,
    check_template,
    message_fields,
    redact,
    render,
    template_for,
)
from orchestrator.config import Settings
from orchestrator.errors import InvalidJobRequest
from orchestrator.models import ActionSpec, Job, Trigger
from orchestrator.states import JobState
from tests.actions.fakes_chat import DISCORD_TOKEN, TELEGRAM_TOKEN, chat_context, finished_job

CONFIGURED = Settings(
    slack_webhook_url="https://hooks.slack.com/services/T0/B0/secret",
    discord_webhook_url="https://discord.com/api/webhooks/1/token",
    telegram_bot_token=TELEGRAM_TOKEN,
    telegram_chat_id="-100200300",
)


def test_a_success_says_what_was_made_where_and_links_it() -> None:
    job = finished_job(prompt="a paper boat at dusk")
    text = render(DEFAULT_TEMPLATES["succeeded"], message_fields(job), limit=4000)
    assert text == (
        "✅ Video ready (sim, 10 s, 1080P): a paper boat at dusk\n"
        "https://cdn.example.com/videos/job_1.mp4"
    )


@pytest.mark.parametrize(
    ("state", "error", "reason"),
    [
        (JobState.FAILED, {"code": "E_NSFW", "message": "refused"}, "refused"),
        (JobState.FAILED, {"code": "E_QUOTA"}, "E_QUOTA"),
        (JobState.CANCELLED, {"code": "cancelled", "message": "cancelled by user"}, "cancelled"),
        (JobState.TIMED_OUT, {}, "no reason given"),
    ],
)
def test_a_failure_says_why(state: JobState, error: dict[str, str], reason: str) -> None:
    fields = message_fields(finished_job(state, error=error))
    text = render(DEFAULT_TEMPLATES["failed"], fields, limit=4000)
    assert text.startswith(f"❌ Video {state} (sim, 10 s): a paper boat at dusk\nReason: ")
    assert reason in text
    assert fields["video_url"] == ""


@pytest.mark.anyio
async def test_the_actions_template_wins_over_the_operators_which_wins_over_the_default() -> None:
    job = finished_job()
    operator = Settings(chat_template_succeeded="done: {job_id}")
    async with httpx.AsyncClient() as client:
        await _check_template_order(job, operator, client)


async def _check_template_order(job: Job, operator: Settings, client: httpx.AsyncClient) -> None:
    own = chat_context("slack", job, operator, client, params={"template": "{prompt}!"})
    assert template_for(own) == "{prompt}!"
    assert template_for(chat_context("slack", job, operator, client)) == "done: {job_id}"
    assert (
        template_for(chat_context("slack", job, Settings(), client))
        == (DEFAULT_TEMPLATES["succeeded"])
    )
    failed = finished_job(JobState.FAILED)
    assert (
        template_for(chat_context("slack", failed, operator, client))
        == (DEFAULT_TEMPLATES["failed"])
    )


def test_a_long_prompt_is_shortened_so_that_the_link_survives() -> None:
    fields = message_fields(finished_job(prompt="word " * 400))
    text = render(DEFAULT_TEMPLATES["succeeded"], fields, limit=300)
    assert len(text) <= 300
    assert text.endswith("…\nhttps://cdn.example.com/videos/job_1.mp4")


def test_escaping_counts_towards_the_limit() -> None:
    fields = message_fields(finished_job(prompt="<&>" * 100))
    text = render("{prompt}", fields, limit=50, escape=lambda s: s.replace("&", "&amp;"))
    assert len(text) <= 50
    assert text.endswith("…")


def test_a_template_longer_than_the_limit_is_cut() -> None:
    text = render("x" * 100 + "{prompt}", message_fields(finished_job()), limit=20)
    assert text == "x" * 19 + "…"


@pytest.mark.parametrize(
    "template",
    [
        "{secret}",
        "{prompt.__class__}",
        "{prompt[0]}",
        "{}",
        "{prompt",
        "{prompt:d}",
        "{prompt:{x}}",
    ],
)
def test_a_template_that_cannot_be_rendered_is_refused(template: str) -> None:
    with pytest.raises(InvalidJobRequest, match="template"):
        check_template(template, "actions[0].template")


@pytest.mark.parametrize("template", ["{prompt:.20}", "{{literal}} {state!r}", "just text"])
def test_format_specs_conversions_and_literal_braces_are_allowed(template: str) -> None:
    check_template(template, "actions[0].template")


@pytest.mark.parametrize("kind", ["slack", "discord", "telegram"])
def test_a_chat_action_without_credentials_is_refused_at_creation(kind: str) -> None:
    with pytest.raises(InvalidJobRequest, match=f"{kind} is not configured: set CLIPWIRE_") as err:
        check_specs((ActionSpec(kind, Trigger.FINISHED),), Settings())
    assert err.value.code == "action_not_configured"


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("slack", {"webhook_url": "https://hooks.slack.com/services/T/B/other"}),
        ("discord", {"webhook_url": "https://discord.com/api/webhooks/2/other"}),
        ("telegram", {"chat_id": "@some_channel"}),
    ],
)
def test_a_jobs_own_destination_needs_the_operators_consent(
    kind: str, params: dict[str, str]
) -> None:
    specs = (ActionSpec(kind, Trigger.FINISHED, params),)
    with pytest.raises(InvalidJobRequest, match="CLIPWIRE_ALLOW_JOB_DESTINATIONS=1"):
        check_specs(specs, CONFIGURED)
    allowed = Settings(allow_job_destinations=True, telegram_bot_token=TELEGRAM_TOKEN)
    check_specs(specs, allowed)  # a webhook URL or a chat id of its own; the bot is configured


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("slack", {"channel": "#general"}, "unknown fields: channel"),
        ("discord", {"webhook_url": "ftp://x"}, "must be an http"),
        ("telegram", {"chat_id": "not a chat"}, "numeric id or an @channel"),
        ("telegram", {"chat_id": True}, "numeric id or an @channel"),
        ("slack", {"template": ""}, "non-empty string"),
        ("discord", {"template": "{nope}"}, "unknown field {nope}"),
    ],
)
def test_bad_parameters_are_refused(kind: str, params: dict[str, object], message: str) -> None:
    settings = dataclasses.replace(CONFIGURED, allow_job_destinations=True)
    with pytest.raises(InvalidJobRequest, match=message):
        check_specs((ActionSpec(kind, Trigger.FINISHED, params),), settings)


def test_a_bad_operator_template_is_named() -> None:
    settings = dataclasses.replace(CONFIGURED, chat_template_failed="{oops}")
    with pytest.raises(InvalidJobRequest, match="CLIPWIRE_CHAT_TEMPLATE_FAILED names an unknown"):
        check_specs((ActionSpec("slack", Trigger.FINISHED),), settings)


def test_settings_read_the_chat_variables_and_keep_the_secrets_out_of_repr() -> None:
    settings = Settings.from_env(
        {
            "CLIPWIRE_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/slack-secret",
            "CLIPWIRE_DISCORD_WEBHOOK_URL": f"https://discord.com/api/webhooks/1/{DISCORD_TOKEN}",
            "CLIPWIRE_TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "CLIPWIRE_TELEGRAM_CHAT_ID": "-100200300",
            "CLIPWIRE_TELEGRAM_API_BASE": "http://127.0.0.1:8081/",
            "CLIPWIRE_ALLOW_JOB_DESTINATIONS": "1",
            "CLIPWIRE_CHAT_TEMPLATE_SUCCEEDED": "{prompt}",
        }
    )
    assert settings.telegram_api_base == "http://127.0.0.1:8081"
    assert settings.allow_job_destinations
    assert settings.chat_template_succeeded == "{prompt}"
    assert settings.telegram_chat_id == "-100200300"
    shown = repr(settings)
    assert "slack-secret" not in shown and DISCORD_TOKEN not in shown
    assert TELEGRAM_TOKEN not in shown
    assert not Settings.from_env({}).allow_job_destinations


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"POST https://api.telegram.org/bot{TELEGRAM_TOKEN}/sendVideo", "/bot***/sendVideo"),
        (f"https://discord.com/api/webhooks/11/{DISCORD_TOKEN}?wait=true", "/webhooks/***?wait"),
        (f"https://discord.com/api/v10/webhooks/11/{DISCORD_TOKEN}", "/api/v10/webhooks/***"),
        ("https://hooks.slack.com/services/T0/B0/abcDEF123 200", "/services/*** 200"),
    ],
)
def test_redaction_hides_tokens_in_chat_urls(text: str, shown: str) -> None:
    redacted = redact(text)
    assert shown in redacted
    assert TELEGRAM_TOKEN not in redacted and DISCORD_TOKEN not in redacted
    assert "abcDEF123" not in redacted
