"""Provider adapters: one module each, all behind ``ProviderAdapter``."""

from __future__ import annotations

from .base import ProviderAdapter, ProviderConfig
from .minimax import MiniMaxAdapter
from .runninghub import RunningHubAdapter
from .sim import SimAdapter

ADAPTERS: dict[str, type[ProviderAdapter]] = {
    SimAdapter.name: SimAdapter,
    MiniMaxAdapter.name: MiniMaxAdapter,
    RunningHubAdapter.name: RunningHubAdapter,
}

__all__ = [
    "ADAPTERS",
    "MiniMaxAdapter",
    "ProviderAdapter",
    "ProviderConfig",
    "RunningHubAdapter",
    "SimAdapter",
]
