"""The values the orchestrator passes around: job requests, jobs, events, transitions, actions.

Every one is a frozen dataclass. ``parse_job_request`` is the one place a user's JSON becomes
a ``JobRequest``; it raises ``InvalidJobRequest`` naming the field at fault.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidJobRequest
from .states import EventKind, JobState

MAX_PROMPT_CHARS = 2000
DURATIONS = (6, 10)
RESOLUTIONS = ("768P", "1080P")
TIERS = ("standard", "pro")


def now_iso() -> str:
    """UTC now as a fixed-width ISO 8601 string; such strings sort as the times they name."""
    return iso(time.time())


def iso(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> float:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC).timestamp()


def new_job_id() -> str:
    """A job id that sorts by creation time: ``job_`` + millisecond clock + randomness."""
    return f"job_{int(time.time() * 1000):011x}{secrets.token_hex(5)}"


class Trigger(enum.StrEnum):
    """When an action runs: on success, on failure (failed, cancelled, timed out), or either."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    FINISHED = "finished"

    def fires_on(self, state: JobState) -> bool:
        if self is Trigger.FINISHED:
            return state.is_terminal
        if self is Trigger.SUCCEEDED:
            return state is JobState.SUCCEEDED
        return state.is_terminal and state is not JobState.SUCCEEDED


# When an action runs if the job does not say (``on``); kinds not listed run on any finish.
_DEFAULT_TRIGGER = {
    "mirror": Trigger.SUCCEEDED,
    "submit": Trigger.SUCCEEDED,
    "failover": Trigger.FAILED,
}


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    kind: str
    on: Trigger
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "on": str(self.on), **self.params}


DEFAULT_ACTIONS = (
    ActionSpec("mirror", Trigger.SUCCEEDED),
    ActionSpec("notify", Trigger.FINISHED),
)


@dataclasses.dataclass(frozen=True)
class JobRequest:
    provider: str
    prompt: str
    image_url: str | None = None
    duration: int = 6
    resolution: str = "768P"
    tier: str = "standard"
    prompt_optimizer: bool = True
    provider_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    actions: tuple[ActionSpec, ...] = DEFAULT_ACTIONS

    @property
    def mode(self) -> str:
        """``i2v`` when the job starts from an image, ``t2v`` otherwise."""
        return "i2v" if self.image_url else "t2v"

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "prompt": self.prompt,
            "image_url": self.image_url,
            "duration": self.duration,
            "resolution": self.resolution,
            "tier": self.tier,
            "prompt_optimizer": self.prompt_optimizer,
            "provider_options": self.provider_options,
            "actions": [action.to_json() for action in self.actions],
        }

    def fingerprint(self) -> str:
        """A digest of the request, to tell a true repeat of an Idempotency-Key from a misuse."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _http_url(value: object, field: str, *, allow_data: bool = False) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidJobRequest(f"{field} must be a non-empty string")
    if allow_data and value.startswith("data:image/"):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidJobRequest(f"{field} must be an http(s) URL")
    return value


def _parse_action(raw: object, index: int) -> ActionSpec:
    """The shape of one action; its kind and parameters are checked by ``actions.check_specs``."""
    where = f"actions[{index}]"
    if not isinstance(raw, dict):
        raise InvalidJobRequest(f"{where} must be an object")
    params = dict(raw)
    kind = params.pop("kind", None)
    if not isinstance(kind, str) or not kind:
        raise InvalidJobRequest(f"{where}.kind must be a string")
    on_raw = params.pop("on", _DEFAULT_TRIGGER.get(kind, Trigger.FINISHED))
    try:
        on = Trigger(on_raw)
    except ValueError:
        choices = ", ".join(t.value for t in Trigger)
        raise InvalidJobRequest(f"{where}.on must be one of {choices}") from None
    return ActionSpec(kind, on, params)


_REQUEST_FIELDS = {
    "provider",
    "prompt",
    "image_url",
    "duration",
    "resolution",
    "tier",
    "prompt_optimizer",
    "provider_options",
    "actions",
}


def parse_job_request(data: object, *, providers: tuple[str, ...]) -> JobRequest:
    """Validate a user's job request; raise ``InvalidJobRequest`` naming the field at fault."""
    if not isinstance(data, dict):
        raise InvalidJobRequest("the request body must be a JSON object")
    unknown = set(data) - _REQUEST_FIELDS
    if unknown:
        raise InvalidJobRequest(f"unknown fields: {', '.join(sorted(unknown))}")
    provider = data.get("provider", "sim")
    if provider not in providers:
        raise InvalidJobRequest(f"provider must be one of {', '.join(providers)}")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidJobRequest("prompt must be a non-empty string")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidJobRequest(f"prompt is longer than {MAX_PROMPT_CHARS} characters")
    image_url = data.get("image_url")
    if image_url is not None:
        image_url = _http_url(image_url, "image_url", allow_data=True)
    duration = data.get("duration", 6)
    if isinstance(duration, bool) or duration not in DURATIONS:
        raise InvalidJobRequest("duration must be 6 or 10 (seconds)")
    resolution = data.get("resolution", "768P")
    if not isinstance(resolution, str) or resolution.upper() not in RESOLUTIONS:
        raise InvalidJobRequest("resolution must be 768P or 1080P")
    tier = data.get("tier", "standard")
    if tier not in TIERS:
        raise InvalidJobRequest("tier must be standard or pro")
    prompt_optimizer = data.get("prompt_optimizer", True)
    if not isinstance(prompt_optimizer, bool):
        raise InvalidJobRequest("prompt_optimizer must be true or false")
    options = data.get("provider_options", {})
    if not isinstance(options, dict):
        raise InvalidJobRequest("provider_options must be an object")
    raw_actions = data.get("actions")
    actions: tuple[ActionSpec, ...]
    if raw_actions is None:
        actions = DEFAULT_ACTIONS
    elif isinstance(raw_actions, list):
        actions = tuple(_parse_action(raw, i) for i, raw in enumerate(raw_actions))
    else:
        raise InvalidJobRequest("actions must be a list")
    return JobRequest(
        provider=provider,
        prompt=prompt,
        image_url=image_url,
        duration=int(duration),
        resolution=resolution.upper(),
        tier=tier,
        prompt_optimizer=prompt_optimizer,
        provider_options=options,
        actions=actions,
    )


