"""Queries on jobs: creating and reading them, their transitions, submission, deadlines and
status polls."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import IdempotencyConflict, JobNotFound, StateConflict, StoreError
from ..models import ActionSpec, ActionState, Job, JobRequest, Relation, Transition, now_iso
from ..states import JobState
from .connection import SQLiteConnection
from .rows import _dumps, _job, _transition
from .sweeps import SWEEP_DEADLINES, SWEEP_DUE_POLLS, SWEEP_STALE_SUBMITS


def _fetch_job(conn: sqlite3.Connection, job_id: str) -> Job:
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise JobNotFound(f"no job {job_id!r}")
    return _job(row)


class JobQueries(SQLiteConnection):
    """Jobs and their history: each transition writes the new state, its history row and the
    actions it starts in one transaction."""

    # jobs

    async def create_job(
        self,
        job_id: str,
        request: JobRequest,
        *,
        public_url: str,
        deadline_at: str | None = None,
        idempotency_key: str | None = None,
        parent_id: str | None = None,
        relation: Relation | None = None,
    ) -> tuple[Job, bool]:
        fingerprint = request.fingerprint()

        def op(conn: sqlite3.Connection) -> tuple[Job, bool]:
            if idempotency_key is not None:
                row = conn.execute(
                    "SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,)
                ).fetchone()
                if row is not None:
                    if row["request_hash"] != fingerprint:
                        raise IdempotencyConflict(
                            "this Idempotency-Key was already used with a different request"
                        )
                    return _job(row), False
            now = now_iso()
            conn.execute(
                "INSERT INTO jobs (id, provider, state, request, public_url, idempotency_key,"
                " request_hash, next_submit_at, deadline_at, created_at, updated_at,"
                " parent_job_id, relation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    request.provider,
                    JobState.PENDING,
                    _dumps(request.to_json()),
                    public_url,
                    idempotency_key,
                    fingerprint,
                    now,
                    deadline_at,
                    now,
                    now,
                    parent_id,
                    relation,
                ),
            )
            conn.execute(
                "INSERT INTO transitions (job_id, from_state, to_state, reason, at)"
                " VALUES (?, NULL, ?, 'created', ?)",
                (job_id, JobState.PENDING, now),
            )
            return _fetch_job(conn, job_id), True

        return await self._write(op)

    async def get_job(self, job_id: str) -> Job:
        # A primary-key lookup, run on the calling thread: cheaper than the two thread hops of
        # ``_read`` (under load they cost more than the query), and WAL never blocks it on the
        # writer. It is on every webhook's path.
        try:
            return _fetch_job(self._reader(), job_id)
        except sqlite3.Error as error:
            raise StoreError(f"database read failed: {error}") from error

    async def list_jobs(
        self,
        *,
        state: JobState | None = None,
        provider: str | None = None,
        attention: bool = False,
        limit: int = 50,
    ) -> list[Job]:
        clauses, params = [], []
        if attention:
            clauses.append("attention IS NOT NULL")
        if state is not None:
            clauses.append("state = ?")
            params.append(str(state))
        if provider is not None:
            clauses.append("provider = ?")
            params.append(provider)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT * FROM jobs {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        return await self._read(
            lambda conn: [_job(row) for row in conn.execute(sql, (*params, limit))]
        )

    async def children(self, job_id: str) -> list[Job]:
        sql = "SELECT * FROM jobs WHERE parent_job_id = ? ORDER BY created_at, id"
        return await self._read(lambda conn: [_job(row) for row in conn.execute(sql, (job_id,))])

    async def job_for_task(self, provider: str, task_id: str) -> Job:
        sql = "SELECT * FROM jobs WHERE provider = ? AND provider_task_id = ? LIMIT 1"
        row = await self._read(lambda conn: conn.execute(sql, (provider, task_id)).fetchone())
        if row is None:
            raise JobNotFound(f"no {provider} job has task {task_id!r}")
        return _job(row)

    async def timeline(self, job_id: str) -> list[Transition]:
        sql = "SELECT * FROM transitions WHERE job_id = ? ORDER BY id"
        return await self._read(
            lambda conn: [_transition(row) for row in conn.execute(sql, (job_id,))]
        )

    async def set_provider_task(self, job_id: str, task_id: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE jobs SET provider_task_id = ?, updated_at = ? WHERE id = ?",
                (task_id, now_iso(), job_id),
            )

        await self._write(op)

    async def transition(
        self,
        job_id: str,
        from_state: JobState,
        to_state: JobState,
        *,
        reason: str,
        event_id: int | None = None,
        outputs: tuple[str, ...] = (),
        error: dict[str, Any] | None = None,
        actions: tuple[ActionSpec, ...] = (),
    ) -> Transition:
        def op(conn: sqlite3.Connection) -> Transition:
            now = now_iso()
            finished = now if to_state.is_terminal else None
            changed = conn.execute(
                "UPDATE jobs SET state = ?, updated_at = ?, finished_at = ?,"
                " outputs = CASE WHEN ? THEN ? ELSE outputs END,"
                " error = COALESCE(?, error), submit_lease_until = NULL,"
                " next_poll_at = CASE WHEN ? THEN NULL ELSE next_poll_at END,"
                " deadline_at = CASE WHEN ? THEN NULL ELSE deadline_at END,"
                " attention = NULL, next_submit_at = NULL"
                " WHERE id = ? AND state = ?",
                (
                    to_state,
                    now,
                    finished,
                    bool(outputs),
                    _dumps(list(outputs)),
                    _dumps(error) if error else None,
                    to_state.is_terminal,
                    to_state.is_terminal,
                    job_id,
                    from_state,
                ),
            ).rowcount
            if not changed:
                exists = conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if not exists:
                    raise JobNotFound(f"no job {job_id!r}")
                raise StateConflict(f"job {job_id} is no longer {from_state}")
            conn.execute(
                "INSERT INTO transitions (job_id, from_state, to_state, event_id, reason, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, from_state, to_state, event_id, reason, now),
            )
            if event_id is not None:
                conn.execute(
                    "UPDATE events SET applied_at = ?, outcome = ? WHERE id = ?",
                    (now, f"moved to {to_state}", event_id),
                )
            first = conn.execute(
                "SELECT COALESCE(MAX(position), -1) + 1 FROM actions WHERE job_id = ?", (job_id,)
            ).fetchone()[0]
            for position, spec in enumerate(actions, start=first):
                conn.execute(
                    "INSERT INTO actions (job_id, position, kind, params, state, next_attempt_at,"
                    " idempotency_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        position,
                        spec.kind,
                        _dumps(spec.params),
                        ActionState.PENDING,
                        now,
                        f"{job_id}:{to_state}:{position}:{spec.kind}",
                        now,
                        now,
                    ),
                )
            return Transition(job_id, from_state, to_state, event_id, reason, now)

        return await self._write(op)

    # submission

    async def due_submissions(self, now: str, limit: int) -> list[Job]:
        sql = (
            "SELECT * FROM jobs WHERE state = 'pending' AND next_submit_at <= ?"
            " AND submit_lease_until IS NULL ORDER BY next_submit_at LIMIT ?"
        )
        return await self._read(lambda conn: [_job(row) for row in conn.execute(sql, (now, limit))])

    async def claim_submission(self, job_id: str, lease_until: str) -> Job | None:
        def op(conn: sqlite3.Connection) -> Job | None:
            now = now_iso()
            changed = conn.execute(
                "UPDATE jobs SET submit_attempts = submit_attempts + 1, submit_lease_until = ?,"
                " updated_at = ? WHERE id = ? AND state = 'pending' AND next_submit_at <= ?"
                " AND submit_lease_until IS NULL",
                (lease_until, now, job_id, now),
            ).rowcount
            return _fetch_job(conn, job_id) if changed else None

        return await self._write(op)

    async def schedule_submission(self, job_id: str, at: str, error: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE jobs SET next_submit_at = ?, submit_lease_until = NULL, error = ?,"
                " updated_at = ? WHERE id = ? AND state = 'pending'",
                (at, _dumps({"code": "submit_retry", "message": error}), now_iso(), job_id),
            )

        await self._write(op)

    async def submission_done(self, job_id: str, task_id: str | None) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE jobs SET provider_task_id = COALESCE(?, provider_task_id),"
                " submit_lease_until = NULL, next_submit_at = NULL, error = NULL, updated_at = ?"
                " WHERE id = ?",
                (task_id, now_iso(), job_id),
            )

        await self._write(op)

    async def hold_submission(self, job_id: str, code: str, reason: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE jobs SET next_submit_at = NULL, submit_lease_until = NULL, attention = ?,"
                " error = ?, updated_at = ? WHERE id = ? AND state = 'pending'",
                (reason, _dumps({"code": code, "message": reason}), now_iso(), job_id),
            )

        await self._write(op)

    async def stale_submissions(self, now: str, limit: int) -> list[Job]:
        return await self._read(
            lambda conn: [_job(row) for row in conn.execute(SWEEP_STALE_SUBMITS, (now, limit))]
        )

    async def release_job(self, job_id: str) -> Job:
        def op(conn: sqlite3.Connection) -> Job:
            job = _fetch_job(conn, job_id)
            if job.state is not JobState.PENDING or job.attention is None:
                raise StateConflict(
                    f"job {job_id} is {job.state} and waits for no decision", code="not_held"
                )
            now = now_iso()
            conn.execute(
                "UPDATE jobs SET attention = NULL, error = NULL, next_submit_at = ?,"
                " submit_attempts = 0, updated_at = ? WHERE id = ?",
                (now, now, job_id),
            )
            return _fetch_job(conn, job_id)

        return await self._write(op)

    # deadlines

    async def overdue_deadlines(self, now: str, limit: int) -> list[Job]:
        return await self._read(
            lambda conn: [_job(row) for row in conn.execute(SWEEP_DEADLINES, (now, limit))]
        )

    # status polls

    async def due_polls(self, now: str, limit: int) -> list[Job]:
        return await self._read(
            lambda conn: [_job(row) for row in conn.execute(SWEEP_DUE_POLLS, (now, limit))]
        )

    async def schedule_poll(self, job_id: str, at: str | None) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE jobs SET next_poll_at = ?, polls = polls + (? IS NOT NULL)"
                " WHERE id = ? AND state NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out')",
                (at, at, job_id),
            )

        await self._write(op)
