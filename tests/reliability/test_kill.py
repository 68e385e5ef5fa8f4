"""Kill -9 the real server in the middle of a stream of callbacks, restart it, and check that
nothing acknowledged was lost, nothing was applied twice, and no notification went out twice
except in the at-least-once window the idempotency key exists for.

The server runs as its own process (``python -m orchestrator serve``) on a loopback port.
200 simulator jobs are told to stay silent, so every callback comes from this test: each
job's ``running`` and ``success`` event, each sent several times, shuffled, from several
concurrent clients. When 40 % of the deliveries have been acknowledged the server gets
SIGKILL; it is then restarted on the same data directory and every delivery that did not get
a 2xx is sent again. Each finished job notifies a receiver in this test, which records the
``Idempotency-Key`` of every POST it gets.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orchestrator.callbacks import CallbackSigner
from orchestrator.serving import bind, running

from .snapshot import record_figures

pytestmark = pytest.mark.anyio

JOBS = 200
COPIES = 8  # each event is delivered this many times: 200 jobs x 2 events x 8 = 3200
CLIENTS = 8
KILL_AFTER = 0.4  # the share of deliveries acknowledged when the server is killed
NOTIFY_SECONDS = 0.2  # how long the notify receiver takes to answer
SETTLE_SECONDS = 30.0  # an upper bound on waiting, never a pass condition
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """``python -m orchestrator serve`` as a child process, on a fixed data dir and port."""

    def __init__(self, data_dir: Path, port: int, log: Path) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        env = {
            **os.environ,
            "CLIPWIRE_DATA_DIR": str(self.data_dir),
            "CLIPWIRE_PORT": str(self.port),
            "CLIPWIRE_PUBLIC_URL": self.url,
            "CLIPWIRE_LOG_LEVEL": "warning",
            "CLIPWIRE_LOG_FORMAT": "json",
            "CLIPWIRE_CALLBACK_GRACE": "3600",  # the reconciler must not answer for the test
        }
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "orchestrator", "serve"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:
            for _ in range(400):  # up to ~20 s
                if self.process.poll() is not None:
                    raise AssertionError(f"the server exited: {self.log.read_text()[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise AssertionError("the server did not come up")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@contextlib.contextmanager
def server_process(data_dir: Path, log: Path) -> Iterator[Server]:
    server = Server(data_dir, free_port(), log)
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def notify_receiver() -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback endpoint that records the Idempotency-Key of every notification."""
    keys: list[str] = []

    async def notified(request: Request) -> JSONResponse:
        await request.body()
        keys.append(request.headers.get("idempotency-key", ""))
        await asyncio.sleep(NOTIFY_SECONDS)  # slow enough that the kill catches some in flight
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/notify", notified, methods=["POST"])])
    async with running(app, bind(), lifespan="off") as url:
        yield f"{url}/notify", keys


class Delivery:
    def __init__(self, path: str, body: dict[str, Any]) -> None:
        self.path = path
        self.body = body
        self.status: int | None = None  # the first 2xx, once there is one
        self.event_id: int | None = None
        self.phase: int | None = None  # 1: before the kill, 2: after the restart


async def send(
    url: str,
    deliveries: list[Delivery],
    phase: int,
    kill_at: int = 0,
    kill: Callable[[], None] = lambda: None,
) -> collections.Counter[str]:
    """Send each delivery once from ``CLIENTS`` concurrent clients. With ``kill_at``, call
    ``kill()`` once that many have been acknowledged, and stop sending."""
    queue = collections.deque(deliveries)
    tally = collections.Counter[str]()
    killed = False

    async def client() -> None:
        nonlocal killed
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            while queue and not killed:
                delivery = queue.popleft()
                tally["sent"] += 1
                try:
                    response = await http.post(delivery.path, json=delivery.body)
                except httpx.TransportError:
                    tally["no_answer"] += 1
                    continue
                tally[f"http_{response.status_code}"] += 1
                if not response.is_success:
                    continue
                delivery.status = response.status_code
                delivery.event_id = response.json()["event_id"]
                delivery.phase = phase
                tally["acked"] += 1
                if kill_at and tally["acked"] >= kill_at and not killed:
                    killed = True
                    kill()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    tally["not_sent"] = len(queue)
    return tally


