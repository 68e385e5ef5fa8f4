"""Queries on what arrives: inbound events, and the deliveries the receiver rejected."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..errors import EventLimitReached, InvalidCallbackToken, JobNotFound
from ..models import ProviderEvent, StoredEvent, now_iso
from ..states import EventKind
from .base import NewEvent
from .connection import SQLiteConnection
from .rows import _dumps

REJECTIONS_KEPT = 1000
# Unreadable bodies are kept (for an operator to read) but each is its own event, keyed by its
# digest: past this many per job, whoever holds the token is refused instead of filling the disk.
UNREADABLE_KEPT_PER_JOB = 100


def _unreadable_count(conn: sqlite3.Connection, event: NewEvent) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM events WHERE job_id = ? AND kind = ?",
        (event.job_id, str(EventKind.UNKNOWN)),
    ).fetchone()
    return int(row[0])


REJECTED_BODY_PREFIX = 1024


class EventQueries(SQLiteConnection):
    """Inbound events, deduplicated by a unique key, and the last rejected deliveries."""

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
            if event.event.kind is EventKind.UNKNOWN and _unreadable_count(conn, event) >= (
                UNREADABLE_KEPT_PER_JOB
            ):
                raise EventLimitReached(
                    f"this job already has {UNREADABLE_KEPT_PER_JOB} unreadable deliveries stored"
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
