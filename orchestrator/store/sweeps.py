"""The reconciler's sweeps, as named SQL.

Each reads a partial index holding only unfinished jobs that have the column set, in range
order, so a sweep costs what is overdue, not the table's size (tests check the plans;
scripts/bench_sweep.py measures it on a million jobs).
"""

from __future__ import annotations

SWEEP_DUE_POLLS = (
    "SELECT * FROM jobs WHERE next_poll_at IS NOT NULL AND next_poll_at <= ?"
    " ORDER BY next_poll_at LIMIT ?"
)
SWEEP_DEADLINES = (
    "SELECT * FROM jobs WHERE deadline_at IS NOT NULL AND deadline_at <= ?"
    " ORDER BY deadline_at LIMIT ?"
)
SWEEP_STALE_SUBMITS = (
    "SELECT * FROM jobs WHERE submit_lease_until IS NOT NULL AND submit_lease_until <= ?"
    " ORDER BY submit_lease_until LIMIT ?"  # every move out of pending clears the lease
)
SWEEPS = {
    "due_polls": (SWEEP_DUE_POLLS, "idx_jobs_next_poll"),
    "deadlines": (SWEEP_DEADLINES, "idx_jobs_deadline"),
    "stale_submits": (SWEEP_STALE_SUBMITS, "idx_jobs_submit_lease"),
}
