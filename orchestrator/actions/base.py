"""What every action gets and shares: its context, HTTP status mapping, and the registry.

An action is an ``ActionKind``: a runner, ``run(ctx) -> result`` (a JSON-able dict), that
raises ``ActionRejected`` when retrying cannot help or ``ActionError`` when it may succeed later,
and a ``check(params, settings)`` that refuses bad parameters when the job is created (422).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from ..errors import ActionError, ActionRejected, InvalidJobRequest
from ..providers.base import retry_after_seconds
from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from ..config import Settings
    from ..models import Action, Job, Relation


class CreateJob(Protocol):
    """Start a job linked to its parent (the ``submit`` and ``failover`` actions); a known
    idempotency key returns the job it started before."""

    def __call__(
        self, data: dict[str, Any], idempotency_key: str, *, parent_id: str, relation: Relation
    ) -> Awaitable[Job]: ...


@dataclasses.dataclass(frozen=True)
class ActionContext:
    job: Job
    action: Action
    earlier: tuple[Action, ...]  # the job's actions that ran before this one
    client: httpx.AsyncClient
    settings: Settings
    limiter: RateLimiter
    trusted_origins: frozenset[str] = frozenset()  # may be http or private (the simulator, ...)
    create_job: CreateJob | None = None

    def mirrored(self) -> dict[str, Any] | None:
        """The result of this job's mirror action, if it has run."""
        for action in self.earlier:
            if action.kind == "mirror" and action.result:
                return action.result
        return None


def raise_for_status(response: httpx.Response, what: str) -> None:
    """Raise what a non-2xx answer means: 408/425/429/5xx may pass (with Retry-After)."""
    status = response.status_code
    if response.is_success:
        return
    message = f"{what} answered HTTP {status}"
    if status in (408, 425, 429) or status >= 500:
        raise ActionError(message, retry_after=retry_after_seconds(response))
    raise ActionRejected(message)


def check_http_url(params: dict[str, Any], key: str, where: str, *, required: bool) -> None:
    value = params.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise InvalidJobRequest(f"{where}.{key} must be an http(s) URL")


def no_params(params: dict[str, Any], settings: Settings, where: str) -> None:
    if params:
        raise InvalidJobRequest(f"{where} takes no parameters (got {', '.join(sorted(params))})")


@dataclasses.dataclass(frozen=True)
class ActionKind:
    name: str
    run: Callable[[ActionContext], Awaitable[dict[str, Any]]]
    check: Callable[[dict[str, Any], Settings, str], None] = no_params
