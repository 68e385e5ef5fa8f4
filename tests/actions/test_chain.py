"""The submit action: a follow-up job started from a template when a job finishes, linked to
its parent both ways, over real HTTP with the real app and the simulator."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.actions import KINDS, ActionContext
from orchestrator.cli import print_job
from tests.conftest import LiveApp

pytestmark = pytest.mark.anyio

FAST = {"delay": 0.02}


def action(job: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [a for a in job["actions"] if a["kind"] == kind]
    return found


async def test_a_draft_that_succeeds_starts_its_1080p_render(live: LiveApp) -> None:
    draft = await live.submit(
        provider="sim",
        prompt="a paper boat at dusk",
        provider_options=FAST,
        actions=[
            {"kind": "mirror"},
            {
                "kind": "submit",
                "resolution": "1080P",
                "prompt": "{prompt}, final cut",
                "provider_options": {**FAST, "draft": "{video_url}"},
            },
        ],
    )
    draft = await live.wait_for(draft["id"])
    submit = action(draft, "submit")
    assert submit["state"] == "done", submit
    final = await live.wait_for(submit["result"]["job_id"])

    assert final["state"] == "succeeded"
    request = final["request"]
    assert (request["resolution"], request["duration"]) == ("1080P", 6)
    assert request["prompt"] == "a paper boat at dusk, final cut"
    assert request["provider_options"] == {**FAST, "draft": draft["outputs"][0]}
    assert [a["kind"] for a in request["actions"]] == ["mirror"]  # it does not start itself
    assert action(final, "mirror")["state"] == "done"
    assert final["parent"] == {"id": draft["id"], "relation": "follow_up", "state": "succeeded"}
    assert final["children"] == []
    draft = (await live.client.get(f"/v1/jobs/{draft['id']}")).json()
    assert draft["parent"] is None
    assert draft["children"] == [{"id": final["id"], "relation": "follow_up", "state": "succeeded"}]


async def test_an_image_to_video_follow_up_from_a_frame_url(live: LiveApp) -> None:
    sim_url = live.clipwire.adapters["sim"].config.base_url
    first = await live.submit(
        provider="sim",
        provider_options=FAST,
        actions=[{"kind": "submit", "image_url": f"{sim_url}/files/frame.png", "duration": 10}],
    )
    first = await live.wait_for(first["id"])
    second = await live.wait_for(action(first, "submit")["result"]["job_id"])

    assert (second["state"], second["mode"]) == ("succeeded", "i2v")
    assert second["request"]["duration"] == 10
    assert second["request"]["image_url"] == f"{sim_url}/files/frame.png"


async def test_running_the_action_again_returns_the_same_child(live: LiveApp) -> None:
    """A worker that crashed after starting the follow-up but before recording it reruns the
    action: the idempotency key finds the job it started instead of paying for another."""
    parent = await live.submit(
        provider="sim",
        provider_options=FAST,
        actions=[{"kind": "submit", "resolution": "1080P", "actions": []}],
    )
    parent = await live.wait_for(parent["id"])
    first_child = action(parent, "submit")["result"]["job_id"]

    clipwire = live.clipwire
    (stored,) = await clipwire.store.actions_for(parent["id"])
    ctx = ActionContext(
        job=await clipwire.store.get_job(parent["id"]),
        action=stored,
        earlier=(),
        client=clipwire.client,
        settings=clipwire.settings,
        limiter=clipwire.worker.limiter,
        create_job=clipwire.worker.create_job,
    )
    again = await KINDS["submit"].run(ctx)

    assert again["job_id"] == first_child
    children = await clipwire.store.children(parent["id"])
    assert [child.id for child in children] == [first_child]


async def test_a_placeholder_without_a_value_dead_letters_the_action(live: LiveApp) -> None:
    job = await live.submit(
        provider="sim",
        provider_options=FAST,
        actions=[{"kind": "submit", "prompt": "continue from {image_url}"}],
    )
    job = await live.wait_for(job["id"])

    submit = action(job, "submit")
    assert submit["state"] == "dead"
    assert "{image_url} has no value" in submit["last_error"]
    assert job["children"] == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"prompt": "{frame_url}"}, "unknown placeholder {frame_url}"),
        ({"model": "x"}, "unknown fields: model"),
        ({"duration": 7}, "duration must be 6 or 10"),
        ({"provider": "nobody"}, "provider must be one of"),
        ({"actions": [{"kind": "teleport"}]}, "kind must be one of"),
    ],
)
async def test_a_bad_template_is_refused_when_the_job_is_created(
    live: LiveApp, spec: dict[str, Any], message: str
) -> None:
    answer = await live.client.post(
        "/v1/jobs", json={"prompt": "a red fox", "actions": [{"kind": "submit", **spec}]}
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["message"].startswith("actions[0]")
    assert message in answer.json()["error"]["message"]


def test_clipwire_job_prints_the_parent_and_the_children(
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = {
        "id": "job_b",
        "state": "succeeded",
        "provider": "sim",
        "mode": "t2v",
        "request": {"duration": 6, "resolution": "1080P", "tier": "standard", "prompt": "p"},
        "parent": {"id": "job_a", "relation": "follow_up", "state": "succeeded"},
        "children": [{"id": "job_c", "relation": "failover", "state": "running"}],
    }
    print_job(job)
    out = capsys.readouterr().out
    assert "follow_up of job_a (succeeded)" in out
    assert "failover: job_c (running)" in out
