"""The worker: everything that happens after an answer has been sent.

Three lanes run side by side in the server's event loop, each woken at once when there is new
work and, as a safety net, every ``poll_interval`` seconds:

    events   apply stored inbound events to their jobs through the state machine
    submit   send pending jobs to their provider (with retries and backoff)
    actions  run the action outbox (with retries, backoff and a dead-letter state)

All progress is in the database, so a restarted worker carries on where the last one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import structlog

from .actions import KINDS, ActionContext, CreateJob, RateLimiter
from .bus import Bus
from .callbacks import CallbackSigner
from .config import Settings
from .errors import (
    ActionError,
    ActionRejected,
    ClipwireError,
    JobNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    StateConflict,
)
from .models import Action, Job, ProviderEvent, StoredEvent, Transition, iso, now_iso
from .providers import ProviderAdapter
from .retry import poll_delay, retry_delay
from .states import EventKind, next_state
from .store import NewEvent, Store
from .urlguard import origin_of

log = structlog.get_logger("clipwire.worker")

SUBMIT_LEASE = 120.0
ACTION_LEASE = 600.0
CONCURRENCY = 16
EVENT_BATCH = 200


def _error_of(event: ProviderEvent) -> dict[str, Any] | None:
    if event.kind is EventKind.SUCCEEDED:
        return None
    if event.error_code is None and event.error_message is None:
        return None
    return {"code": event.error_code, "message": event.error_message}


class Lane:
    """A loop that runs ``step`` whenever woken (or every ``interval``) until stopped."""

    def __init__(self, name: str, step: Callable[[], Awaitable[bool]], interval: float) -> None:
        self.name = name
        self.step = step
        self.interval = interval
        self.wakeup = asyncio.Event()

    async def run(self) -> None:
        while True:
            self.wakeup.clear()
            try:
                busy = await self.step()
            except Exception:  # a bug or a database outage: keep the lane alive, log it
                log.exception("worker.lane_failed", lane=self.name)
                busy = False
            if busy:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), self.interval)


class Worker:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        adapters: dict[str, ProviderAdapter],
        signer: CallbackSigner,
        client: httpx.AsyncClient,
        bus: Bus,
        poll_interval: float = 1.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.adapters = adapters
        self.signer = signer
        self.client = client
        self.bus = bus
        self.lanes = {
            "events": Lane("events", self.apply_events, poll_interval),
            "submit": Lane("submit", self.submit_due, poll_interval),
            "actions": Lane("actions", self.run_due_actions, poll_interval),
            "polls": Lane("polls", self.poll_due, poll_interval),
        }
        # Video URLs on these origins skip the SSRF guard: the providers' own hosts as
        # configured (the simulator and test fakes live on loopback) and the operator's list.
        self.trusted_origins = frozenset(
            {origin_of(a.config.base_url) for a in adapters.values() if a.config.base_url}
            | set(settings.mirror_allow_origins)
        )
        self.limiter = RateLimiter()
        self._event_retry_at: dict[int, float] = {}  # events whose complete() must wait
        self._event_attempts: dict[int, int] = {}
        self.create_job: CreateJob | None = None  # set by Clipwire: follow-up and failover jobs
        # Today's public base URL (set by Clipwire): an overdue callback is re-requested there,
        # since the tunnel may have changed since the job started.
        self.public_url: Callable[[], Awaitable[str]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: dict[str, asyncio.Task[None]] = {}
        # One worker serves a data dir: an action lease ending before this one could end was
        # taken by a process that died, and is released at once rather than when it expires.
        self._orphaned_leases_end = iso(time.time() + ACTION_LEASE)

    # lifecycle

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(lane.run(), name=f"lane-{n}") for n, lane in self.lanes.items()
        ]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._inflight.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._inflight.values(), return_exceptions=True)
        self._tasks.clear()
        self._inflight.clear()

    async def settle(self) -> None:
        """Wait until no submit, poll, cancel or action is in flight."""
        while self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    def wake(self, lane: str) -> None:
        self.lanes[lane].wakeup.set()

    def _later(self, lane: str, delay: float) -> None:
        """Wake ``lane`` when work scheduled ``delay`` seconds ahead falls due (its periodic
        tick remains the safety net, and the only timer after a restart)."""
        asyncio.get_running_loop().call_later(max(0.0, delay) + 0.001, self.wake, lane)

    def _spawn(self, key: str, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            finally:
                self._inflight.pop(key, None)

        self._inflight[key] = asyncio.create_task(run())

    def _announce(self, transition: Transition) -> None:
        log.info(
            "job.transitioned",
            job_id=transition.job_id,
            from_state=str(transition.from_state),
            to_state=str(transition.to_state),
            reason=transition.reason,
        )
        self.bus.publish(
            {"type": "transition", "job_id": transition.job_id, **transition.to_json()}
        )
        if transition.to_state.is_terminal:
            self.wake("actions")

    # the state machine

    async def move(
        self, job: Job, event: ProviderEvent, *, reason: str, event_id: int | None = None
    ) -> Transition | None:
        """Apply ``event`` to ``job``: a compare-and-set move, retried on a lost race.

        Returns the transition made, or ``None`` when the machine ignores the event.
        """
        for _ in range(5):
            target = next_state(job.state, event.kind)
            if target is None:
                if event_id is not None:
                    await self.store.mark_event(event_id, f"ignored in {job.state}")
                return None
            actions = (
                tuple(a for a in job.request.actions if a.on.fires_on(target))
                if target.is_terminal
                else ()
            )
            try:
                transition = await self.store.transition(
                    job.id,
                    job.state,
                    target,
                    reason=reason,
                    event_id=event_id,
                    outputs=event.outputs,
                    error=_error_of(event),
                    actions=actions,
                )
            except StateConflict:
                job = await self.store.get_job(job.id)
                continue
            self._announce(transition)
            return transition
        raise StateConflict(f"job {job.id} kept changing under the worker")

    async def apply_events(self) -> bool:
        """Apply stored events: jobs side by side (their writes share group commits), each
        job's events in arrival order. One that cannot be applied now waits, backing off,
        without holding up the others."""
        events = await self.store.unapplied_events(EVENT_BATCH)
        now = time.monotonic()
        by_job: dict[str, list[StoredEvent]] = {}
        for stored in events:
            if self._event_retry_at.get(stored.id, 0.0) <= now:
                by_job.setdefault(stored.job_id, []).append(stored)
        applied = await asyncio.gather(*(self._apply_all(batch, now) for batch in by_job.values()))
        return sum(applied) > 0 and len(events) == EVENT_BATCH

    async def _apply_all(self, events: list[StoredEvent], now: float) -> int:
        """Apply one job's events in order, reading the job once."""
        applied = 0
        job: Job | None = None
        for stored in events:
            try:
                job = await self._apply(stored, job)
            except ProviderUnavailable as error:  # complete() could not reach the provider
                attempt = self._event_attempts.get(stored.id, 0) + 1
                self._event_attempts[stored.id] = attempt
                delay = retry_delay(attempt, retry_after=error.retry_after)
                self._event_retry_at[stored.id] = now + delay
                log.warning(
                    "event.apply_retrying",
                    event_id=stored.id,
                    job_id=stored.job_id,
                    error=error.message,
                    in_seconds=round(delay, 2),
                )
                continue
            except Exception:  # a bug: keep the event stored, stop retrying it, say so
                log.exception("event.apply_failed", event_id=stored.id, job_id=stored.job_id)
                await self.store.mark_event(stored.id, "apply failed: see the logs")
            self._event_retry_at.pop(stored.id, None)
            self._event_attempts.pop(stored.id, None)
            applied += 1
        return applied

    async def _apply(self, stored: StoredEvent, job: Job | None) -> Job | None:
        """Apply ``stored`` to ``job`` (read now if ``None``); return the job as it now is."""
        event = stored.event
        if job is None:
            try:
                job = await self.store.get_job(stored.job_id)
            except JobNotFound:
                await self.store.mark_event(stored.id, "no such job")
                return None
        if event.kind is EventKind.UNKNOWN:
            log.warning(
                "event.unreadable", job_id=job.id, event_id=stored.id, provider=stored.provider
            )
            await self.store.mark_event(stored.id, "unreadable body: stored, not applied")
            return job
        if event.task_id and not job.provider_task_id:
            await self.store.set_provider_task(job.id, event.task_id)
            job = dataclasses.replace(job, provider_task_id=event.task_id)
        if next_state(job.state, event.kind) is not None:
            try:
                event = await self.adapters[job.provider].complete(self.client, event)
            except ProviderUnavailable:
                raise
            except ProviderError as error:  # it says done, but the result cannot be had
                event = ProviderEvent(
                    EventKind.FAILED,
                    task_id=event.task_id,
                    error_code=error.provider_code or error.code,
                    error_message=f"the provider reported success, but: {error.message}",
                )
        moved = await self.move(
            job,
            event,
            reason=f"{stored.provider} {stored.source}: {event.kind}",
            event_id=stored.id,
        )
        return dataclasses.replace(job, state=moved.to_state) if moved else job

    # submission

    async def submit_due(self) -> bool:
        now = now_iso()
        for stale in await self.store.stale_submissions(now, CONCURRENCY):
            # The process died while a submit was in flight: the provider may have the task.
            reason = (
                "a submit was in flight when clipwire stopped; the provider may have the task."
                " If no callback arrives, `clipwire retry` sends it again (possibly a second"
                " task) or `clipwire cancel` drops it"
            )
            await self.store.hold_submission(stale.id, "submit_ambiguous", reason)
            log.warning("job.submit_ambiguous", job_id=stale.id, provider=stale.provider)
        for job in await self.store.due_submissions(now, CONCURRENCY):
            key = f"submit:{job.id}"
            if key not in self._inflight and len(self._inflight) < CONCURRENCY * 2:
                self._spawn(key, self._submit(job))
        return False

    async def _submit(self, job: Job) -> None:
        claimed = await self.store.claim_submission(job.id, iso(time.time() + SUBMIT_LEASE))
        if claimed is None:
            return
        adapter = self.adapters[claimed.provider]
        callback_url = self.signer.url_for(claimed.public_url, claimed.provider, claimed.id)
        log_ = log.bind(
            job_id=claimed.id, provider=claimed.provider, attempt=claimed.submit_attempts
        )
        try:
            event = await adapter.submit(self.client, claimed, callback_url)
        except ProviderUnavailable as error:
            if error.ambiguous:
                reason = (
                    f"{error.message}; the provider may have the task. If no callback arrives,"
                    " `clipwire retry` sends it again (possibly a second task) or"
                    " `clipwire cancel` drops it"
                )
                await self._hold(claimed, "submit_ambiguous", reason)
            elif claimed.submit_attempts < self.settings.submit_max_attempts:
                delay = retry_delay(
                    claimed.submit_attempts,
                    base=self.settings.submit_retry_base,
                    retry_after=error.retry_after,
                )
                log_.warning("job.submit_retrying", error=error.message, in_seconds=round(delay, 2))
                await self.store.schedule_submission(
                    claimed.id, iso(time.time() + delay), error.message
                )
                self._later("submit", delay)
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
            await self.move(
                await self.store.get_job(claimed.id), failure, reason="provider refused the job"
            )
            return
        log_.info("job.submitted", task_id=event.task_id)
        await self.store.submission_done(claimed.id, event.task_id)
        # Polling providers are asked early and often; the others once their callback is overdue.
        first_poll = (
            self.settings.status_poll_interval
            if not adapter.has_webhooks
            else adapter.expected_duration + self.settings.callback_grace
        )
        await self.store.schedule_poll(claimed.id, iso(time.time() + first_poll))
        self._later("polls", first_poll)
        kind = EventKind.SUBMITTED if event.kind is EventKind.QUEUED else event.kind
        current = await self.store.get_job(claimed.id)
        await self.move(
            current, ProviderEvent(kind, event.task_id), reason="provider accepted the task"
        )

    async def _hold(self, job: Job, code: str, reason: str) -> None:
        log.warning("job.held", job_id=job.id, provider=job.provider, code=code, reason=reason)
        await self.store.hold_submission(job.id, code, reason)
        self.bus.publish({"type": "attention", "job_id": job.id, "code": code, "reason": reason})

    # reconciliation: status polls, overdue callbacks, hard deadlines

    async def poll_due(self) -> bool:
        now = now_iso()
        for job in await self.store.overdue_deadlines(now, CONCURRENCY):
            timeout = ProviderEvent(
                EventKind.TIMED_OUT,
                error_code="deadline",
                error_message=f"no result within {self.settings.job_deadline:.0f} s",
            )
            if await self.move(job, timeout, reason="deadline passed") and job.provider_task_id:
                self.cancel_at_provider(job)
        for job in await self.store.due_polls(now, CONCURRENCY):
            key = f"poll:{job.id}"
            if key not in self._inflight and len(self._inflight) < CONCURRENCY * 2:
                self._spawn(key, self._poll(job))
        return False

    async def _poll(self, job: Job) -> None:
        """Ask the provider for the truth about ``job``; store what it says as an event."""
        adapter = self.adapters[job.provider]
        delay = poll_delay(
            job.polls, base=self.settings.status_poll_interval, cap=self.settings.status_poll_max
        )
        if adapter.has_webhooks:  # the callback is overdue
            log.info("job.callback_overdue", job_id=job.id, provider=job.provider, polls=job.polls)
            delay = max(delay, self.settings.callback_grace)
            try:
                public = (await self.public_url()) if self.public_url else job.public_url
                await adapter.reconcile(
                    self.client, job, self.signer.url_for(public, job.provider, job.id)
                )
            except ProviderError as error:
                log.warning("job.reconcile_failed", job_id=job.id, error=error.message)
        try:
            event = await adapter.status(self.client, job)
        except ProviderError as error:
            log.warning("job.poll_failed", job_id=job.id, code=error.code, error=error.message)
            await self.store.schedule_poll(
                job.id, iso(time.time() + max(delay, error.retry_after or 0))
            )
            return
        await self.store.schedule_poll(job.id, iso(time.time() + delay) if event else None)
        if event is not None:
            self._later("polls", delay)
        if event is None or event.kind is EventKind.UNKNOWN:
            return
        body = json.dumps(event.to_json()).encode()
        _, duplicate = await self.store.add_event(
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
            self.wake("events")

    def cancel_at_provider(self, job: Job) -> None:
        """Ask the provider to cancel ``job``'s task, in the background; the outcome is logged."""

        async def cancel() -> None:
            try:
                done = await self.adapters[job.provider].cancel(self.client, job)
            except ProviderError as error:
                log.warning("job.provider_cancel_failed", job_id=job.id, error=error.message)
                return
            log.info(
                "job.provider_cancelled" if done else "job.provider_cancel_unsupported",
                job_id=job.id,
                provider=job.provider,
            )

        self._spawn(f"cancel:{job.id}", cancel())

    # actions

    async def run_due_actions(self) -> bool:
        now = now_iso()
        await self.store.release_expired_leases(max(now, self._orphaned_leases_end))
        for action in await self.store.due_actions(now, CONCURRENCY):
            key = f"action:{action.id}"
            if key not in self._inflight and len(self._inflight) < CONCURRENCY * 2:
                self._spawn(key, self._run_action(action))
        return False

    async def _run_action(self, action: Action) -> None:
        claimed = await self.store.claim_action(action.id, iso(time.time() + ACTION_LEASE))
        if claimed is None:
            return
        job = await self.store.get_job(claimed.job_id)
        earlier = tuple(
            a for a in await self.store.actions_for(job.id) if a.position < claimed.position
        )
        ctx = ActionContext(
            job=job,
            action=claimed,
            earlier=earlier,
            client=self.client,
            settings=self.settings,
            limiter=self.limiter,
            trusted_origins=self.trusted_origins,
            create_job=self.create_job,
        )
        log_ = log.bind(
            job_id=job.id, action_id=claimed.id, kind=claimed.kind, attempt=claimed.attempts
        )
        try:
            result = await KINDS[claimed.kind].run(ctx)
        except Exception as error:  # every failure is recorded; only ActionRejected is final
            message = error.message if isinstance(error, ClipwireError) else repr(error)
            final = isinstance(error, ActionRejected)
            exhausted = claimed.attempts >= self.settings.action_max_attempts
            retry_after = error.retry_after if isinstance(error, ActionError) else None
            delay = retry_delay(
                claimed.attempts, base=self.settings.action_retry_base, retry_after=retry_after
            )
            retry_at = None if final or exhausted else iso(time.time() + delay)
            await self.store.fail_action(claimed.id, message, retry_at)
            if retry_at:
                self._later("actions", delay)
            state = "retrying" if retry_at else "dead"
            log_.warning(f"action.{state}", error=message)
            self.bus.publish(
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
            await self.store.finish_action(claimed.id, result)
            log_.info("action.done", **{k: v for k, v in result.items() if k != "path"})
            self.bus.publish(
                {
                    "type": "action",
                    "job_id": job.id,
                    "action_id": claimed.id,
                    "kind": claimed.kind,
                    "state": "done",
                    "result": result,
                }
            )
        self.wake("actions")
