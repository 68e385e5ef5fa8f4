"""Queries on the action outbox: the actions a transition starts, claimed under a lease."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import ActionNotFound, StateConflict
from ..models import Action, ActionState, now_iso
from .connection import SQLiteConnection
from .rows import _action, _dumps


class OutboxQueries(SQLiteConnection):
    """Actions run in order per job, each claimed under a lease; the dead wait for a retry."""

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
