"""clipwire's domain: jobs and their state machine, the store, provider adapters, actions,
the worker."""

from __future__ import annotations

__version__ = "0.1.0"
