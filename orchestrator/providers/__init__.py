"""Provider adapters: one module each, all behind ``ProviderAdapter``."""

from __future__ import annotations

from .base import ProviderAdapter, ProviderConfig
from .sim import SimAdapter

ADAPTERS: dict[str, type[ProviderAdapter]] = {SimAdapter.name: SimAdapter}

__all__ = ["ADAPTERS", "ProviderAdapter", "ProviderConfig", "SimAdapter"]