def request_from_json(data: dict[str, Any]) -> JobRequest:
    """Rebuild a stored, already validated request."""
    actions = tuple(
        ActionSpec(
            a["kind"], Trigger(a["on"]), {k: v for k, v in a.items() if k not in ("kind", "on")}
        )
        for a in data["actions"]
    )
    return JobRequest(**{**data, "actions": actions})


class Relation(enum.StrEnum):
    """How a job started by another job's action relates to that parent job."""

    FOLLOW_UP = "follow_up"  # the ``submit`` action: the next step after the parent
    FAILOVER = "failover"  # the ``failover`` action: the parent's request on another provider


@dataclasses.dataclass(frozen=True)
class Job:
    id: str
    provider: str
    state: JobState
    request: JobRequest
    public_url: str
    provider_task_id: str | None
    outputs: tuple[str, ...]
    error: dict[str, Any] | None
    submit_attempts: int
    polls: int
    attention: str | None  # why the job waits for a person (``clipwire retry`` or cancel)
    deadline_at: str | None
    created_at: str
    updated_at: str
    finished_at: str | None
    parent_id: str | None = None  # the job whose action started this one
    relation: Relation | None = None  # how: a follow-up or a failover of the parent

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "state": str(self.state),
            "mode": self.request.mode,
            "request": self.request.to_json(),
            "provider_task_id": self.provider_task_id,
            "public_url": self.public_url,
            "outputs": list(self.outputs),
            "error": self.error,
            "submit_attempts": self.submit_attempts,
            "attention": self.attention,
            "deadline_at": self.deadline_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
        }


@dataclasses.dataclass(frozen=True)
class ProviderEvent:
    """A provider's status report, normalised: from a webhook, a submit or a status poll."""

    kind: EventKind
    task_id: str | None = None
    outputs: tuple[str, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    provider_status: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "task_id": self.task_id,
            "outputs": list(self.outputs),
            "error_code": self.error_code,
            "error_message": self.error_message,
            "provider_status": self.provider_status,
        }

    def dedupe_key(self, job_id: str, body: bytes) -> str:
        """Deliveries with the same key are one event: a job enters each state once, so the
        key is the job and the kind; an unreadable body is keyed by its digest."""
        if self.kind is EventKind.UNKNOWN:
            return f"{job_id}:unknown:{hashlib.sha256(body).hexdigest()}"
        return f"{job_id}:{self.kind}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProviderEvent:
        return cls(
            kind=EventKind(data["kind"]),
            task_id=data.get("task_id"),
            outputs=tuple(data.get("outputs") or ()),
            error_code=data.get("error_code"),
            error_message=data.get("error_message"),
            provider_status=data.get("provider_status"),
        )


@dataclasses.dataclass(frozen=True)
class StoredEvent:
    id: int
    provider: str
    job_id: str
    event: ProviderEvent
    received_at: str
    source: str = "webhook"  # how it came: "webhook" (a verified callback) or "poll"


@dataclasses.dataclass(frozen=True)
class Transition:
    job_id: str
    from_state: JobState | None
    to_state: JobState
    event_id: int | None
    reason: str
    at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "from": str(self.from_state) if self.from_state else None,
            "to": str(self.to_state),
            "event_id": self.event_id,
            "reason": self.reason,
            "at": self.at,
        }


class ActionState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"  # exhausted its attempts or cannot succeed: kept with its last error


@dataclasses.dataclass(frozen=True)
class Action:
    id: int
    job_id: str
    position: int
    kind: str
    params: dict[str, Any]
    state: ActionState
    attempts: int
    next_attempt_at: str
    last_error: str | None
    result: dict[str, Any] | None
    idempotency_key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job_id": self.job_id,
            "kind": self.kind,
            "params": self.params,
            "state": str(self.state),
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
            "result": self.result,
            "idempotency_key": self.idempotency_key,
        }
