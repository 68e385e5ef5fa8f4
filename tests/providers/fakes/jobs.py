"""A job as the store hands it to an adapter, for tests that build requests without a store."""

from __future__ import annotations

import dataclasses
from typing import Any

from orchestrator.models import Job, JobRequest, now_iso
from orchestrator.states import JobState


def make_job(request: JobRequest, task_id: str | None = None, **fields: Any) -> Job:
    """A submitted job for ``request``; fields this helper does not know are ``None``."""
    now = now_iso()
    known: dict[str, Any] = {
        "id": "job_0000000000001",
        "provider": request.provider,
        "state": JobState.SUBMITTED,
        "request": request,
        "public_url": "http://127.0.0.1:8700",
        "provider_task_id": task_id,
        "outputs": (),
        "submit_attempts": 1,
        "polls": 0,
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    return Job(**{field.name: known.get(field.name) for field in dataclasses.fields(Job)})
