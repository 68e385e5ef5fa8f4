"""The SQLite backend of ``Store``, composed of one module per concept.

``connection`` holds the writer thread (group commit), the read connections and the
lifecycle; ``jobs``, ``events`` and ``outbox`` the queries on their tables; ``sweeps`` the
reconciler's named SQL; ``rows`` turns rows into models.
"""

from __future__ import annotations

import sqlite3

from .events import EventQueries
from .jobs import JobQueries
from .outbox import OutboxQueries
from .sweeps import SWEEPS

__all__ = ["SWEEPS", "SQLiteStore"]


class SQLiteStore(JobQueries, EventQueries, OutboxQueries):
    """``Store`` on one SQLite file, in WAL mode, created readable by its owner only."""

    # across the tables

    async def counts(self) -> dict[str, int]:
        def op(conn: sqlite3.Connection) -> dict[str, int]:
            counts = {
                f"jobs_{row[0]}": row[1]
                for row in conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            }
            counts["events_waiting"] = conn.execute(
                "SELECT COUNT(*) FROM events WHERE applied_at IS NULL"
            ).fetchone()[0]
            counts["actions_open"] = conn.execute(
                "SELECT COUNT(*) FROM actions WHERE state IN ('pending', 'running')"
            ).fetchone()[0]
            return counts

        return await self._read(op)
