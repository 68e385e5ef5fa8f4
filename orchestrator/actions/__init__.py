"""Downstream actions, run by the worker from the outbox once a job finishes.

    mirror   stream the job's video into ``data/media/`` before the provider's URL expires
    notify   POST the finished job as a JSON event to a URL, and log it
    webhook  POST the finished job as an event signed per the Standard Webhooks spec
    submit   start a follow-up job from a template (e.g. the 1080P render of a draft)
    failover send a failed job's request to the next provider in a list
    slack, discord, telegram   post the finished job to a chat (``chat.py`` has the shared part)

Each kind lives in its own module and registers here; ``check_specs`` refuses unknown kinds
and bad parameters when a job is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InvalidJobRequest
from . import discord, failover, mirror, notify, slack, submit, telegram, webhook
from .base import ActionContext, ActionKind, CreateJob
from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from ..config import Settings
    from ..models import ActionSpec

KINDS: dict[str, ActionKind] = {
    kind.name: kind for kind in (mirror.KIND, notify.KIND, webhook.KIND, submit.KIND, failover.KIND)
}
KINDS.update((kind.name, kind) for kind in (slack.KIND, discord.KIND, telegram.KIND))  # chat


def check_specs(specs: tuple[ActionSpec, ...], settings: Settings) -> None:
    """Raise ``InvalidJobRequest`` for an unknown kind or bad parameters, naming the field."""
    for index, spec in enumerate(specs):
        where = f"actions[{index}]"
        kind = KINDS.get(spec.kind)
        if kind is None:
            raise InvalidJobRequest(f"{where}.kind must be one of {', '.join(sorted(KINDS))}")
        kind.check(spec.params, settings, where)


__all__ = ["KINDS", "ActionContext", "ActionKind", "CreateJob", "RateLimiter", "check_specs"]
