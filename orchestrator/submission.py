"""The submit lane: send pending jobs to their provider, with retries and backoff.

A claim is a lease (``SUBMIT_LEASE``); one that outlived its process is *held*
(``submit_ambiguous``), never resent blindly, since the provider may already have the task.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import structlog

from .errors import ProviderAuthError, ProviderError, ProviderUnavailable
from .lanes import CONCURRENCY
from .models import Job, ProviderEvent, iso, now_iso
from .retry import retry_delay
from .states import EventKind

if TYPE_CHECKING:
    from .worker import Worker

log = structlog.get_logger("clipwire.worker")

SUBMIT_LEASE = 120.0


class Submitter:
    """Claims due submissions and sends them; what the provider answers moves the job."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def submit_due(self) -> bool:
        store = self.worker.store
        now = now_iso()
        for stale in await store.stale_submissions(now, CONCURRENCY):
            # The process died while a submit was in flight: the provider may have the task.
            await self._ambiguous(stale, "a submit was in flight when clipwire stopped")
        for job in await store.due_submissions(now, CONCURRENCY):
            key = f"submit:{job.id}"
            if self.worker.has_room_for(key):
                self.worker.spawn(key, self._submit(job))
        return False

    async def _submit(self, job: Job) -> None:
        worker, store, settings = self.worker, self.worker.store, self.worker.settings
        claimed = await store.claim_submission(job.id, iso(time.time() + SUBMIT_LEASE))
        if claimed is None:
            return
        adapter = worker.adapters[claimed.provider]
        callback_url = worker.signer.url_for(claimed.public_url, claimed.provider, claimed.id)
        log_ = log.bind(
            job_id=claimed.id, provider=claimed.provider, attempt=claimed.submit_attempts
        )
        try:
            event = await adapter.submit(worker.client, claimed, callback_url)
        except ProviderUnavailable as error:
            if error.ambiguous:
                await self._ambiguous(claimed, error.message)
            elif claimed.submit_attempts < settings.submit_max_attempts:
                delay = retry_delay(
                    claimed.submit_attempts,
                    base=settings.submit_retry_base,
                    retry_after=error.retry_after,
                )
                log_.warning("job.submit_retrying", error=error.message, in_seconds=round(delay, 2))
                await store.schedule_submission(claimed.id, iso(time.time() + delay), error.message)
                worker.later("submit", delay)
            else:
                reason = f"gave up after {claimed.submit_attempts} attempts: {error.message}"
                await self._hold(claimed, "submit_exhausted", reason)
            return
        except ProviderAuthError as error:
            reason = (
                f"{error.message}; fix CLIPWIRE_{claimed.provider.upper()}_API_KEY, then"
                " `clipwire retry`"
            )
            await self._hold(claimed, "provider_auth", reason)
            return
        except ProviderError as error:  # the provider refused the job itself: it fails
            log_.warning("job.submit_refused", code=error.code, error=error.message)
            failure = ProviderEvent(
                EventKind.FAILED,
                error_code=error.provider_code or error.code,
                error_message=error.message,
            )
            await worker.move(
                await store.get_job(claimed.id), failure, reason="provider refused the job"
            )
            return
        log_.info("job.submitted", task_id=event.task_id)
        await self._accepted(claimed, event, reason="provider accepted the task")

    async def _accepted(self, claimed: Job, event: ProviderEvent, *, reason: str) -> None:
        """The provider has the task: record it, plan the first status check, move the job."""
        worker, store, settings = self.worker, self.worker.store, self.worker.settings
        adapter = worker.adapters[claimed.provider]
        await store.submission_done(claimed.id, event.task_id)
        # Polling providers are asked early and often; the others once their callback is overdue.
        first_poll = (
            settings.status_poll_interval
            if not adapter.has_webhooks
            else adapter.expected_duration + settings.callback_grace
        )
        await store.schedule_poll(claimed.id, iso(time.time() + first_poll))
        worker.later("polls", first_poll)
        kind = EventKind.SUBMITTED if event.kind is EventKind.QUEUED else event.kind
        current = await store.get_job(claimed.id)
        await worker.move(current, dataclasses.replace(event, kind=kind), reason=reason)

    async def _ambiguous(self, job: Job, what: str) -> None:
        """A submit may have reached the provider. Ask it (``adapter.locate``) where it can
        say; otherwise hold the job for a person rather than risk a second paid task."""
        adapter = self.worker.adapters[job.provider]
        try:
            located = await adapter.locate(self.worker.client, job)
        except ProviderError as error:
            log.warning("job.locate_failed", job_id=job.id, error=error.message)
            located = None
        if located is not None and located.task_id:
            log.info("job.submit_located", job_id=job.id, task_id=located.task_id)
            await self._accepted(job, located, reason="found at the provider after a lost answer")
            return
        reason = (
            f"{what}; the provider may have the task. If no callback arrives, `clipwire retry`"
            " sends it again (possibly a second task) or `clipwire cancel` drops it"
        )
        await self._hold(job, "submit_ambiguous", reason)

    async def _hold(self, job: Job, code: str, reason: str) -> None:
        log.warning("job.held", job_id=job.id, provider=job.provider, code=code, reason=reason)
        await self.worker.store.hold_submission(job.id, code, reason)
        self.worker.bus.publish(
            {"type": "attention", "job_id": job.id, "code": code, "reason": reason}
        )
