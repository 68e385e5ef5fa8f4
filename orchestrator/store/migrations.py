"""Schema migrations: ordered functions, each recorded in the ``migrations`` table once applied.

Append new migrations to ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils


def m001_initial(db: sqlite_utils.Database) -> None:
    db.table("jobs").create(
        {
            "id": str,
            "provider": str,
            "state": str,
            "request": str,
            "public_url": str,
            "provider_task_id": str,
            "outputs": str,
            "error": str,
            "idempotency_key": str,
            "request_hash": str,
            "submit_attempts": int,
            "next_submit_at": str,
            "submit_lease_until": str,
            "created_at": str,
            "updated_at": str,
            "finished_at": str,
        },
        pk="id",
        not_null={"provider", "state", "request", "public_url", "created_at", "updated_at"},
        defaults={"outputs": "[]", "submit_attempts": 0},
    )
    db.table("jobs").create_index(["idempotency_key"], unique=True)
    db.table("jobs").create_index(["state", "next_submit_at"])
    db.table("jobs").create_index(["provider", "provider_task_id"])
    db.table("jobs").create_index(["created_at"])

    db.table("events").create(
        {
            "id": int,
            "provider": str,
            "job_id": str,
            "kind": str,
            "task_id": str,
            "dedupe_key": str,
            "payload": str,
            "body": bytes,
            "headers": str,
            "verification": str,
            "received_at": str,
            "applied_at": str,
            "outcome": str,
        },
        pk="id",
        not_null={"provider", "job_id", "kind", "dedupe_key", "body", "received_at"},
    )
    db.table("events").create_index(["provider", "dedupe_key"], unique=True)
    db.table("events").create_index(["job_id"])
    db.execute("CREATE INDEX idx_events_unapplied ON events(id) WHERE applied_at IS NULL")

    db.table("transitions").create(
        {
            "id": int,
            "job_id": str,
            "from_state": str,
            "to_state": str,
            "event_id": int,
            "reason": str,
            "at": str,
        },
        pk="id",
        not_null={"job_id", "to_state", "at"},
    )
    # One history row per state a job enters: duplicates are stopped by the key, not by hope.
    db.table("transitions").create_index(["job_id", "to_state"], unique=True)

    db.table("actions").create(
        {
            "id": int,
            "job_id": str,
            "position": int,
            "kind": str,
            "params": str,
            "state": str,
            "attempts": int,
            "next_attempt_at": str,
            "lease_until": str,
            "last_error": str,
            "result": str,
            "idempotency_key": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"job_id", "kind", "state", "next_attempt_at", "idempotency_key"},
        defaults={"attempts": 0},
    )
    db.table("actions").create_index(["idempotency_key"], unique=True)
    db.table("actions").create_index(["state", "next_attempt_at"])
    db.table("actions").create_index(["job_id", "position"])

    db.table("rejected_deliveries").create(
        {
            "id": int,
            "provider": str,
            "reason": str,
            "client": str,
            "body_prefix": bytes,
            "received_at": str,
        },
        pk="id",
    )


def m002_status_polls(db: sqlite_utils.Database) -> None:
    """When to ask the provider for a job's status next (polling providers; reconciliation)."""
    db.table("jobs").add_column("next_poll_at", str)
    db.table("jobs").add_column("polls", int, not_null_default=0)
    db.execute(
        "CREATE INDEX idx_jobs_next_poll ON jobs(next_poll_at) WHERE next_poll_at IS NOT NULL"
    )


def m003_deadlines_and_attention(db: sqlite_utils.Database) -> None:
    """A hard deadline per unfinished job, and why a job waits for a person's decision."""
    db.table("jobs").add_column("deadline_at", str)
    db.table("jobs").add_column("attention", str)
    db.execute("CREATE INDEX idx_jobs_deadline ON jobs(deadline_at) WHERE deadline_at IS NOT NULL")
    db.execute("CREATE INDEX idx_jobs_attention ON jobs(id) WHERE attention IS NOT NULL")
    db.execute(
        "CREATE INDEX idx_jobs_submit_lease ON jobs(submit_lease_until)"
        " WHERE submit_lease_until IS NOT NULL"
    )


def m004_job_links(db: sqlite_utils.Database) -> None:
    """The job an action started this one from (a follow-up or a failover), and how."""
    db.table("jobs").add_column("parent_job_id", str)
    db.table("jobs").add_column("relation", str)
    db.execute(
        "CREATE INDEX idx_jobs_parent ON jobs(parent_job_id) WHERE parent_job_id IS NOT NULL"
    )


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    m001_initial,
    m002_status_polls,
    m003_deadlines_and_attention,
    m004_job_links,
]


def migrate(conn: sqlite3.Connection, now: str) -> list[str]:
    """Apply the migrations this database has not seen; return the names applied."""
    db = sqlite_utils.Database(conn)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
    applied = []
    for migration in MIGRATIONS:
        name = migration.__name__
        if name in done:
            continue
        with db.atomic():
            migration(db)
            conn.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, now))
        applied.append(name)
    return applied
