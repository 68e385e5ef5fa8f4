"""The actions lane: run the action outbox.

Each due action is claimed with a lease (``ACTION_LEASE``) and run by its kind in
``actions.KINDS``; a failure is retried with backoff and full jitter until
``action_max_attempts``, then dead-lettered with its last error (``ActionRejected`` at once).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog

from .actions import KINDS, ActionContext
from .errors import ActionError, ActionRejected, ClipwireError
from .lanes import CONCURRENCY
from .models import Action, iso, now_iso
from .retry import retry_delay

if TYPE_CHECKING:
    from .worker import Worker

log = structlog.get_logger("clipwire.worker")

ACTION_LEASE = 600.0


class ActionRunner:
    """Claims due actions, runs each, records the result or the failure."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        # One worker serves a data dir: an action lease ending before this one could end was
        # taken by a process that died, and is released at once rather than when it expires.
        self._orphaned_leases_end = iso(time.time() + ACTION_LEASE)

    async def run_due_actions(self) -> bool:
        worker = self.worker
        now = now_iso()
        await worker.store.release_expired_leases(max(now, self._orphaned_leases_end))
        for action in await worker.store.due_actions(now, CONCURRENCY):
            key = f"action:{action.id}"
            if worker.has_room_for(key):
                worker.spawn(key, self._run_action(action))
        return False

    async def _run_action(self, action: Action) -> None:
        worker, store, settings = self.worker, self.worker.store, self.worker.settings
        claimed = await store.claim_action(action.id, iso(time.time() + ACTION_LEASE))
        if claimed is None:
            return
        job = await store.get_job(claimed.job_id)
        earlier = tuple(a for a in await store.actions_for(job.id) if a.position < claimed.position)
        ctx = ActionContext(
            job=job,
            action=claimed,
            earlier=earlier,
            client=worker.client,
            settings=settings,
            limiter=worker.limiter,
            trusted_origins=worker.trusted_origins,
            create_job=worker.create_job,
        )
        log_ = log.bind(
            job_id=job.id, action_id=claimed.id, kind=claimed.kind, attempt=claimed.attempts
        )
        try:
            result = await KINDS[claimed.kind].run(ctx)
        except Exception as error:  # every failure is recorded; only ActionRejected is final
            message = error.message if isinstance(error, ClipwireError) else repr(error)
            final = isinstance(error, ActionRejected)
            exhausted = claimed.attempts >= settings.action_max_attempts
            retry_after = error.retry_after if isinstance(error, ActionError) else None
            delay = retry_delay(
                claimed.attempts, base=settings.action_retry_base, retry_after=retry_after
            )
            retry_at = None if final or exhausted else iso(time.time() + delay)
            await store.fail_action(claimed.id, message, retry_at)
            if retry_at:
                worker.later("actions", delay)
            state = "retrying" if retry_at else "dead"
            log_.warning(f"action.{state}", error=message)
            worker.bus.publish(
                {
                    "type": "action",
                    "job_id": job.id,
                    "action_id": claimed.id,
                    "kind": claimed.kind,
                    "state": state,
                    "error": message,
                }
            )
        else:
            await store.finish_action(claimed.id, result)
            log_.info("action.done", **{k: v for k, v in result.items() if k != "path"})
            worker.bus.publish(
                {
                    "type": "action",
                    "job_id": job.id,
                    "action_id": claimed.id,
                    "kind": claimed.kind,
                    "state": "done",
                    "result": result,
                }
            )
        worker.wake("actions")
