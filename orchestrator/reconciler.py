"""The polls lane: reconciliation with the provider.

Jobs past their hard deadline time out (and their task is cancelled at the provider). Jobs
whose provider never calls back are asked for their status on a backoff schedule; jobs whose
callback is overdue have it re-requested at today's public URL, then are asked too. What the
provider says is stored as an event, applied by the events lane like any webhook.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import structlog

from .errors import ProviderError
from .lanes import CONCURRENCY
from .models import Job, ProviderEvent, iso, now_iso
from .retry import poll_delay
from .states import EventKind
from .store import NewEvent

if TYPE_CHECKING:
    from .worker import Worker

log = structlog.get_logger("clipwire.worker")


class Reconciler:
    """Deadlines, status polls, overdue callbacks and cancelling at the provider."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def poll_due(self) -> bool:
        worker = self.worker
        now = now_iso()
        for job in await worker.store.overdue_deadlines(now, CONCURRENCY):
            timeout = ProviderEvent(
                EventKind.TIMED_OUT,
                error_code="deadline",
                error_message=f"no result within {worker.settings.job_deadline:.0f} s",
            )
            if await worker.move(job, timeout, reason="deadline passed") and job.provider_task_id:
                self.cancel_at_provider(job)
        for job in await worker.store.due_polls(now, CONCURRENCY):
            key = f"poll:{job.id}"
            if worker.has_room_for(key):
                worker.spawn(key, self._poll(job))
        return False

    async def _poll(self, job: Job) -> None:
        """Ask the provider for the truth about ``job``; store what it says as an event."""
        worker, store, settings = self.worker, self.worker.store, self.worker.settings
        adapter = worker.adapters[job.provider]
        delay = poll_delay(
            job.polls, base=settings.status_poll_interval, cap=settings.status_poll_max
        )
        if adapter.has_webhooks:  # the callback is overdue
            log.info("job.callback_overdue", job_id=job.id, provider=job.provider, polls=job.polls)
            delay = max(delay, settings.callback_grace)
            try:
                public = (await worker.public_url()) if worker.public_url else job.public_url
                await adapter.reconcile(
                    worker.client, job, worker.signer.url_for(public, job.provider, job.id)
                )
            except ProviderError as error:
                log.warning("job.reconcile_failed", job_id=job.id, error=error.message)
        try:
            event = await adapter.status(worker.client, job)
        except ProviderError as error:
            log.warning("job.poll_failed", job_id=job.id, code=error.code, error=error.message)
            await store.schedule_poll(job.id, iso(time.time() + max(delay, error.retry_after or 0)))
            return
        await store.schedule_poll(job.id, iso(time.time() + delay) if event else None)
        if event is not None:
            worker.later("polls", delay)
        if event is None or event.kind is EventKind.UNKNOWN:
            return
        body = json.dumps(event.to_json()).encode()
        _, duplicate = await store.add_event(
            NewEvent(
                provider=job.provider,
                job_id=job.id,
                event=event,
                dedupe_key=event.dedupe_key(job.id, body),
                body=body,
                headers={},
                verification="poll",
            )
        )
        if not duplicate:
            worker.wake("events")

    def cancel_at_provider(self, job: Job) -> None:
        """Ask the provider to cancel ``job``'s task, in the background; the outcome is logged."""
        worker = self.worker

        async def cancel() -> None:
            try:
                done = await worker.adapters[job.provider].cancel(worker.client, job)
            except ProviderError as error:
                log.warning("job.provider_cancel_failed", job_id=job.id, error=error.message)
                return
            log.info(
                "job.provider_cancelled" if done else "job.provider_cancel_unsupported",
                job_id=job.id,
                provider=job.provider,
            )

        worker.spawn(f"cancel:{job.id}", cancel())
