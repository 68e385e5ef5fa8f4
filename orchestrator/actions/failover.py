"""``failover``: when a job fails (or times out), send the same request to the next provider.

    {"kind": "failover", "providers": ["runware", "apiinone"]}

The new job is this job's request on ``providers[0]``, and its own failover action carries the
rest of the list (``["apiinone"]``); the last hop has none. A hop is a provider's name or
``{"provider": NAME, "provider_options": {...}}``: provider options are provider-specific, so a
hop to another provider gets its own (``{}`` unless given) and a hop to the same provider keeps
this job's. Each new job is linked to the one it replaces (relation ``failover``), and the
action's idempotency key makes a rerun find it instead of paying for a second one. A job the
user cancelled is not failed over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidJobRequest
from ..models import Job, Relation
from ..providers import ADAPTERS
from ..states import JobState
from .base import ActionContext, ActionKind
from .submit import start_linked_job, started

if TYPE_CHECKING:
    from ..config import Settings


def _hop(raw: Any) -> tuple[str, dict[str, Any] | None]:
    """A hop as ``(provider, provider_options or None for "not given")``."""
    if isinstance(raw, str):
        return raw, None
    return raw["provider"], raw.get("provider_options")


def failover_request(job: Job, params: dict[str, Any]) -> dict[str, Any]:
    """``job``'s request for the first hop in ``params``, its failover carrying the rest."""
    first, *rest = params["providers"]
    provider, options = _hop(first)
    data = job.request.to_json()
    if options is None:
        options = data["provider_options"] if provider == job.provider else {}
    data["provider"] = provider
    data["provider_options"] = options
    actions: list[dict[str, Any]] = []
    carried = False
    for spec in data["actions"]:
        mine = (
            spec["kind"] == "failover" and not carried and spec["providers"] == params["providers"]
        )
        if not mine:
            actions.append(spec)
            continue
        carried = True
        if rest:
            actions.append({**spec, "providers": rest})
    data["actions"] = actions
    return data


async def failover(ctx: ActionContext) -> dict[str, Any]:
    if ctx.job.state is JobState.CANCELLED:
        return {"skipped": "the job was cancelled"}
    data = failover_request(ctx.job, ctx.action.params)
    return started(await start_linked_job(ctx, data, Relation.FAILOVER), Relation.FAILOVER)


def check(params: dict[str, Any], settings: Settings, where: str) -> None:
    unknown = set(params) - {"providers"}
    if unknown:
        raise InvalidJobRequest(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
    hops = params.get("providers")
    if not isinstance(hops, list) or not hops:
        raise InvalidJobRequest(f"{where}.providers must be a non-empty list")
    for index, hop in enumerate(hops):
        at = f"{where}.providers[{index}]"
        if isinstance(hop, dict):
            if set(hop) - {"provider", "provider_options"}:
                raise InvalidJobRequest(f"{at} takes provider and provider_options")
            if not isinstance(hop.get("provider_options", {}), dict):
                raise InvalidJobRequest(f"{at}.provider_options must be an object")
            hop = hop.get("provider")
        if hop not in ADAPTERS:
            raise InvalidJobRequest(f"{at} must name one of {', '.join(sorted(ADAPTERS))}")


KIND = ActionKind("failover", failover, check)
