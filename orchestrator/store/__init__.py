"""Durable state: jobs, inbound events, transitions and the action outbox.

``Store`` is the narrow interface the rest of clipwire uses; ``SQLiteStore`` is the backend
that ships. All SQL lives in this package, and nothing outside it knows which database it is.
"""

from __future__ import annotations

from .base import NewEvent, Store
from .sqlite import SQLiteStore

__all__ = ["NewEvent", "SQLiteStore", "Store"]
