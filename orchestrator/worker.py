"""The worker: everything that happens after an answer has been sent.

Four lanes (``lanes.Lane``) run side by side in the server's event loop, each woken at once
when there is new work and, as a safety net, every ``poll_interval`` seconds:

    events   apply stored inbound events to their jobs through the state machine (here)
    submit   send pending jobs to their provider, with retries and backoff (``submission``)
    polls    deadlines, status polls, overdue callbacks (``reconciler``)
    actions  run the action outbox, with retries, backoff and a dead letter (``action_runner``)

``Worker`` owns the lanes, the work in flight and the state machine's moves; the other lanes'
classes reach the store, the adapters and the rest through it. All progress is in the
database, so a restarted worker carries on where the last one stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import structlog

from .action_runner import ActionRunner
from .actions import CreateJob, RateLimiter
from .bus import Bus
from .callbacks import CallbackSigner
from .config import Settings
from .errors import JobNotFound, ProviderError, ProviderUnavailable, StateConflict
from .lanes import CONCURRENCY, Lane
from .models import Job, ProviderEvent, StoredEvent, Transition
from .providers import ProviderAdapter
from .reconciler import Reconciler
from .retry import retry_delay
from .states import EventKind, next_state
from .store import Store
from .submission import Submitter
from .urlguard import origin_of

log = structlog.get_logger("clipwire.worker")

EVENT_BATCH = 200


def _error_of(event: ProviderEvent) -> dict[str, Any] | None:
    if event.kind is EventKind.SUCCEEDED:
        return None
    if event.error_code is None and event.error_message is None:
        return None
    return {"code": event.error_code, "message": event.error_message}


class Worker:
    """The lanes, the work in flight, and the state machine's moves; submit, polls and actions
    are delegated to ``Submitter``, ``Reconciler`` and ``ActionRunner``."""

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
        self.submitter = Submitter(self)
        self.reconciler = Reconciler(self)
        self.action_runner = ActionRunner(self)

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

    def later(self, lane: str, delay: float) -> None:
        """Wake ``lane`` when work scheduled ``delay`` seconds ahead falls due (its periodic
        tick remains the safety net, and the only timer after a restart)."""
        asyncio.get_running_loop().call_later(max(0.0, delay) + 0.001, self.wake, lane)

    def has_room_for(self, key: str) -> bool:
        """Whether work under ``key`` may start now: it is not already in flight, and not too
        much else is."""
        return key not in self._inflight and len(self._inflight) < CONCURRENCY * 2

    def spawn(self, key: str, work: Awaitable[None]) -> None:
        """Run ``work`` in the background, in flight under ``key`` until it ends."""

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

    # the other lanes, each in its own module

    async def submit_due(self) -> bool:
        return await self.submitter.submit_due()

    async def poll_due(self) -> bool:
        return await self.reconciler.poll_due()

    def cancel_at_provider(self, job: Job) -> None:
        """Ask the provider to cancel ``job``'s task, in the background; the outcome is logged."""
        self.reconciler.cancel_at_provider(job)

    async def run_due_actions(self) -> bool:
        return await self.action_runner.run_due_actions()
