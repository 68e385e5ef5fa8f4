"""The SQLite backend of ``Store``.

Writes go through one writer thread that owns the only write connection (the datasette
pattern). Calls that arrive while a transaction is being written wait and are then written
together, each in its own savepoint, in one transaction: group commit. A caller's ``await``
returns only after its change is committed, so "acknowledged" means "on disk".
Reads run on worker threads, each with its own read-only connection; WAL lets them proceed
while the writer writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import sqlite_utils

from ..errors import (
    ActionNotFound,
    IdempotencyConflict,
    InvalidCallbackToken,
    JobNotFound,
    StateConflict,
    StoreError,
)
from ..models import (
    Action,
    ActionSpec,
    ActionState,
    Job,
    JobRequest,
    ProviderEvent,
    Relation,
    StoredEvent,
    Transition,
    now_iso,
    request_from_json,
)
from ..states import JobState
from .base import NewEvent
from .migrations import migrate

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 256
REJECTIONS_KEPT = 1000
REJECTED_BODY_PREFIX = 1024


# The reconciler's sweeps. Each reads a partial index holding only unfinished jobs that have
# the column set, in range order, so a sweep costs what is overdue, not the table's size
# (tests check the plans; scripts/bench_sweep.py measures it on a million jobs).
SWEEP_DUE_POLLS = (
    "SELECT * FROM jobs WHERE next_poll_at IS NOT NULL AND next_poll_at <= ?"
    " ORDER BY next_poll_at LIMIT ?"
)
SWEEP_DEADLINES = (
    "SELECT * FROM jobs WHERE deadline_at IS NOT NULL AND deadline_at <= ?"
    " ORDER BY deadline_at LIMIT ?"
)
SWEEP_STALE_SUBMITS = (
    "SELECT * FROM jobs WHERE submit_lease_until IS NOT NULL AND submit_lease_until <= ?"
    " ORDER BY submit_lease_until LIMIT ?"  # every move out of pending clears the lease
)
SWEEPS = {
    "due_polls": (SWEEP_DUE_POLLS, "idx_jobs_next_poll"),
    "deadlines": (SWEEP_DEADLINES, "idx_jobs_deadline"),
    "stale_submits": (SWEEP_STALE_SUBMITS, "idx_jobs_submit_lease"),
}


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


@contextlib.contextmanager
def _savepoint(conn: sqlite3.Connection) -> Iterator[None]:
    """A savepoint under a fixed name, so its statements stay in the statement cache
    (``sqlite_utils``' nested ``atomic()`` names each one afresh, so each is parsed again)."""
    conn.execute("SAVEPOINT op")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # an error may already have rolled everything back
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
        raise
    conn.execute("RELEASE op")


class _Writer(threading.Thread):
    """Owns the write connection; runs queued operations in batched transactions."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(name="clipwire-store-writer", daemon=True)
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.queue: queue.SimpleQueue[
            tuple[Op, asyncio.AbstractEventLoop, asyncio.Future[Any]] | None
        ] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                break
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._write(batch)
            if stop:
                break
        self.conn.close()

    def _write(
        self, batch: list[tuple[Op, asyncio.AbstractEventLoop, asyncio.Future[Any]]]
    ) -> None:
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            with self.db.atomic():
                for op, _, _ in batch:
                    try:
                        with _savepoint(self.conn):  # one failing op spoils no other
                            outcomes.append((op(self.conn), None))
                    except sqlite3.Error as db_error:  # translated at the boundary
                        outcomes.append((None, StoreError(f"database write failed: {db_error}")))
                    except Exception as op_error:  # handed to the caller, below
                        outcomes.append((None, op_error))
        except sqlite3.Error as commit_error:  # the commit failed: nothing in the batch holds
            failure = StoreError(f"database write failed: {commit_error}")
            outcomes = [(None, failure)] * len(batch)
        # One wake-up per event loop for the whole batch, not one per caller.
        settled: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for (_, loop, future), (result, failed) in zip(batch, outcomes, strict=True):
            settled.setdefault(loop, []).append((future, result, failed))
        for loop, items in settled.items():
            loop.call_soon_threadsafe(_settle, items)


_Outcome = tuple[asyncio.Future[Any], Any, BaseException | None]


def _settle(items: list[_Outcome]) -> None:
    for future, result, error in items:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        provider=row["provider"],
        state=JobState(row["state"]),
        request=request_from_json(json.loads(row["request"])),
        public_url=row["public_url"],
        provider_task_id=row["provider_task_id"],
        outputs=tuple(json.loads(row["outputs"] or "[]")),
        error=json.loads(row["error"]) if row["error"] else None,
        submit_attempts=row["submit_attempts"],
        polls=row["polls"],
        attention=row["attention"],
        deadline_at=row["deadline_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        parent_id=row["parent_job_id"],
        relation=Relation(row["relation"]) if row["relation"] else None,
    )


def _action(row: sqlite3.Row) -> Action:
    return Action(
        id=row["id"],
        job_id=row["job_id"],
        position=row["position"],
        kind=row["kind"],
        params=json.loads(row["params"]),
        state=ActionState(row["state"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        result=json.loads(row["result"]) if row["result"] else None,
        idempotency_key=row["idempotency_key"],
    )


def _transition(row: sqlite3.Row) -> Transition:
    return Transition(
        job_id=row["job_id"],
        from_state=JobState(row["from_state"]) if row["from_state"] else None,
        to_state=JobState(row["to_state"]),
        event_id=row["event_id"],
        reason=row["reason"],
        at=row["at"],
    )


def _fetch_job(conn: sqlite3.Connection, job_id: str) -> Job:
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise JobNotFound(f"no job {job_id!r}")
    return _job(row)


class SQLiteStore:
    """``Store`` on one SQLite file, in WAL mode, created readable by its owner only."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self._writer: _Writer | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    # lifecycle

    async def open(self) -> list[str]:
        """Create or migrate the database and start the writer; return the migrations applied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            conn = _connect(self.path)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            applied = migrate(conn, now_iso())
        except sqlite3.Error as error:
            raise StoreError(f"cannot open database {self.path}: {error}") from error
        self._writer = _Writer(conn)
        self._writer.start()
        return applied

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.queue.put(None)
            await anyio.to_thread.run_sync(self._writer.join)
            self._writer = None
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    # plumbing

    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise StoreError("the store is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._writer.queue.put((op, loop, future))
        return await future

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, readonly=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    async def _read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            try:
                return op(self._reader())
            except sqlite3.Error as error:
                raise StoreError(f"database read failed: {error}") from error

        return await anyio.to_thread.run_sync(run)

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

    # inbound events

    async def add_event(self, event: NewEvent) -> tuple[int, bool]:
        def op(conn: sqlite3.Connection) -> tuple[int, bool]:
            # The event's job must exist, and a task id it names must be the job's (when the
            # job knows its task yet): checked here, in the write, so the webhook path reads
            # nothing before it.
            job = conn.execute(
                "SELECT provider_task_id FROM jobs WHERE id = ?", (event.job_id,)
            ).fetchone()
            if job is None:
                raise JobNotFound(f"no job {event.job_id!r}")
            known, named = job[0], event.event.task_id
            if known and named and known != named:
                raise InvalidCallbackToken(
                    "callback token was issued for another job", code="token_mismatch"
                )
            cursor = conn.execute(
                "INSERT OR IGNORE INTO events (provider, job_id, kind, task_id, dedupe_key,"
                " payload, body, headers, verification, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.provider,
                    event.job_id,
                    event.event.kind,
                    event.event.task_id,
                    event.dedupe_key,
                    _dumps(event.event.to_json()),
                    event.body,
                    _dumps(event.headers),
                    event.verification,
                    now_iso(),
                ),
            )
            if cursor.rowcount:
                return int(cursor.lastrowid or 0), False
            row = conn.execute(
                "SELECT id FROM events WHERE provider = ? AND dedupe_key = ?",
                (event.provider, event.dedupe_key),
            ).fetchone()
            return int(row[0]), True

        return await self._write(op)

    async def unapplied_events(self, limit: int) -> list[StoredEvent]:
        sql = (
            "SELECT id, provider, job_id, payload, received_at, verification FROM events"
            " WHERE applied_at IS NULL ORDER BY id LIMIT ?"
        )

        def op(conn: sqlite3.Connection) -> list[StoredEvent]:
            return [
                StoredEvent(
                    id=row["id"],
                    provider=row["provider"],
                    job_id=row["job_id"],
                    event=ProviderEvent.from_json(json.loads(row["payload"])),
                    received_at=row["received_at"],
                    source="poll" if row["verification"] == "poll" else "webhook",
                )
                for row in conn.execute(sql, (limit,))
            ]

        return await self._read(op)

    async def mark_event(self, event_id: int, outcome: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE events SET applied_at = ?, outcome = ? WHERE id = ? AND applied_at IS NULL",
                (now_iso(), outcome, event_id),
            )

        await self._write(op)

    async def events_for(self, job_id: str) -> list[dict[str, Any]]:
        sql = (
            "SELECT id, kind, task_id, verification, received_at, applied_at, outcome"
            " FROM events WHERE job_id = ? ORDER BY id"
        )
        return await self._read(lambda conn: [dict(row) for row in conn.execute(sql, (job_id,))])

    async def record_rejection(self, provider: str, reason: str, client: str, body: bytes) -> None:
        def op(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "INSERT INTO rejected_deliveries (provider, reason, client, body_prefix,"
                " received_at) VALUES (?, ?, ?, ?, ?)",
                (provider, reason, client, body[:REJECTED_BODY_PREFIX], now_iso()),
            )
            conn.execute(
                "DELETE FROM rejected_deliveries WHERE id <= ?",
                ((cursor.lastrowid or 0) - REJECTIONS_KEPT,),
            )

        await self._write(op)

    async def rejections(self, limit: int = 50) -> list[dict[str, Any]]:
        sql = (
            "SELECT id, provider, reason, client, received_at FROM rejected_deliveries"
            " ORDER BY id DESC LIMIT ?"
        )
        return await self._read(lambda conn: [dict(row) for row in conn.execute(sql, (limit,))])

    # the action outbox

    async def due_actions(self, now: str, limit: int) -> list[Action]:
        # An action waits for the ones before it on the same job (mirror before notify).
        sql = (
            "SELECT * FROM actions AS a WHERE a.state = 'pending' AND a.next_attempt_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM actions AS b WHERE b.job_id = a.job_id"
            " AND b.position < a.position AND b.state IN ('pending', 'running'))"
            " ORDER BY a.next_attempt_at, a.id LIMIT ?"
        )
        return await self._read(
            lambda conn: [_action(row) for row in conn.execute(sql, (now, limit))]
        )

    async def claim_action(self, action_id: int, lease_until: str) -> Action | None:
        def op(conn: sqlite3.Connection) -> Action | None:
            changed = conn.execute(
                "UPDATE actions SET state = 'running', attempts = attempts + 1, lease_until = ?,"
                " updated_at = ? WHERE id = ? AND state = 'pending'",
                (lease_until, now_iso(), action_id),
            ).rowcount
            if not changed:
                return None
            return _action(
                conn.execute("SELECT * FROM actions WHERE id = ?", (action_id,)).fetchone()
            )

        return await self._write(op)

    async def finish_action(self, action_id: int, result: dict[str, Any]) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE actions SET state = 'done', result = ?, last_error = NULL,"
                " lease_until = NULL, updated_at = ? WHERE id = ? AND state = 'running'",
                (_dumps(result), now_iso(), action_id),
            )

        await self._write(op)

    async def fail_action(self, action_id: int, error: str, retry_at: str | None) -> None:
        def op(conn: sqlite3.Connection) -> None:
            state = ActionState.PENDING if retry_at else ActionState.DEAD
            conn.execute(
                "UPDATE actions SET state = ?, last_error = ?, next_attempt_at = COALESCE(?,"
                " next_attempt_at), lease_until = NULL, updated_at = ?"
                " WHERE id = ? AND state = 'running'",
                (state, error, retry_at, now_iso(), action_id),
            )

        await self._write(op)

    async def release_expired_leases(self, now: str) -> int:
        """Put actions whose worker died mid-run back in the queue."""

        def op(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE actions SET state = 'pending', lease_until = NULL, updated_at = ?"
                " WHERE state = 'running' AND lease_until <= ?",
                (now_iso(), now),
            ).rowcount

        return await self._write(op)

    async def retry_action(self, action_id: int) -> Action:
        def op(conn: sqlite3.Connection) -> Action:
            now = now_iso()
            changed = conn.execute(
                "UPDATE actions SET state = 'pending', attempts = 0, next_attempt_at = ?,"
                " updated_at = ? WHERE id = ? AND state = 'dead'",
                (now, now, action_id),
            ).rowcount
            row = conn.execute("SELECT * FROM actions WHERE id = ?", (action_id,)).fetchone()
            if row is None:
                raise ActionNotFound(f"no action {action_id}")
            if not changed:
                raise StateConflict(
                    f"action {action_id} is {row['state']}, not dead", code="not_dead"
                )
            return _action(row)

        return await self._write(op)

    async def dead_actions(self, limit: int = 100) -> list[Action]:
        sql = "SELECT * FROM actions WHERE state = 'dead' ORDER BY updated_at DESC LIMIT ?"
        return await self._read(lambda conn: [_action(row) for row in conn.execute(sql, (limit,))])

    async def actions_for(self, job_id: str) -> list[Action]:
        sql = "SELECT * FROM actions WHERE job_id = ? ORDER BY position"
        return await self._read(lambda conn: [_action(row) for row in conn.execute(sql, (job_id,))])

    async def counts(self) -> dict[str, int]:
        def op(conn: sqlite3.Connection) -> dict[str, int]:
            counts = {
                f"jobs_{row[0]}": row[1]
                for row in conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            }
            counts["events_waiting"] = conn.execute(
                "SELECT COUNT(*) FROM events WHERE applied_at IS NULL"
            ).fetchone()[0]
            counts["actions_open"] = conn.execute(
                "SELECT COUNT(*) FROM actions WHERE state IN ('pending', 'running')"
            ).fetchone()[0]
            return counts

        return await self._read(op)
