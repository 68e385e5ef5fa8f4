"""The store's interface: every durable read and write clipwire makes goes through it.

A PostgreSQL backend is planned for multi-instance deployments, so the interface speaks in
domain values only (``Job``, ``Transition``, ``Action``), never in rows or connections.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from ..models import (
    Action,
    ActionSpec,
    Job,
    JobRequest,
    ProviderEvent,
    Relation,
    StoredEvent,
    Transition,
)
from ..states import JobState


@dataclasses.dataclass(frozen=True)
class NewEvent:
    """An inbound callback about to be stored: what arrived and what it was read as."""

    provider: str
    job_id: str
    event: ProviderEvent
    dedupe_key: str
    body: bytes
    headers: dict[str, str]
    verification: str


class Store(Protocol):
    async def open(self) -> list[str]:
        """Create or migrate the schema; return the names of the migrations applied."""
        ...

    async def close(self) -> None: ...

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
        """Store a new pending job; with a known ``idempotency_key`` return that job instead.

        ``parent_id`` and ``relation`` link a job that another job's action started.
        Returns ``(job, created)``. Raises ``IdempotencyConflict`` when the key was used
        with a different request.
        """
        ...

    async def get_job(self, job_id: str) -> Job: ...

    async def children(self, job_id: str) -> list[Job]:
        """The jobs that ``job_id``'s actions started, oldest first."""
        ...

    async def list_jobs(
        self,
        *,
        state: JobState | None = None,
        provider: str | None = None,
        attention: bool = False,
        limit: int = 50,
    ) -> list[Job]:
        """Newest first; ``attention`` keeps only jobs that wait for a person's decision."""
        ...

    async def job_for_task(self, provider: str, task_id: str) -> Job:
        """The job whose provider task is ``task_id``; ``JobNotFound`` if none."""
        ...

    async def timeline(self, job_id: str) -> list[Transition]: ...

    async def set_provider_task(self, job_id: str, task_id: str) -> None: ...

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
        """Compare-and-set a job's state, with its history row, outputs, error, the event it
        applies and the actions it triggers, in one transaction.

        Raises ``StateConflict`` when the job is no longer in ``from_state``.
        """
        ...

    # submission
    async def due_submissions(self, now: str, limit: int) -> list[Job]: ...

    async def claim_submission(self, job_id: str, lease_until: str) -> Job | None:
        """Count a submit attempt and lease the job; ``None`` if it is no longer due."""
        ...

    async def schedule_submission(self, job_id: str, at: str, error: str) -> None:
        """Release the claim and try again at ``at`` (a transient failure)."""
        ...

    async def submission_done(self, job_id: str, task_id: str | None) -> None:
        """The provider accepted the task: record its id and close the submission."""
        ...

    async def hold_submission(self, job_id: str, code: str, reason: str) -> None:
        """Stop submitting and mark the job as waiting for a decision (a dead letter)."""
        ...

    async def stale_submissions(self, now: str, limit: int) -> list[Job]:
        """Pending jobs whose submit claim expired with no outcome recorded (a crash mid-call)."""
        ...

    async def release_job(self, job_id: str) -> Job:
        """Send a held job again (``clipwire retry``); ``StateConflict`` if it is not held."""
        ...

    # deadlines
    async def overdue_deadlines(self, now: str, limit: int) -> list[Job]:
        """Unfinished jobs past their hard deadline (an indexed range: cost ~ overdue jobs)."""
        ...

    # status polls
    async def due_polls(self, now: str, limit: int) -> list[Job]:
        """Unfinished jobs whose next status poll (or overdue-callback check) is due."""
        ...

    async def schedule_poll(self, job_id: str, at: str | None) -> None:
        """Poll the job's status at ``at`` (``None``: stop polling); counts the polls."""
        ...

    # inbound events
    async def add_event(self, event: NewEvent) -> tuple[int, bool]:
        """Store an event; returns ``(id, duplicate)``; a duplicate is not stored again.

        Raises ``JobNotFound`` for an unknown job and ``InvalidCallbackToken``
        (``token_mismatch``) when the event names a task other than its job's.
        """
        ...

    async def unapplied_events(self, limit: int) -> list[StoredEvent]: ...

    async def mark_event(self, event_id: int, outcome: str) -> None: ...

    async def events_for(self, job_id: str) -> list[dict[str, Any]]: ...

    async def record_rejection(
        self, provider: str, reason: str, client: str, body: bytes
    ) -> None: ...

    async def rejections(self, limit: int = 50) -> list[dict[str, Any]]: ...

    # the action outbox
    async def due_actions(self, now: str, limit: int) -> list[Action]: ...

    async def claim_action(self, action_id: int, lease_until: str) -> Action | None: ...

    async def finish_action(self, action_id: int, result: dict[str, Any]) -> None: ...

    async def fail_action(self, action_id: int, error: str, retry_at: str | None) -> None:
        """Record a failed attempt: retry at ``retry_at``, or dead-letter it when ``None``."""
        ...

    async def release_expired_leases(self, now: str) -> int:
        """Put actions whose worker died mid-run back in the queue; return how many."""
        ...

    async def retry_action(self, action_id: int) -> Action:
        """Put a dead action back in the queue with fresh attempts (same idempotency key)."""
        ...

    async def dead_actions(self, limit: int = 100) -> list[Action]: ...

    async def actions_for(self, job_id: str) -> list[Action]: ...

    async def counts(self) -> dict[str, int]:
        """How many jobs are in each state, events wait, actions are open (for /healthz)."""
        ...
