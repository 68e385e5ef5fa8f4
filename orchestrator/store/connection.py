"""The SQLite plumbing under ``SQLiteStore``: its connections, and the lifecycle that opens them.

Writes go through one writer thread that owns the only write connection (the datasette
pattern). Calls that arrive while a transaction is being written wait and are then written
together, each in its own savepoint, in one transaction: group commit. A caller's ``await``
returns only after its change is committed, so "acknowledged" means "on disk".
Reads run on worker threads, each with its own read-only connection; WAL lets them proceed
while the writer writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import sqlite_utils

from ..errors import StoreError
from ..models import now_iso
from .migrations import migrate

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 256


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


@contextlib.contextmanager
def _savepoint(conn: sqlite3.Connection) -> Iterator[None]:
    """A savepoint under a fixed name, so its statements stay in the statement cache
    (``sqlite_utils``' nested ``atomic()`` names each one afresh, so each is parsed again)."""
    conn.execute("SAVEPOINT op")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # an error may already have rolled everything back
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
        raise
    conn.execute("RELEASE op")


class _Writer(threading.Thread):
    """Owns the write connection; runs queued operations in batched transactions."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(name="clipwire-store-writer", daemon=True)
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.queue: queue.SimpleQueue[
            tuple[Op, asyncio.AbstractEventLoop, asyncio.Future[Any]] | None
        ] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                break
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._write(batch)
            if stop:
                break
        self.conn.close()

    def _write(
        self, batch: list[tuple[Op, asyncio.AbstractEventLoop, asyncio.Future[Any]]]
    ) -> None:
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            with self.db.atomic():
                for op, _, _ in batch:
                    try:
                        with _savepoint(self.conn):  # one failing op spoils no other
                            outcomes.append((op(self.conn), None))
                    except sqlite3.Error as db_error:  # translated at the boundary
                        outcomes.append((None, StoreError(f"database write failed: {db_error}")))
                    except Exception as op_error:  # handed to the caller, below
                        outcomes.append((None, op_error))
        except sqlite3.Error as commit_error:  # the commit failed: nothing in the batch holds
            failure = StoreError(f"database write failed: {commit_error}")
            outcomes = [(None, failure)] * len(batch)
        # One wake-up per event loop for the whole batch, not one per caller.
        settled: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for (_, loop, future), (result, failed) in zip(batch, outcomes, strict=True):
            settled.setdefault(loop, []).append((future, result, failed))
        for loop, items in settled.items():
            loop.call_soon_threadsafe(_settle, items)


_Outcome = tuple[asyncio.Future[Any], Any, BaseException | None]


def _settle(items: list[_Outcome]) -> None:
    for future, result, error in items:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class SQLiteConnection:
    """One SQLite file, in WAL mode, created readable by its owner only: opened and closed,
    written through the writer thread, read on per-thread read-only connections. The query
    classes build on this; ``SQLiteStore`` composes them."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self._writer: _Writer | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    # lifecycle

    async def open(self) -> list[str]:
        """Create or migrate the database and start the writer; return the migrations applied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            conn = _connect(self.path)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            applied = migrate(conn, now_iso())
        except sqlite3.Error as error:
            raise StoreError(f"cannot open database {self.path}: {error}") from error
        self._writer = _Writer(conn)
        self._writer.start()
        return applied

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.queue.put(None)
            await anyio.to_thread.run_sync(self._writer.join)
            self._writer = None
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    # plumbing

    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise StoreError("the store is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._writer.queue.put((op, loop, future))
        return await future

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, readonly=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    async def _read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            try:
                return op(self._reader())
            except sqlite3.Error as error:
                raise StoreError(f"database read failed: {error}") from error

        return await anyio.to_thread.run_sync(run)
