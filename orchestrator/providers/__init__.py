"""Provider adapters: one module each, all behind ``ProviderAdapter``."""

from __future__ import annotations

from .apiinone import APIInOneAdapter
from .base import ProviderAdapter, ProviderConfig
from .minimax import MiniMaxAdapter
from .runcomfy import RunComfyAdapter
from .runninghub import RunningHubAdapter
from .runware import RunwareAdapter
from .sim import SimAdapter

ADAPTERS: dict[str, type[ProviderAdapter]] = {
    SimAdapter.name: SimAdapter,
    MiniMaxAdapter.name: MiniMaxAdapter,
    RunningHubAdapter.name: RunningHubAdapter,
    RunwareAdapter.name: RunwareAdapter,
    RunComfyAdapter.name: RunComfyAdapter,
    APIInOneAdapter.name: APIInOneAdapter,
}

__all__ = [
    "ADAPTERS",
    "APIInOneAdapter",
    "MiniMaxAdapter",
    "ProviderAdapter",
    "ProviderConfig",
    "RunComfyAdapter",
    "RunningHubAdapter",
    "RunwareAdapter",
    "SimAdapter",
]
