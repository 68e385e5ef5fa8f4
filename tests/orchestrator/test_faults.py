"""Fault injection at the worker: a real store on tmp_path, the provider behind MockTransport.

What a user would notice: a job whose submit may have reached the provider is not sent twice
without a decision; transient failures are retried, Retry-After is honoured, auth and input
errors are not retried; lost callbacks are recovered by polling; deadlines time jobs out;
dead actions can be sent again.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.bus import Bus
from orchestrator.callbacks import CallbackSigner
from orchestrator.config import Settings
from orchestrator.errors import ProviderRejected, ProviderUnavailable, StateConflict
from orchestrator.models import (
    ActionSpec,
    ProviderEvent,
    Trigger,
    iso,
    new_job_id,
    parse_iso,
    parse_job_request,
)
from orchestrator.providers import ProviderConfig, SimAdapter
from orchestrator.states import EventKind, JobState
from orchestrator.store import NewEvent, SQLiteStore
from orchestrator.worker import Worker

pytestmark = pytest.mark.anyio

SIM = "http://sim.test"
Handler = Callable[[httpx.Request], httpx.Response]


class Provider:
    """A scripted provider: answers each submit with the next step of ``script``."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.submits: list[dict[str, Any]] = []
        self.status: dict[str, Any] = {"task_id": "t-1", "status": "running"}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=self.status)
        self.submits.append(json.loads(request.content))
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return httpx.Response(step, json={"task_id": "t-1", "status": "queued"})


class Rig:
    def __init__(self, worker: Worker, store: SQLiteStore, provider: Provider) -> None:
        self.worker = worker
        self.store = store
        self.provider = provider

    async def job(self, *, deadline_at: str | None = None) -> str:
        request = parse_job_request({"prompt": "a fox"}, providers=("sim",))
        job, _ = await self.store.create_job(
            new_job_id(), request, public_url="http://127.0.0.1:1", deadline_at=deadline_at
        )
        return job.id

    async def submit_round(self) -> None:
        await self.worker.submit_due()
        await self.worker.settle()

    async def reconcile_round(self) -> None:
        await self.worker.poll_due()
        await self.worker.settle()
        await self.worker.apply_events()


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, provider: Provider, **overrides: Any) -> AsyncIterator[Rig]:
    settings = Settings(
        data_dir=tmp_path, secret_key="k", submit_retry_base=0.0, action_retry_base=0.0, **overrides
    )
    store = SQLiteStore(settings.db_path)
    await store.open()
    transport = httpx.MockTransport(provider)
    async with httpx.AsyncClient(transport=transport) as client:
        worker = Worker(
            settings=settings,
            store=store,
            adapters={"sim": SimAdapter(ProviderConfig(SIM))},
            signer=CallbackSigner("k", 3600),
            client=client,
            bus=Bus(),
        )
        try:
            yield Rig(worker, store, provider)
        finally:
            await worker.stop()
            await store.close()


def read_timeout() -> httpx.ReadTimeout:
    return httpx.ReadTimeout("no answer", request=httpx.Request("POST", SIM))


async def test_a_submit_that_got_no_answer_is_held_not_resent(tmp_path: Path) -> None:
    async with rig(tmp_path, Provider(read_timeout(), 200)) as r:
        job_id = await r.job()
        await r.submit_round()
        await r.submit_round()  # nothing due: the job waits for a decision
        job = await r.store.get_job(job_id)
        assert job.state is JobState.PENDING
        assert job.error and job.error["code"] == "submit_ambiguous"
        assert job.attention and "clipwire retry" in job.attention
        assert len(r.provider.submits) == 1
        assert [j.id for j in await r.store.list_jobs(attention=True)] == [job_id]

        await r.store.release_job(job_id)  # the operator decides: send it again
        await r.submit_round()
        job = await r.store.get_job(job_id)
        assert job.state is JobState.SUBMITTED and job.attention is None
        assert len(r.provider.submits) == 2


async def test_a_submit_interrupted_by_a_crash_is_held(tmp_path: Path) -> None:
    async with rig(tmp_path, Provider()) as r:
        job_id = await r.job()
        # A previous process claimed the submit and died before recording any outcome.
        assert await r.store.claim_submission(job_id, iso(time.time() - 1))
        await r.submit_round()
        job = await r.store.get_job(job_id)
        assert job.error and job.error["code"] == "submit_ambiguous"
        assert r.provider.submits == []


