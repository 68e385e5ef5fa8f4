"""Webhook-ingest benchmark: clipwire's ``POST /hooks/{provider}/{token}`` against a bare endpoint.

In one run, each as its own uvicorn process with the same settings (``bench_servers.UVICORN``):

1. ``trivial``: a canned-answer asyncio server, to show the load generator's own ceiling;
2. ``bare``: a Starlette endpoint that reads the body and answers 200, storing nothing;
3. ``clipwire``: the real app on a fresh data dir, once per ``--sync`` mode (FULL, NORMAL).

The jobs the webhooks speak of are made before the server starts, through the store API and
the same calls the worker makes when a provider accepts a task (create, set the task id, move
to ``submitted``); their tokens are signed with the server's secret. Every request is a distinct
sim webhook (``queued``, ``running``, ``success`` per job), so none is a duplicate. The load
generator (``bench_client.py``) sends them over 32 keep-alive connections and reports its own
CPU use. Afterwards the events in the database are counted and compared with the 2xx answers.
Only 127.0.0.1 is used, and every phase is bounded in time and in requests.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.callbacks import CallbackSigner
from orchestrator.models import iso, new_job_id, parse_job_request
from orchestrator.states import JobState
from orchestrator.store import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
DOC = ROOT / "docs" / "BENCHMARKS.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
STATUSES = ("queued", "running", "success")
BLOCK = 1000  # jobs per block: all their queued, then running, then success webhooks
DRAIN_LIMIT = 60.0


@dataclass
class Result:
    name: str
    round: int = 0
    rate: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    unanswered: int = 0
    server_cpu: float = 0.0  # share of one core during the load
    client_cpu: float = 0.0
    ran_out: bool = False
    stored: int | None = None  # events in the database once the load ended
    stored_after: int | None = None  # and after the server shut down
    waiting: int | None = None  # of those, not yet applied by the worker when the load ended
    drain_seconds: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def acked(self) -> int:
        return sum(n for code, n in self.statuses.items() if code.startswith("2"))


# setup


async def make_jobs(db_path: Path, count: int) -> list[tuple[str, str]]:
    """``count`` sim jobs in ``submitted``, as after a real submission; ``(job_id, task_id)``."""
    store = SQLiteStore(db_path, synchronous="NORMAL")
    await store.open()
    request = parse_job_request(
        {"provider": "sim", "prompt": "a red fox in the snow", "actions": []}, providers=("sim",)
    )

    deadline = iso(time.time() + 24 * 3600)  # far beyond the benchmark

    async def one() -> tuple[str, str]:
        job, _ = await store.create_job(
            new_job_id(), request, public_url="http://127.0.0.1", deadline_at=deadline
        )
        task_id = f"sim-{secrets.token_hex(8)}"
        await store.set_provider_task(job.id, task_id)
        await store.transition(
            job.id, JobState.PENDING, JobState.SUBMITTED, reason="provider accepted the task"
        )
        return job.id, task_id

    jobs: list[tuple[str, str]] = []
    try:
        while len(jobs) < count:
            jobs += await asyncio.gather(*(one() for _ in range(min(500, count - len(jobs)))))
    finally:
        await store.close()
    return jobs


def webhook(token: str, task_id: str, status: str) -> bytes:
    body: dict[str, Any] = {"task_id": task_id, "status": status}
    if status == "success":
        body["video_url"] = f"https://video.example.com/files/{task_id}.mp4"
    raw = json.dumps(body).encode()
    head = (
        f"POST /hooks/sim/{token} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        f"user-agent: clipwire-bench/1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(raw)}\r\n\r\n"
    )
    return head.encode() + raw


def write_requests(path: Path, jobs: list[tuple[str, str]], signer: CallbackSigner) -> int:
    tokens = [(signer.token_for("sim", job_id), task_id) for job_id, task_id in jobs]
    count = 0
    with path.open("wb") as out:
        for first in range(0, len(tokens), BLOCK):
            for status in STATUSES:
                for token, task_id in tokens[first : first + BLOCK]:
                    request = webhook(token, task_id, status)
                    out.write(struct.pack(">I", len(request)) + request)
                    count += 1
    return count


# one measurement


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def wait_ready(port: int, server: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited early with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not become ready")


def start_server(kind: str, log: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen(
        [sys.executable, str(HERE / "bench_servers.py"), kind, *extra],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        cwd=ROOT,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line.strip().isdigit():
        server.kill()
        raise SystemExit(f"{kind} server did not start; see {log}")
    return server, int(line)


def stop_server(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def load(port: int, requests: Path, args: argparse.Namespace, repeat: bool) -> list[dict[str, Any]]:
    procs = args.client_procs
    clients = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "bench_client.py"),
                f"--port={port}",
                f"--requests={requests}",
                f"--connections={args.connections // procs}",
                f"--duration={args.duration}",
                f"--warmup={args.warmup}",
                f"--slice={k}/{procs}",
                *(["--repeat"] if repeat else []),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(procs)
    ]
    return [json.loads(client.communicate()[0]) for client in clients]


def summarise(result: Result, reports: list[dict[str, Any]], server_cpu: float) -> None:
    latencies = sorted(n for report in reports for n in report["latencies_us"])
    result.rate = sum(r["in_window"] / r["window_seconds"] for r in reports)
    if latencies:
        result.p50_ms = latencies[int(0.50 * (len(latencies) - 1))] / 1000
        result.p99_ms = latencies[int(0.99 * (len(latencies) - 1))] / 1000
    for report in reports:
        for code, n in report["statuses"].items():
            result.statuses[code] = result.statuses.get(code, 0) + n
        result.unanswered += report["unanswered"]
        result.errors += report["errors"]
        result.ran_out |= report["ran_out"]
    wall = max(r["wall_seconds"] for r in reports)
    result.client_cpu = sum(r["cpu_seconds"] for r in reports) / wall
    result.server_cpu = server_cpu / wall


def measure(
    result: Result, kind: str, requests: Path, work: Path, args: argparse.Namespace, *extra: str
) -> Result:
    slug = f"{result.name.replace(' ', '-')}-{result.round}"
    server, port = start_server(kind, work / f"{slug}.log", *extra)
    try:
        wait_ready(port, server)
        before = cpu_seconds(server.pid)
        # Only clipwire stores what it receives; the others may see a request twice.
        reports = load(port, requests, args, repeat=kind != "clipwire")
        summarise(result, reports, cpu_seconds(server.pid) - before)
        if kind == "clipwire":
            db = work / slug / "clipwire.db"
            result.stored = count(db, "SELECT COUNT(*) FROM events")
            result.waiting = count(db, "SELECT COUNT(*) FROM events WHERE applied_at IS NULL")
            started = time.monotonic()
            while time.monotonic() - started < DRAIN_LIMIT:
                if not count(db, "SELECT COUNT(*) FROM events WHERE applied_at IS NULL"):
                    result.drain_seconds = time.monotonic() - started
                    break
                time.sleep(0.2)
    finally:
        stop_server(server)
    if kind == "clipwire":
        result.stored_after = count(db, "SELECT COUNT(*) FROM events")
    return result


# the report


def commit() -> str:
    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True).stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = git("status", "--porcelain", "--", "receiver", "orchestrator").strip()
    return f"{head} (with uncommitted changes)" if dirty else head


def bare_of(results: list[Result], result: Result) -> Result:
    return next(r for r in results if r.name == "bare" and r.round == result.round)


def table(results: list[Result]) -> list[str]:
    rows = [
        "| round | server | req/s | p50 ms | p99 ms | vs bare | req per CPU-s | 2xx acked"
        " | events stored | server CPU | client CPU |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        stored = "-" if r.stored is None else f"{r.stored}"
        ratio = "-" if r.name == "trivial" else f"{r.rate / bare_of(results, r).rate:.0%}"
        per_cpu = r.rate / r.server_cpu if r.server_cpu else 0
        rows.append(
            f"| {r.round} | {r.name} | {r.rate:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f}"
            f" | {ratio} | {per_cpu:,.0f} | {r.acked} | {stored}"
            f" | {r.server_cpu:.0%} | {r.client_cpu:.0%} |"
        )
    return rows


def ratios(results: list[Result]) -> list[str]:
    """Each clipwire mode against the bare endpoint measured just before it, per round."""
    lines = []
    for name in dict.fromkeys(r.name for r in results if r.name.startswith("clipwire")):
        mine = [r for r in results if r.name == name]
        each = sorted(r.rate / bare_of(results, r).rate for r in mine)
        listed = ", ".join(f"{x:.0%}" for x in each)
        lines.append(
            f"- **{name}: {statistics.median(each):.0%} of the bare endpoint's throughput**"
            f" (median of {len(each)} rounds: {listed})"
        )
    return lines


def notes(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        if r.stored is not None:
            verdict = "every acknowledged event is stored" if r.stored == r.acked else "MISMATCH"
            drained = (
                f"drained {r.drain_seconds:.1f} s after the load"
                if r.drain_seconds is not None
                else f"not drained within {DRAIN_LIMIT:.0f} s"
            )
            lines.append(
                f"- {r.name} (round {r.round}): {r.acked} answered 2xx, {r.stored} events in"
                f" the database ({r.stored_after} after shutdown): {verdict}. When the load"
                f" stopped the worker had {r.waiting} events still to apply; {drained}."
            )
        bad = {c: n for c, n in r.statuses.items() if not c.startswith("2")}
        if bad or r.unanswered or r.errors:
            lines.append(f"- {r.name}: non-2xx {bad}, unanswered {r.unanswered}, {r.errors[:2]}")
        if r.ran_out:
            lines.append(f"- {r.name}: ran out of requests before the time was up")
    return lines


def report(results: list[Result], args: argparse.Namespace, load_before: float) -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return [
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit()}, "
        f"{os.cpu_count()} cores ({cpu}), load average {load_before:.2f} before the run"
        " (the cores are shared with other work).",
        "",
        f"Settings: {args.rounds} rounds of bare then clipwire (each --sync mode),"
        f" {args.connections} connections over {args.client_procs} load-generator"
        f" process(es), {args.duration:g} s per server of which the first {args.warmup:g} s"
        f" are warm-up; uvicorn loop=asyncio http=h11, one worker, access log off, logs at"
        f" warning; clipwire log level {args.log_level}; Python {platform.python_version()}.",
        "",
        *table(results),
        "",
        *ratios(results),
        *notes(results),
    ]


def write_doc(lines: list[str]) -> None:
    block = "\n".join([START, *lines, END])
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n\n"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per server")
    parser.add_argument("--rounds", type=int, default=2, help="bare/clipwire pairs, interleaved")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds left out of figures")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--client-procs", type=int, default=1)
    parser.add_argument(
        "--requests", type=int, default=60000, help="most webhooks per clipwire run"
    )
    parser.add_argument("--sync", default="FULL,NORMAL", help="clipwire PRAGMA synchronous modes")
    parser.add_argument("--log-level", default="warning", help="clipwire's log level")
    parser.add_argument("--no-write", action="store_true", help=f"do not update {DOC.name}")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, dbs)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="clipwire-bench-"))
    try:
        secret = secrets.token_urlsafe(32)
        started = time.monotonic()
        template = work / "template" / "clipwire.db"
        jobs = asyncio.run(make_jobs(template, -(-args.requests // len(STATUSES))))
        requests = work / "requests.bin"
        total = write_requests(requests, jobs, CallbackSigner(secret, 48 * 3600))
        print(f"setup: {len(jobs)} jobs, {total} webhooks in {time.monotonic() - started:.1f} s")
        calibration = argparse.Namespace(**{**vars(args), "duration": 5.0, "warmup": 1.0})
        results = [measure(Result("trivial"), "trivial", requests, work, calibration)]
        for round_ in range(1, args.rounds + 1):
            results.append(measure(Result("bare", round_), "bare", requests, work, args))
            for mode in args.sync.upper().split(","):
                result = Result(f"clipwire {mode}", round_)
                data = work / f"clipwire-{mode}-{round_}"
                data.mkdir()
                shutil.copy(template, data / "clipwire.db")
                results.append(
                    measure(
                        result,
                        "clipwire",
                        requests,
                        work,
                        args,
                        f"--data-dir={data}",
                        f"--secret-key={secret}",
                        f"--synchronous={mode}",
                        f"--log-level={args.log_level}",
                    )
                )
        lines = report(results, args, load_before)
        print("\n".join(lines))
        if not args.no_write:
            write_doc(lines)
            print(f"wrote {DOC.relative_to(ROOT)}")
        if any(r.stored is not None and r.stored != r.acked for r in results):
            raise SystemExit("acknowledged and stored events differ")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
