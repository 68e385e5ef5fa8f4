"""Rows to models, and models to the JSON the columns hold: shared by every query module."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..models import Action, ActionState, Job, Relation, Transition, request_from_json
from ..states import JobState


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