async def test_connection_refused_is_retried_because_nothing_was_sent(tmp_path: Path) -> None:
    refused = httpx.ConnectError("refused", request=httpx.Request("POST", SIM))
    async with rig(tmp_path, Provider(refused, 200)) as r:
        job_id = await r.job()
        await r.submit_round()
        await r.submit_round()
        job = await r.store.get_job(job_id)
        assert job.state is JobState.SUBMITTED
        assert job.submit_attempts == 2


async def test_429_waits_as_long_as_retry_after_says(tmp_path: Path) -> None:
    limited = httpx.Response(429, headers={"Retry-After": "30"}, json={"error": "slow down"})
    async with rig(tmp_path, Provider(limited)) as r:
        job_id = await r.job()
        before = time.time()
        await r.submit_round()
        await r.submit_round()  # not due yet
        assert len(r.provider.submits) == 1
        row = await r.store._read(
            lambda conn: conn.execute(
                "SELECT next_submit_at FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        )
        assert parse_iso(row[0]) >= before + 30


async def test_a_5xx_storm_ends_in_a_dead_letter_after_max_attempts(tmp_path: Path) -> None:
    async with rig(tmp_path, Provider(503, 503, 503, 503), submit_max_attempts=3) as r:
        job_id = await r.job()
        for _ in range(5):
            await r.submit_round()
        job = await r.store.get_job(job_id)
        assert len(r.provider.submits) == 3
        assert job.state is JobState.PENDING
        assert job.error and job.error["code"] == "submit_exhausted"
        assert "503" in (job.attention or "")


@pytest.mark.parametrize(
    ("status", "state", "code"),
    [(401, JobState.PENDING, "provider_auth"), (422, JobState.FAILED, "422")],
)
async def test_auth_and_input_errors_are_not_retried(
    tmp_path: Path, status: int, state: JobState, code: str
) -> None:
    refusal = httpx.Response(status, json={"error": {"message": "nope"}})
    async with rig(tmp_path, Provider(refusal, 200)) as r:
        job_id = await r.job()
        await r.submit_round()
        await r.submit_round()
        job = await r.store.get_job(job_id)
        assert len(r.provider.submits) == 1
        assert job.state is state
        assert job.error and job.error["code"] == code


async def test_a_lost_callback_is_recovered_by_asking_for_status(tmp_path: Path) -> None:
    async with rig(tmp_path, Provider(), callback_grace=0.0) as r:
        r.worker.adapters["sim"].config.options["expected_seconds"] = "0"
        job_id = await r.job()
        await r.submit_round()
        r.provider.status = {"task_id": "t-1", "status": "success", "video_url": f"{SIM}/v.mp4"}
        await r.reconcile_round()
        job = await r.store.get_job(job_id)
        assert job.state is JobState.SUCCEEDED
        assert job.outputs == (f"{SIM}/v.mp4",)
        events = await r.store.events_for(job_id)
        assert [(e["kind"], e["verification"]) for e in events] == [("succeeded", "poll")]


async def test_a_job_past_its_deadline_times_out_and_fires_failure_actions(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, Provider()) as r:
        job_id = await r.job(deadline_at=iso(time.time() - 1))
        await r.reconcile_round()
        job = await r.store.get_job(job_id)
        assert job.state is JobState.TIMED_OUT
        assert job.error and job.error["code"] == "deadline"
        actions = await r.store.actions_for(job_id)
        assert [a.kind for a in actions] == ["notify"]  # mirror fires on success only


async def test_a_dead_action_can_be_sent_again_with_the_same_key(tmp_path: Path) -> None:
    async with rig(tmp_path, Provider()) as r:
        job_id = await r.job()
        job = await r.store.get_job(job_id)
        spec = ActionSpec("mirror", Trigger.SUCCEEDED)
        await r.store.transition(job_id, job.state, JobState.SUCCEEDED, reason="t", actions=(spec,))
        await r.worker.run_due_actions()  # no outputs: mirror cannot succeed, it goes dead
        await r.worker.settle()
        [dead] = await r.store.dead_actions()
        assert dead.job_id == job_id and "no output" in (dead.last_error or "")
        again = await r.store.retry_action(dead.id)
        assert again.attempts == 0 and again.idempotency_key == dead.idempotency_key
        with pytest.raises(StateConflict):
            await r.store.retry_action(dead.id)  # it is pending now, not dead


class FlakyCompletion(SimAdapter):
    """A provider whose success needs a second call (like MiniMax's file lookup) that fails."""

    def __init__(self, error: Exception | None) -> None:
        super().__init__(ProviderConfig(SIM))
        self.error = error

    async def complete(self, client: httpx.AsyncClient, event: ProviderEvent) -> ProviderEvent:
        if self.error and event.kind is EventKind.SUCCEEDED:
            raise self.error
        return event


async def store_event(r: Rig, job_id: str, kind: EventKind) -> None:
    event = ProviderEvent(kind, "t-1", outputs=(f"{SIM}/v.mp4",))
    await r.store.add_event(
        NewEvent("sim", job_id, event, event.dedupe_key(job_id, b""), b"{}", {}, "token")
    )


async def test_an_event_that_cannot_be_completed_now_holds_up_no_other(tmp_path: Path) -> None:
    async with rig(tmp_path, Provider()) as r:
        r.worker.adapters["sim"] = FlakyCompletion(ProviderUnavailable("file lookup down"))
        stuck, other = await r.job(), await r.job()
        await r.submit_round()
        await store_event(r, stuck, EventKind.SUCCEEDED)  # stored first, cannot complete
        await store_event(r, other, EventKind.RUNNING)
        await r.worker.apply_events()
        await r.worker.apply_events()
        assert (await r.store.get_job(other)).state is JobState.RUNNING
        assert (await r.store.get_job(stuck)).state is JobState.SUBMITTED
        [waiting] = await r.store.unapplied_events(10)
        assert waiting.job_id == stuck  # kept, to be tried again


async def test_a_success_whose_result_cannot_be_had_fails_the_job(tmp_path: Path) -> None:
    async with rig(tmp_path, Provider()) as r:
        refused = ProviderRejected("file not found", provider_code="2013")
        r.worker.adapters["sim"] = FlakyCompletion(refused)
        job_id = await r.job()
        await r.submit_round()
        await store_event(r, job_id, EventKind.SUCCEEDED)
        await r.worker.apply_events()
        job = await r.store.get_job(job_id)
        assert job.state is JobState.FAILED
        assert job.error == {
            "code": "2013",
            "message": "the provider reported success, but: file not found",
        }


class Locating(SimAdapter):
    """A provider that can say whether a lost submit created a task (as Runware can)."""

    def __init__(self, found: ProviderEvent | Exception | None) -> None:
        super().__init__(ProviderConfig(SIM))
        self.found = found
        self.asked: list[int] = []

    async def locate(self, client: httpx.AsyncClient, job: Any) -> ProviderEvent | None:
        self.asked.append(job.submit_attempts)
        if isinstance(self.found, Exception):
            raise self.found
        return self.found


async def test_a_lost_answer_is_settled_by_locating_the_task(tmp_path: Path) -> None:
    async with rig(tmp_path, Provider(read_timeout())) as r:
        adapter = Locating(ProviderEvent(EventKind.RUNNING, "t-9"))
        r.worker.adapters["sim"] = adapter
        job_id = await r.job()
        await r.submit_round()
        job = await r.store.get_job(job_id)
        assert adapter.asked == [1]  # the attempt whose answer was lost
        assert (job.state, job.provider_task_id, job.attention) == (JobState.RUNNING, "t-9", None)
        assert len(r.provider.submits) == 1
        timeline = await r.store.timeline(job_id)
        assert timeline[-1].reason == "found at the provider after a lost answer"


async def test_a_task_that_cannot_be_located_is_held(tmp_path: Path) -> None:
    async with rig(tmp_path, Provider(read_timeout())) as r:
        r.worker.adapters["sim"] = Locating(ProviderUnavailable("lookup down too"))
        job_id = await r.job()
        await r.submit_round()
        job = await r.store.get_job(job_id)
        assert job.state is JobState.PENDING
        assert job.error and job.error["code"] == "submit_ambiguous"
