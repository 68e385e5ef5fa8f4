"""The state machine, pair by pair, and the validation of job requests. No database."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from orchestrator.actions import check_specs
from orchestrator.config import Settings
from orchestrator.errors import InvalidJobRequest
from orchestrator.models import DEFAULT_ACTIONS, Trigger, parse_job_request
from orchestrator.states import TERMINAL_STATES, EventKind, JobState, next_state

S, E = JobState, EventKind

FINISHING = {
    E.SUCCEEDED: S.SUCCEEDED,
    E.FAILED: S.FAILED,
    E.CANCELLED: S.CANCELLED,
    E.TIMED_OUT: S.TIMED_OUT,
}

# Every move the machine allows, written out by hand rather than copied from TRANSITIONS.
ALLOWED = {
    (S.PENDING, E.SUBMITTED): S.SUBMITTED,
    (S.PENDING, E.QUEUED): S.SUBMITTED,
    (S.PENDING, E.RUNNING): S.RUNNING,
    **{(S.PENDING, kind): target for kind, target in FINISHING.items()},
    (S.SUBMITTED, E.RUNNING): S.RUNNING,
    **{(S.SUBMITTED, kind): target for kind, target in FINISHING.items()},
    **{(S.RUNNING, kind): target for kind, target in FINISHING.items()},
}

ALL_PAIRS = list(itertools.product(JobState, EventKind))


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=[f"{s}-{e}" for s, e in ALL_PAIRS])
def test_next_state_allows_only_forward_moves(state: JobState, event: EventKind) -> None:
    assert next_state(state, event) == ALLOWED.get((state, event))


@pytest.mark.parametrize(
    ("trigger", "fires_in"),
    [
        (Trigger.SUCCEEDED, {S.SUCCEEDED}),
        (Trigger.FAILED, {S.FAILED, S.CANCELLED, S.TIMED_OUT}),
        (Trigger.FINISHED, set(TERMINAL_STATES)),
    ],
)
def test_trigger_fires_on(trigger: Trigger, fires_in: set[JobState]) -> None:
    assert {state for state in JobState if trigger.fires_on(state)} == fires_in


PROVIDERS = ("sim", "minimax")


def parse(**fields: Any) -> Any:
    return parse_job_request({"prompt": "a red fox", **fields}, providers=PROVIDERS)


def test_a_minimal_request_gets_the_defaults() -> None:
    request = parse()
    assert (request.provider, request.duration, request.resolution, request.tier) == (
        "sim",
        6,
        "768P",
        "standard",
    )
    assert request.actions == DEFAULT_ACTIONS
    assert request.mode == "t2v"
    assert parse(image_url="https://example.com/a.png", resolution="1080p").mode == "i2v"
    assert parse(resolution="1080p").resolution == "1080P"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"provider": "nope"}, "provider"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"prompt": 7}, "prompt"),
        ({"duration": 7}, "duration"),
        ({"duration": True}, "duration"),
        ({"duration": "6"}, "duration"),
        ({"resolution": "4K"}, "resolution"),
        ({"resolution": 768}, "resolution"),
        ({"tier": "ultra"}, "tier"),
        ({"image_url": "ftp://example.com/a.png"}, "image_url"),
        ({"image_url": "not a url"}, "image_url"),
        ({"image_url": ""}, "image_url"),
        ({"prompt_optimizer": "yes"}, "prompt_optimizer"),
        ({"provider_options": []}, "provider_options"),
        ({"colour": "red"}, "colour"),
        ({"actions": {"kind": "mirror"}}, "actions"),
        ({"actions": ["mirror"]}, "actions[0]"),
        ({"actions": [{"kind": "upload"}]}, "actions[0].kind"),
        ({"actions": [{"kind": "notify", "on": "sometimes"}]}, "actions[0].on"),
        ({"actions": [{"kind": "notify", "url": "file:///etc/passwd"}]}, "actions[0].url"),
        ({"actions": [{"kind": "mirror"}, {"kind": "mirror", "max_bytes": 0}]}, "max_bytes"),
        ({"actions": [{"kind": "notify", "headers": {}}]}, "headers"),
    ],
    ids=lambda value: str(value)[:40] if isinstance(value, dict) else value,
)
def test_a_bad_request_names_the_field(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidJobRequest) as raised:  # what POST /v1/jobs runs, in order
        check_specs(parse(**fields).actions, Settings())
    assert named in raised.value.message


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidJobRequest, match="JSON object"):
        parse_job_request(["a red fox"], providers=PROVIDERS)


def test_the_longest_prompt_allowed_passes() -> None:
    assert len(parse(prompt="x" * 2000).prompt) == 2000


def test_actions_keep_their_order_trigger_and_params() -> None:
    request = parse(
        actions=[
            {"kind": "notify", "url": "https://example.com/hook", "on": "failed"},
            {"kind": "mirror", "max_bytes": 1000},
        ]
    )
    assert [(a.kind, a.on, a.params) for a in request.actions] == [
        ("notify", Trigger.FAILED, {"url": "https://example.com/hook"}),
        ("mirror", Trigger.SUCCEEDED, {"max_bytes": 1000}),
    ]
