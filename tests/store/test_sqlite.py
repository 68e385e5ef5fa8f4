"""The SQLite store on a real file: migrations, permissions, dedupe, compare-and-set, atomicity,
idempotency keys and group commit."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.errors import IdempotencyConflict, StateConflict, StoreError
from orchestrator.models import (
    ActionSpec,
    JobRequest,
    ProviderEvent,
    Trigger,
    parse_job_request,
)
from orchestrator.states import EventKind, JobState
from orchestrator.store import NewEvent, SQLiteStore
from orchestrator.store.migrations import MIGRATIONS

pytestmark = pytest.mark.anyio

ALL_MIGRATIONS = [migration.__name__ for migration in MIGRATIONS]
ACTIONS = (ActionSpec("mirror", Trigger.SUCCEEDED), ActionSpec("notify", Trigger.FINISHED))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "clipwire.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(db_path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def request(prompt: str = "a red fox") -> JobRequest:
    return parse_job_request({"prompt": prompt}, providers=("sim",))


async def new_job(store: SQLiteStore, job_id: str = "job_1", key: str | None = None) -> str:
    job, created = await store.create_job(
        job_id, request(), public_url="http://127.0.0.1:8700", idempotency_key=key
    )
    assert created
    return job.id


def event(job_id: str, kind: EventKind, dedupe_key: str | None = None) -> NewEvent:
    return NewEvent(
        provider="sim",
        job_id=job_id,
        event=ProviderEvent(kind, task_id="sim-1"),
        dedupe_key=dedupe_key or f"{job_id}:{kind}",
        body=b'{"status": "running"}',
        headers={"content-type": "application/json"},
        verification="token",
    )


def raw(db_path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Read or write the file behind the store's back, as an operator with sqlite3 would."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        return [tuple(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


async def states_of(store: SQLiteStore, job_id: str) -> list[str]:
    return [str(t.to_state) for t in await store.timeline(job_id)]


# migrations and the file


async def test_an_empty_database_gets_every_migration_once(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    assert await store.open() == ALL_MIGRATIONS
    await new_job(store)
    await store.close()

    reopened = SQLiteStore(db_path)
    assert await reopened.open() == []
    try:
        assert (await reopened.get_job("job_1")).request.prompt == "a red fox"
    finally:
        await reopened.close()
    assert [row[0] for row in raw(db_path, "SELECT name FROM migrations ORDER BY name")] == (
        ALL_MIGRATIONS
    )


async def test_the_database_file_is_readable_by_its_owner_only(
    store: SQLiteStore, db_path: Path
) -> None:
    await new_job(store)
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    wal = db_path.with_name(db_path.name + "-wal")
    assert stat.S_IMODE(wal.stat().st_mode) == 0o600


# inbound events


async def test_a_duplicate_event_is_stored_once(store: SQLiteStore) -> None:
    job_id = await new_job(store)
    first_id, first_duplicate = await store.add_event(event(job_id, EventKind.RUNNING))
    again_id, again_duplicate = await store.add_event(event(job_id, EventKind.RUNNING))
    assert (first_duplicate, again_duplicate) == (False, True)
    assert again_id == first_id
    assert len(await store.events_for(job_id)) == 1
    assert [e.id for e in await store.unapplied_events(10)] == [first_id]


# transitions


async def test_a_stale_compare_and_set_raises_and_writes_no_history(store: SQLiteStore) -> None:
    job_id = await new_job(store)
    await store.transition(job_id, JobState.PENDING, JobState.SUBMITTED, reason="accepted")

    with pytest.raises(StateConflict):
        await store.transition(
            job_id, JobState.PENDING, JobState.RUNNING, reason="stale", actions=ACTIONS
        )

    assert (await store.get_job(job_id)).state is JobState.SUBMITTED
    assert await states_of(store, job_id) == ["pending", "submitted"]
    assert await store.actions_for(job_id) == []


async def test_a_transition_writes_state_history_event_and_actions_together(
    store: SQLiteStore,
) -> None:
    job_id = await new_job(store)
    event_id, _ = await store.add_event(event(job_id, EventKind.SUCCEEDED))

    transition = await store.transition(
        job_id,
        JobState.PENDING,
        JobState.SUCCEEDED,
        reason="sim webhook: succeeded",
        event_id=event_id,
        outputs=("http://127.0.0.1/video.mp4",),
        actions=ACTIONS,
    )

    job = await store.get_job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert job.outputs == ("http://127.0.0.1/video.mp4",)
    assert job.finished_at == transition.at
    history = await store.timeline(job_id)
    assert [(t.from_state, t.to_state, t.event_id) for t in history][-1] == (
        JobState.PENDING,
        JobState.SUCCEEDED,
        event_id,
    )
    assert [(a.kind, a.position, str(a.state)) for a in await store.actions_for(job_id)] == [
        ("mirror", 0, "pending"),
        ("notify", 1, "pending"),
    ]
    assert await store.unapplied_events(10) == []
    assert (await store.events_for(job_id))[0]["outcome"] == "moved to succeeded"


async def test_a_transition_that_fails_half_way_leaves_nothing_behind(
    store: SQLiteStore, db_path: Path
) -> None:
    job_id = await new_job(store)
    # A history row that the unique (job_id, to_state) key will not let the move write again.
    raw(
        db_path,
        "INSERT INTO transitions (job_id, from_state, to_state, reason, at)"
        " VALUES (?, 'pending', 'succeeded', 'planted', '2020-01-01T00:00:00.000000Z')",
        job_id,
    )

    with pytest.raises(StoreError):
        await store.transition(
            job_id, JobState.PENDING, JobState.SUCCEEDED, reason="webhook", actions=ACTIONS
        )

    job = await store.get_job(job_id)
    assert (job.state, job.finished_at) == (JobState.PENDING, None)
    assert await store.actions_for(job_id) == []


# idempotency keys


async def test_an_idempotency_key_returns_the_same_job(store: SQLiteStore) -> None:
    job_id = await new_job(store, "job_1", key="order-42")
    again, created = await store.create_job(
        "job_2", request(), public_url="http://127.0.0.1:8700", idempotency_key="order-42"
    )
    assert (again.id, created) == (job_id, False)
    assert [job.id for job in await store.list_jobs()] == [job_id]


async def test_an_idempotency_key_reused_for_another_request_is_refused(
    store: SQLiteStore,
) -> None:
    await new_job(store, "job_1", key="order-42")
    with pytest.raises(IdempotencyConflict):
        await store.create_job(
            "job_2",
            request("a blue fox"),
            public_url="http://127.0.0.1:8700",
            idempotency_key="order-42",
        )
    assert [job.id for job in await store.list_jobs()] == ["job_1"]


# group commit


async def test_concurrent_writes_all_commit(store: SQLiteStore, db_path: Path) -> None:
    job_id = await new_job(store)
    results = await asyncio.gather(
        *(store.add_event(event(job_id, EventKind.RUNNING, f"key-{n}")) for n in range(200))
    )
    assert len({event_id for event_id, _ in results}) == 200
    assert not any(duplicate for _, duplicate in results)
    assert raw(db_path, "SELECT COUNT(*) FROM events") == [(200,)]


async def test_one_failing_write_spoils_no_other_in_its_batch(store: SQLiteStore) -> None:
    job_id = await new_job(store)
    writes = [store.add_event(event(job_id, EventKind.RUNNING, f"key-{n}")) for n in range(50)]
    stale = store.transition(job_id, JobState.RUNNING, JobState.SUCCEEDED, reason="stale")
    results = await asyncio.gather(stale, *writes, return_exceptions=True)
    assert isinstance(results[0], StateConflict)
    assert all(isinstance(result, tuple) for result in results[1:])
    assert len(await store.events_for(job_id)) == 50
    assert await states_of(store, job_id) == ["pending"]