async def create_jobs(api: httpx.AsyncClient, notify_url: str) -> list[str]:
    request = {
        "prompt": "a paper boat at dusk",
        "provider_options": {"silent": True},
        "actions": [{"kind": "notify", "url": notify_url, "on": "finished"}],
    }
    ids: list[str] = []

    async def create(n: int) -> None:
        for _ in range(n):
            response = await api.post("/v1/jobs", json=request)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])

    await asyncio.gather(*(create(JOBS // CLIENTS) for _ in range(CLIENTS)))
    return ids


async def poll(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Call ``check()`` until it returns something true; give up after SETTLE_SECONDS."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_SECONDS
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        await asyncio.sleep(0.1)


async def submitted_tasks(api: httpx.AsyncClient, job_ids: list[str]) -> dict[str, str]:
    """Each job's provider task id, once every job has been submitted to the simulator."""

    async def check() -> dict[str, str] | None:
        jobs = (await api.get("/v1/jobs", params={"state": "submitted", "limit": 1000})).json()
        tasks = {j["id"]: j["provider_task_id"] for j in jobs["jobs"] if j["provider_task_id"]}
        return tasks if set(tasks) >= set(job_ids) else None

    result: dict[str, str] = await poll(check, "every job submitted")
    return result


async def settled(api: httpx.AsyncClient) -> bool:
    counts = (await api.get("/healthz")).json()
    return bool(
        counts.get("jobs_succeeded") == JOBS
        and counts.get("events_waiting") == 0
        and counts.get("actions_open") == 0
    )


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


async def test_kill_9_mid_stream_loses_nothing_acknowledged_and_acts_once(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    with server_process(data_dir, tmp_path / "server.log") as server:
        async with notify_receiver() as (notify_url, keys):
            await server.start()
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as api:
                job_ids = await create_jobs(api, notify_url)
                tasks = await submitted_tasks(api, job_ids)

            signer = CallbackSigner((data_dir / "secret_key").read_text().strip(), 3600)
            deliveries = [
                Delivery(f"/hooks/sim/{signer.token_for('sim', job_id)}", body)
                for job_id in job_ids
                for body in (
                    {"task_id": tasks[job_id], "status": "running"},
                    {
                        "task_id": tasks[job_id],
                        "status": "success",
                        "video_url": f"http://127.0.0.1:9/{tasks[job_id]}.mp4",
                    },
                )
                for _ in range(COPIES)
            ]
            random.Random(20240611).shuffle(deliveries)

            before = await send(
                server.url,
                deliveries,
                1,
                kill_at=int(len(deliveries) * KILL_AFTER),
                kill=server.kill,
            )
            # what the database held at the moment of the kill
            at_kill = dict(
                rows(
                    server.data_dir / "clipwire.db",
                    "SELECT state, COUNT(*) FROM actions GROUP BY state",
                )
            )
            await server.start()
            after = await send(server.url, [d for d in deliveries if d.status is None], 2)
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as api:
                await poll(lambda: settled(api), "every job succeeded, every action done")
                await asyncio.sleep(0.5)  # a notification that went out twice would show now
            server.stop()
            notified = list(keys)

    db = data_dir / "clipwire.db"
    acked = [d for d in deliveries if d.status is not None]
    acked_ids = {d.event_id for d in acked}
    stored = {r[0]: r[1:] for r in rows(db, "SELECT id, job_id, kind, applied_at FROM events")}
    timeline = collections.Counter(
        (job, state) for job, state in rows(db, "SELECT job_id, to_state FROM transitions")
    )
    actions = rows(db, "SELECT idempotency_key, state, attempts FROM actions")
    repeats = {k: n for k, n in collections.Counter(notified).items() if n > 1}
    rerun = {key for key, _, attempts in actions if attempts > 1}

    # every delivery got a 2xx in the end, and every 2xx named an event that is stored
    assert len(acked) == len(deliveries)
    lost = acked_ids - set(stored)
    assert not lost
    assert len(stored) == JOBS * 2  # one row per (job, kind): the copies were duplicates
    assert all(applied for _, _, applied in stored.values())
    # applied exactly once: one timeline row per state per job, every job succeeded
    assert max(timeline.values()) == 1
    assert {job for job, state in timeline if state == "succeeded"} == set(job_ids)
    # every notification arrived; a repeat only for an action the kill caught mid-run
    assert {key for key, state, _ in actions if state == "done"} == set(notified)
    assert len(actions) == JOBS
    assert set(repeats) <= rerun

    record_figures(
        tmp_path,
        "kill",
        {
            "jobs": JOBS,
            "deliveries": len(deliveries),
            "distinct_events": JOBS * 2,
            "requests_sent": before["sent"] + after["sent"],
            "acked_before_kill": before["acked"],
            "no_answer_at_kill": before["no_answer"],
            "not_sent_before_kill": before["not_sent"],
            "resent_after_restart": after["sent"],
            "acked_after_restart": after["acked"],
            "acked_total": len(acked),
            "events_stored": len(stored),
            "acked_events_lost": len(lost),
            "duplicate_transitions": sum(n - 1 for n in timeline.values()),
            "actions_at_kill": at_kill,
            "actions_rerun_after_restart": len(rerun),
            "notifications_received": len(notified),
            "notifications_repeated": sum(n - 1 for n in repeats.values()),
            "non_2xx_answers": sum(
                n
                for k, n in (before + after).items()
                if k.startswith("http_") and not k.startswith("http_2")
            ),
        },
    )
