"""Read the job tables straight from the SQLite file, to compare them before and after."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

JOB_TABLES = ("jobs", "transitions", "events", "actions")

Snapshot = dict[str, dict[Any, tuple[Any, ...]]]


def snapshot(db_path: Path) -> Snapshot:
    """Every row of the tables that hold a job's state, keyed by primary key."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {
            table: {row[0]: tuple(row) for row in conn.execute(f"SELECT * FROM {table}")}
            for table in JOB_TABLES
        }
    finally:
        conn.close()


def changed_rows(before: Snapshot, after: Snapshot) -> dict[str, list[Any]]:
    """The keys of rows added, removed or changed, per table (tables without change left out)."""
    changes = {}
    for table in JOB_TABLES:
        old, new = before[table], after[table]
        keys = sorted({*old, *new} - {k for k in old.keys() & new.keys() if old[k] == new[k]})
        if keys:
            changes[table] = keys
    return changes


def record_figures(folder: Path, name: str, figures: dict[str, Any]) -> Path:
    """Print ``figures`` and write them to ``<folder>/<name>.json`` (the folder is
    ``$CLIPWIRE_FIGURES_DIR`` when set), for docs/RELIABILITY.md."""
    print(f"\n{name}: {json.dumps(figures, sort_keys=True)}")
    folder = Path(os.environ.get("CLIPWIRE_FIGURES_DIR") or folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return path
