"""The failover action: a failed job's request goes to the next provider in its list, each hop
carrying the rest forward, the chain visible on every job. The simulator is the one provider
that needs no credentials, so the hops are simulator jobs told what to do by their options."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.actions.failover import failover_request
from orchestrator.models import parse_job_request
from tests.conftest import LiveApp
from tests.providers.fakes.jobs import make_job

pytestmark = pytest.mark.anyio

FAST = {"delay": 0.02}
FAIL = {**FAST, "outcome": "fail", "error_code": "E_BUSY", "error_message": "overloaded"}
PROVIDERS = ("sim", "runware", "apiinone")


def action(job: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [a for a in job["actions"] if a["kind"] == kind]
    return found


async def next_hop(live: LiveApp, job: dict[str, Any]) -> dict[str, Any]:
    failover = action(job, "failover")
    assert failover["state"] == "done", failover
    return await live.wait_for(failover["result"]["job_id"])


async def test_a_failed_job_fails_over_and_the_new_job_succeeds(live: LiveApp) -> None:
    hop = {"provider": "sim", "provider_options": FAST}
    job = await live.submit(
        provider="sim",
        provider_options=FAIL,
        actions=[{"kind": "mirror"}, {"kind": "failover", "providers": [hop]}],
    )
    job = await live.wait_for(job["id"])
    assert job["state"] == "failed"
    assert [a["kind"] for a in job["actions"]] == ["failover"]  # mirror waits for a success

    second = await next_hop(live, job)

    assert second["state"] == "succeeded"
    assert second["request"]["prompt"] == job["request"]["prompt"]
    assert second["request"]["provider_options"] == FAST
    assert [a["kind"] for a in second["request"]["actions"]] == ["mirror"]  # the list is spent
    assert action(second, "mirror")["state"] == "done"
    assert second["parent"] == {"id": job["id"], "relation": "failover", "state": "failed"}
    job = (await live.client.get(f"/v1/jobs/{job['id']}")).json()
    assert job["children"] == [{"id": second["id"], "relation": "failover", "state": "succeeded"}]


async def test_each_hop_carries_the_rest_of_the_list(live: LiveApp) -> None:
    hops = [
        {"provider": "sim", "provider_options": FAIL},
        {"provider": "sim", "provider_options": FAST},
    ]
    first = await live.wait_for(
        (
            await live.submit(
                provider="sim",
                provider_options=FAIL,
                actions=[{"kind": "failover", "providers": hops}],
            )
        )["id"]
    )
    second = await next_hop(live, first)
    third = await next_hop(live, second)

    assert [first["state"], second["state"], third["state"]] == ["failed", "failed", "succeeded"]
    assert second["request"]["actions"] == [
        {"kind": "failover", "on": "failed", "providers": hops[1:]}
    ]
    assert third["request"]["actions"] == []
    assert second["parent"]["id"] == first["id"]
    assert third["parent"] == {"id": second["id"], "relation": "failover", "state": "failed"}
    assert [c["id"] for c in second["children"]] == [third["id"]]


async def test_a_job_that_succeeds_or_is_cancelled_does_not_fail_over(live: LiveApp) -> None:
    spec = {"kind": "failover", "providers": ["sim"]}
    done = await live.submit(provider="sim", provider_options=FAST, actions=[spec])
    done = await live.wait_for(done["id"])
    assert (done["state"], done["actions"], done["children"]) == ("succeeded", [], [])

    waiting = await live.submit(provider="sim", provider_options={"silent": True}, actions=[spec])
    await live.wait_for(waiting["id"], lambda j: j["state"] == "submitted")
    assert (await live.client.post(f"/v1/jobs/{waiting['id']}/cancel")).status_code == 200
    cancelled = await live.wait_for(waiting["id"])
    assert action(cancelled, "failover")["result"] == {"skipped": "the job was cancelled"}
    assert cancelled["children"] == []


async def test_failing_over_to_a_provider_without_credentials_dead_letters(
    live: LiveApp,
) -> None:
    job = await live.submit(
        provider="sim",
        provider_options=FAIL,
        actions=[{"kind": "failover", "providers": ["runware"]}],
    )
    job = await live.wait_for(job["id"])

    failover = action(job, "failover")
    assert failover["state"] == "dead"
    assert "CLIPWIRE_RUNWARE_API_KEY" in failover["last_error"]
    assert job["children"] == []


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ([], "non-empty list"),
        ("runware", "non-empty list"),
        (["nobody"], "providers[0] must name one of"),
        ([{"provider": "sim", "options": {}}], "takes provider and provider_options"),
        ([{"provider": "sim", "provider_options": []}], "must be an object"),
    ],
)
async def test_a_bad_provider_list_is_refused_when_the_job_is_created(
    live: LiveApp, providers: Any, message: str
) -> None:
    answer = await live.client.post(
        "/v1/jobs",
        json={"prompt": "a red fox", "actions": [{"kind": "failover", "providers": providers}]},
    )
    assert answer.status_code == 422
    assert message in answer.json()["error"]["message"]


def test_options_go_only_to_the_provider_they_were_written_for() -> None:
    request = parse_job_request(
        {
            "prompt": "a red fox",
            "provider": "sim",
            "provider_options": {"outcome": "fail"},
            "actions": [{"kind": "failover", "providers": ["runware", "sim"]}],
        },
        providers=PROVIDERS,
    )
    job = make_job(request)
    params = request.actions[0].params

    to_runware = failover_request(job, params)
    assert (to_runware["provider"], to_runware["provider_options"]) == ("runware", {})
    assert to_runware["actions"] == [{"kind": "failover", "on": "failed", "providers": ["sim"]}]
    to_sim = failover_request(job, {"providers": ["sim"]})
    assert to_sim["provider_options"] == {"outcome": "fail"}
