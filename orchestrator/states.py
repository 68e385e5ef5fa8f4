"""The job state machine, as data.

A job moves only forward: ``pending → submitted → running → (terminal)``. Terminal states
never change. Every move the machine allows is a row of ``TRANSITIONS``; anything else, such
as a late ``running`` after ``succeeded``, a duplicate, or any event on a finished job, is
stored by the caller and ignored here (``next_state`` returns ``None``).
"""

from __future__ import annotations

import enum


class JobState(enum.StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


class EventKind(enum.StrEnum):
    """What a normalised provider event (or clipwire itself) says happened to a task."""

    SUBMITTED = "submitted"  # the provider accepted the task and gave it an id
    QUEUED = "queued"  # the provider says the task waits in its queue
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"  # raised by clipwire when a job is overdue past its deadline
    UNKNOWN = "unknown"  # a body we could not read: stored and reported, never applied


TERMINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT}
)

_FINISH = {
    EventKind.SUCCEEDED: JobState.SUCCEEDED,
    EventKind.FAILED: JobState.FAILED,
    EventKind.CANCELLED: JobState.CANCELLED,
    EventKind.TIMED_OUT: JobState.TIMED_OUT,
}

TRANSITIONS: dict[tuple[JobState, EventKind], JobState] = {
    # A callback may beat the submit response, so every forward event is valid from pending.
    (JobState.PENDING, EventKind.SUBMITTED): JobState.SUBMITTED,
    (JobState.PENDING, EventKind.QUEUED): JobState.SUBMITTED,
    (JobState.PENDING, EventKind.RUNNING): JobState.RUNNING,
    **{(JobState.PENDING, kind): state for kind, state in _FINISH.items()},
    (JobState.SUBMITTED, EventKind.RUNNING): JobState.RUNNING,
    **{(JobState.SUBMITTED, kind): state for kind, state in _FINISH.items()},
    **{(JobState.RUNNING, kind): state for kind, state in _FINISH.items()},
}


def next_state(state: JobState, event: EventKind) -> JobState | None:
    """The state ``event`` moves a job in ``state`` to, or ``None`` when it must be ignored."""
    return TRANSITIONS.get((state, event))


def mermaid_diagram() -> str:
    """The state diagram drawn from ``TRANSITIONS`` (the README embeds this output)."""
    edges: dict[tuple[JobState, JobState], list[str]] = {}
    for (source, event), target in TRANSITIONS.items():
        edges.setdefault((source, target), []).append(event)
    lines = ["stateDiagram-v2", "    [*] --> pending"]
    for (source, target), events in edges.items():
        lines.append(f"    {source} --> {target}: {', '.join(events)}")
    lines.extend(f"    {state} --> [*]" for state in JobState if state.is_terminal)
    return "\n".join(lines)
