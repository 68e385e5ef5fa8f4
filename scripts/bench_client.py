"""The load generator of ``scripts/bench``: keep-alive HTTP/1.1 over raw asyncio sockets.

Run in its own process by ``scripts/bench.py``. It reads pre-built request bytes from a file
(each a 4-byte big-endian length, then the request), opens ``--connections`` connections to
127.0.0.1 and keeps exactly one request in flight on each (a closed loop, no pipelining),
sending every request at most once (``--repeat`` cycles through them, for servers that store
nothing). It stops sending after ``--duration`` seconds or when the
requests run out, waits (bounded) for the answers still in flight, and prints one JSON object:
status counts, the latencies of the answers that arrived inside the measured window (after
``--warmup``), and its own CPU time, to show that it was not the bottleneck.

There is no HTTP library on the hot path: one ``transport.write`` per request and a parser that
only looks for the end of the head and ``content-length``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import struct
import time
from pathlib import Path

DRAIN_SECONDS = 30.0


def load_requests(path: Path, start: int, step: int) -> list[bytes]:
    data = path.read_bytes()
    requests, offset = [], 0
    while offset < len(data):
        (size,) = struct.unpack_from(">I", data, offset)
        requests.append(data[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return requests[start::step]


def _content_length(head: bytes) -> int:
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = head.find(b"\r\n", at + 2)
    return int(head[at + 17 : end if end >= 0 else len(head)])


class Run:
    """The shared state of one load run: which request is next, and what came back."""

    def __init__(self, requests: list[bytes], duration: float, warmup: float, repeat: bool) -> None:
        self.requests = requests
        self.repeat = repeat
        self.next = 0
        self.statuses: dict[int, int] = {}
        self.latencies: list[int] = []  # ns, requests sent and answered inside the window
        self.in_window = 0  # answers that arrived inside the measured window
        self.unanswered = 0
        self.errors: list[str] = []
        self.open = 0
        self.finished = asyncio.get_running_loop().create_future()
        now = time.perf_counter_ns()
        self.started = now
        self.window_start = now + int(warmup * 1e9)
        self.stop = now + int(duration * 1e9)
        self.stopped_at: int | None = None

    def take(self) -> bytes | None:
        ran_out = self.next >= len(self.requests) and not self.repeat
        if ran_out or time.perf_counter_ns() >= self.stop:
            if self.stopped_at is None:
                self.stopped_at = time.perf_counter_ns()
            return None
        request = self.requests[self.next % len(self.requests)]
        self.next += 1
        return request

    def answered(self, status: int, sent: int, now: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if self.window_start <= now <= self.stop:
            self.in_window += 1
            if self.window_start <= sent:
                self.latencies.append(now - sent)

    def closed(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.finished.done():
            self.finished.set_result(None)


class Connection(asyncio.Protocol):
    def __init__(self, run: Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.sent = 0  # perf_counter_ns of the request in flight; 0 when idle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.run.open += 1

    def send_next(self) -> None:
        assert self.transport is not None
        request = self.run.take()
        if request is None:
            self.sent = 0
            self.transport.close()
            return
        self.sent = time.perf_counter_ns()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            self.buffer = buffer
            return
        end = head_end + 4 + _content_length(buffer[:head_end].lower())
        if len(buffer) < end:
            self.buffer = buffer
            return
        self.buffer = buffer[end:]
        self.run.answered(int(buffer[9:12]), self.sent, time.perf_counter_ns())
        self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.sent:
            self.run.unanswered += 1
            self.run.errors.append(f"connection lost with a request in flight: {exc!r}")
            self.sent = 0
        self.run.closed()


async def drive(
    port: int,
    requests: list[bytes],
    connections: int,
    duration: float,
    warmup: float,
    repeat: bool,
) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    run = Run(requests, duration, warmup, repeat)
    opened = [
        (await loop.create_connection(lambda: Connection(run), "127.0.0.1", port))[1]
        for _ in range(connections)
    ]
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    run.started = time.perf_counter_ns()
    run.window_start = run.started + int(warmup * 1e9)
    run.stop = run.started + int(duration * 1e9)
    for connection in opened:
        connection.send_next()
    try:
        await asyncio.wait_for(asyncio.shield(run.finished), duration + DRAIN_SECONDS)
    except TimeoutError:
        for connection in opened:
            if connection.transport is not None:
                connection.transport.abort()
        await asyncio.sleep(0.1)
    ended = time.perf_counter_ns()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    stopped = run.stopped_at or ended
    window = (min(stopped, run.stop) - run.window_start) / 1e9
    return {
        "sent": run.next,
        "statuses": {str(k): v for k, v in sorted(run.statuses.items())},
        "unanswered": run.unanswered,
        "errors": run.errors[:5],
        "window_seconds": window,
        "in_window": run.in_window,
        "latencies_us": [n // 1000 for n in run.latencies],
        "wall_seconds": (ended - run.started) / 1e9,
        "cpu_seconds": cpu,
        "ran_out": run.next >= len(requests) and not repeat,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=12.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument(
        "--repeat", action="store_true", help="cycle through the requests (nothing stores them)"
    )
    parser.add_argument("--slice", default="0/1", help="k/n: take every n-th request from k")
    args = parser.parse_args()
    start, step = (int(part) for part in args.slice.split("/"))
    requests = load_requests(args.requests, start, step)
    result = asyncio.run(
        drive(args.port, requests, args.connections, args.duration, args.warmup, args.repeat)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
