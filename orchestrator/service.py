"""``Clipwire``: the orchestrator as one object, which the HTTP edge and the CLI drive.

``Clipwire.running(settings)`` opens the store, starts the embedded simulator (when enabled)
and the worker, and closes them all in reverse order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import structlog

from . import __version__
from .actions import check_specs
from .bus import Bus
from .callbacks import CallbackSigner, redact_callback_urls
from .config import Settings
from .errors import InvalidJobRequest, StateConflict
from .models import (
    Action,
    ActionState,
    Job,
    ProviderEvent,
    Relation,
    iso,
    new_job_id,
    parse_job_request,
)
from .providers import ADAPTERS, ProviderAdapter, ProviderConfig
from .providers.runninghub import RunningHubAdapter
from .public_url import PublicURLResolver
from .serving import base_url, bind, running
from .sim.server import Simulator
from .states import EventKind
from .store import NewEvent, SQLiteStore, Store
from .worker import Worker

log = structlog.get_logger("clipwire")

KEPT_HEADERS = ("content-type", "user-agent", "content-length", "x-request-id")


@contextlib.asynccontextmanager
async def _simulator(settings: Settings) -> AsyncIterator[str | None]:
    if not settings.sim_enabled:
        yield None
        return
    sock = bind("127.0.0.1", settings.sim_port)
    simulator = Simulator()
    try:
        async with running(simulator.app, sock, lifespan="off") as url:
            log.info("sim.started", url=url)
            yield url
    finally:
        await simulator.aclose()


def _local_url(settings: Settings) -> str:
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return base_url(host, settings.port)


def build_adapters(
    settings: Settings, sim_url: str | None, env: Mapping[str, str] | None = None
) -> dict[str, ProviderAdapter]:
    """One adapter per known provider, configured from ``CLIPWIRE_<NAME>_*`` variables."""
    env = os.environ if env is None else env
    adapters: dict[str, ProviderAdapter] = {}
    for name, adapter in ADAPTERS.items():
        if name == "sim":  # always the embedded simulator; other CLIPWIRE_SIM_* still apply
            if sim_url is not None:
                config = ProviderConfig.from_env(name, sim_url, env)
                adapters[name] = adapter(dataclasses.replace(config, base_url=sim_url))
            continue
        adapters[name] = adapter(ProviderConfig.from_env(name, adapter.default_base_url, env))
    return adapters


def _link(job: Job, relation: Relation | None) -> dict[str, Any]:
    """A related job as ``describe`` shows it: its id, how it is related, and its state."""
    return {"id": job.id, "relation": relation and str(relation), "state": str(job.state)}


class Clipwire:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        adapters: dict[str, ProviderAdapter],
        client: httpx.AsyncClient,
        resolver: PublicURLResolver,
    ) -> None:
        assert settings.secret_key, "settings need a secret key (Settings.with_secret)"
        self.settings = settings
        self.store = store
        self.adapters = adapters
        self.client = client
        self.resolver = resolver
        self.bus = Bus()
        self.signer = CallbackSigner(settings.secret_key, int(settings.token_max_age))
        self.worker = Worker(
            settings=settings,
            store=store,
            adapters=adapters,
            signer=self.signer,
            client=client,
            bus=self.bus,
        )
        self.worker.create_job = self._create_linked_job
        self.worker.public_url = self._current_public_url

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, settings: Settings) -> AsyncIterator[Clipwire]:
        settings = settings.with_secret()
        store = SQLiteStore(settings.db_path, synchronous=settings.db_synchronous)
        applied = await store.open()
        try:
            async with (
                httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as client,
                _simulator(settings) as sim_url,
            ):
                resolver = PublicURLResolver(
                    configured=settings.public_url,
                    ngrok_api=settings.ngrok_api,
                    local_url=_local_url(settings),
                    port=settings.port,
                    client=client,
                )
                app = cls(
                    settings=settings,
                    store=store,
                    adapters=build_adapters(settings, sim_url),
                    client=client,
                    resolver=resolver,
                )
                public = await resolver.resolve()
                log.info(
                    "clipwire.started",
                    version=__version__,
                    db=str(settings.db_path),
                    migrations_applied=applied,
                    public_url=public.url,
                    providers=sorted(app.adapters),
                    api_auth="bearer token" if settings.api_token else "loopback clients only",
                )
                app.worker.start()
                try:
                    yield app
                finally:
                    await app.worker.stop()
        finally:
            await store.close()

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(sorted(self.adapters))

    # jobs

    async def create_job(
        self,
        data: object,
        *,
        idempotency_key: str | None = None,
        parent_id: str | None = None,
        relation: Relation | None = None,
    ) -> tuple[Job, bool]:
        request = parse_job_request(data, providers=self.providers)
        adapter = self.adapters[request.provider]
        if adapter.requires_api_key and not adapter.config.api_key:
            raise InvalidJobRequest(
                f"provider {adapter.name} is not configured: set"
                f" CLIPWIRE_{adapter.name.upper()}_API_KEY",
                code="provider_not_configured",
            )
        adapter.validate(request)
        check_specs(request.actions, self.settings)
        public = await self.resolver.resolve()
        job, created = await self.store.create_job(
            new_job_id(),
            request,
            public_url=public.url,
            deadline_at=iso(time.time() + self.settings.job_deadline),
            idempotency_key=idempotency_key,
            parent_id=parent_id,
            relation=relation,
        )
        if created:
            log.info(
                "job.created",
                job_id=job.id,
                provider=job.provider,
                mode=request.mode,
                public_url=public.url,
                parent_id=parent_id,
                relation=relation,
            )
            self.worker.wake("submit")
        return job, created

    async def _current_public_url(self) -> str:
        return (await self.resolver.resolve()).url

    async def _create_linked_job(
        self, data: dict[str, Any], idempotency_key: str, *, parent_id: str, relation: Relation
    ) -> Job:
        """A job started by an action (follow-up, failover); the key makes a rerun a no-op."""
        job, _ = await self.create_job(
            data, idempotency_key=idempotency_key, parent_id=parent_id, relation=relation
        )
        return job

    async def describe(self, job_id: str) -> dict[str, Any]:
        """A job with its timeline, actions and inbound events: what ``GET /v1/jobs/{id}`` shows."""
        job = await self.store.get_job(job_id)
        timeline = await self.store.timeline(job_id)
        actions = await self.store.actions_for(job_id)
        parent = await self.store.get_job(job.parent_id) if job.parent_id else None
        return {
            **job.to_json(),
            "timeline": [t.to_json() for t in timeline],
            "actions": [a.to_json() for a in actions],
            "parent": _link(parent, job.relation) if parent else None,
            "children": [
                _link(child, child.relation) for child in await self.store.children(job_id)
            ],
        }

    async def mirrored_video(self, job_id: str) -> dict[str, Any] | None:
        """The mirror action's result for the job's video (``path``, ``bytes``, ``sha256``,
        ``content_type``) if it was mirrored and the file is still in the media directory."""
        await self.store.get_job(job_id)  # JobNotFound
        for action in reversed(await self.store.actions_for(job_id)):
            if action.kind == "mirror" and action.state is ActionState.DONE and action.result:
                path = Path(action.result["path"]).resolve()
                if path.is_file() and path.parent == self.settings.media_dir.resolve():
                    return {**action.result, "path": str(path)}
        return None

    async def cancel(self, job_id: str) -> Job:
        job = await self.store.get_job(job_id)
        if job.state.is_terminal:
            raise StateConflict(f"job {job_id} has already {job.state}", code="job_finished")
        event = ProviderEvent(
            EventKind.CANCELLED, error_code="cancelled", error_message="cancelled by user"
        )
        if await self.worker.move(job, event, reason="cancelled by user") is None:
            raise StateConflict(f"job {job_id} cannot be cancelled now", code="job_finished")
        job = await self.store.get_job(job_id)
        if job.provider_task_id:
            self.worker.cancel_at_provider(job)
        return job

    async def retry_job(self, job_id: str) -> Job:
        """Send a held job (ambiguous, auth-refused or exhausted submission) again."""
        job = await self.store.release_job(job_id)
        log.info("job.released", job_id=job.id)
        self.worker.wake("submit")
        return job

    async def retry_action(self, action_id: int) -> Action:
        action = await self.store.retry_action(action_id)
        log.info("action.released", action_id=action.id, job_id=action.job_id, kind=action.kind)
        self.worker.wake("actions")
        return action

    # RunningHub's webhook event tools

    def _runninghub(self) -> RunningHubAdapter:
        adapter = self.adapters.get("runninghub")
        if not isinstance(adapter, RunningHubAdapter) or not adapter.config.api_key:
            raise InvalidJobRequest(
                "runninghub is not configured: set CLIPWIRE_RUNNINGHUB_API_KEY",
                code="provider_not_configured",
            )
        return adapter

    async def runninghub_webhook_detail(self, task_id: str) -> dict[str, Any]:
        """What RunningHub recorded of the task's webhook (callback URL tokens redacted)."""
        detail = await self._runninghub().webhook_detail(self.client, task_id)
        return {
            key: redact_callback_urls(value) if isinstance(value, str) else value
            for key, value in detail.items()
        }

    async def runninghub_resend(self, task_id: str, *, to_current_url: bool) -> dict[str, Any]:
        """Ask RunningHub to deliver the task's webhook again; with ``to_current_url``, to
        today's public URL with a fresh token (the tunnel changed since the job started)."""
        adapter = self._runninghub()
        detail = await adapter.webhook_detail(self.client, task_id)
        url = None
        if to_current_url:
            job = await self.store.job_for_task("runninghub", task_id)
            public = await self.resolver.resolve()
            url = self.signer.url_for(public.url, "runninghub", job.id)
        await adapter.resend(self.client, detail["id"], url)
        log.info("runninghub.resend_requested", task_id=task_id, to_current_url=to_current_url)
        return {"task_id": task_id, "webhook_id": detail["id"], "to_current_url": to_current_url}

    # inbound callbacks

    async def accept_callback(
        self,
        provider: str,
        token: str,
        payload: Any,
        *,
        body: bytes,
        headers: Mapping[str, str],
    ) -> tuple[int, bool]:
        """Verify and durably store one webhook; returns ``(event_id, duplicate)``.

        Raises ``InvalidCallbackToken`` for a token that is forged, expired, for another
        provider, or for another job than the task the body speaks of.
        """
        job_id = self.signer.job_for(provider, token)
        event = self.adapters[provider].parse_webhook(payload)
        # JobNotFound (the token outlived its job) and token_mismatch (the body is about
        # another job's task) are checked by the store as it writes.
        event_id, duplicate = await self.store.add_event(
            NewEvent(
                provider=provider,
                job_id=job_id,
                event=event,
                dedupe_key=event.dedupe_key(job_id, body),
                body=body,
                headers={k: headers[k] for k in KEPT_HEADERS if k in headers},
                verification="token",
            )
        )
        if not duplicate:
            self.worker.wake("events")
        return event_id, duplicate
