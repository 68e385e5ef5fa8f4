"""How the reconciler's sweeps scale: with the number of overdue jobs, not the table's size.

Builds real clipwire databases (the store's own migrations) holding N jobs, most finished and
a few overdue, then times each sweep query reading every overdue row (median of repeats),
and prints the table plus the query plans. Run: ``scripts/bench-sweep`` (about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from orchestrator.models import iso
from orchestrator.store import SQLiteStore
from orchestrator.store.sqlite import SWEEPS

REQUEST = json.dumps({"provider": "sim", "prompt": "p", "actions": []})


async def build(path: Path, total: int, overdue: int) -> None:
    """``total`` jobs: ``overdue`` past their poll, deadline and submit lease; 1 % in flight
    and not yet due; the rest finished (their sweep columns NULL, as the store leaves them)."""
    store = SQLiteStore(path, synchronous="OFF")
    await store.open()
    await store.close()
    now = time.time()
    past, future = iso(now - 60), iso(now + 3600)
    in_flight = total // 100

    def rows():  # type: ignore[no-untyped-def]
        for i in range(total):
            if i < overdue:
                sweep, state = past, "running"
            elif i < overdue + in_flight:
                sweep, state = future, "running"
            else:
                sweep, state = None, "succeeded"
            yield (f"job_{i:012d}", state, REQUEST, sweep, sweep, sweep if i < overdue else None)

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO jobs (id, provider, state, request, public_url, created_at, updated_at,"
        " next_poll_at, deadline_at, submit_lease_until)"
        " VALUES (?1, 'sim', ?2, ?3, 'http://x', '2026', '2026', ?4, ?5, ?6)",
        rows(),
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def time_sweep(path: Path, sql: str, repeats: int) -> tuple[float, int]:
    conn = sqlite3.connect(path)
    now = iso(time.time())
    found = len(conn.execute(sql, (now, 10**9)).fetchall())
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        conn.execute(sql, (now, 10**9)).fetchall()
        timings.append(time.perf_counter() - start)
    conn.close()
    return statistics.median(timings), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", type=int, default=1_000_000, help="jobs in the large table")
    parser.add_argument("--small", type=int, default=10_000, help="jobs in the small table")
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    cases = [(args.small, 100), (args.big, 100), (args.big, 10_000)]
    results: dict[tuple[int, int], dict[str, tuple[float, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for total, overdue in cases:
            path = Path(tmp) / f"jobs-{total}-{overdue}.db"
            started = time.perf_counter()
            asyncio.run(build(path, total, overdue))
            took = time.perf_counter() - started
            print(f"built {total:,} jobs ({overdue:,} overdue) in {took:.1f} s")
            results[(total, overdue)] = {
                name: time_sweep(path, sql, args.repeats) for name, (sql, _) in SWEEPS.items()
            }
            if (total, overdue) == cases[1]:
                conn = sqlite3.connect(path)
                for name, (sql, _) in SWEEPS.items():
                    plan = " ".join(
                        r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("z", 1))
                    )
                    print(f"plan {name}: {plan}")
                conn.close()
    print()
    header = "| sweep | " + " | ".join(f"{t:,} jobs, {o:,} overdue" for t, o in cases) + " |"
    print(header)
    print("|---" * (len(cases) + 1) + "|")
    for name in SWEEPS:
        cells = []
        for case in cases:
            seconds, found = results[case][name]
            cells.append(f"{seconds * 1000:.2f} ms ({found:,} rows)")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    for name in SWEEPS:
        same_overdue = results[cases[1]][name][0] / results[cases[0]][name][0]
        more_overdue = results[cases[2]][name][0] / results[cases[1]][name][0]
        print(
            f"{name}: table x{args.big // args.small}, same overdue -> time x{same_overdue:.2f};"
            f" overdue x100, same table -> time x{more_overdue:.1f}"
        )


if __name__ == "__main__":
    main()
