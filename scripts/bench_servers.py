"""The servers ``scripts/bench`` measures, each started as its own process.

    bare      a Starlette app whose ``POST /hooks/{provider}/{token}`` reads the body and
              answers 200 with a small JSON body, storing nothing
    clipwire  the real app, ``receiver.create_app(Settings(...))``, on a prepared data dir
    trivial   a canned answer from a raw asyncio server (no HTTP framework): it shows how fast
              the load generator can go, so that it is known not to be the limit

``bare`` and ``clipwire`` run under identical uvicorn settings (``UVICORN``). The process binds
a free loopback port itself and prints it as its first line of output.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.config import Settings
from orchestrator.logs import configure_logging
from receiver import create_app

# One process, one worker, the pure-Python stack every install has (no uvloop/httptools extras),
# no access log, uvicorn's own logs at warning.
UVICORN: dict[str, Any] = {
    "loop": "asyncio",
    "http": "h11",
    "workers": 1,
    "access_log": False,
    "log_level": "warning",
    "timeout_graceful_shutdown": 5,
}


def bind() -> socket.socket:
    """A loopback listening socket with a free port.

    Made with ``IPPROTO_TCP`` so that asyncio sets ``TCP_NODELAY`` on the connections it
    accepts, as it does when uvicorn binds ``--host``/``--port`` itself (``clipwire serve``);
    with protocol 0 it does not, and every small response waits ~40 ms on a delayed ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    return sock


def bare_app() -> Starlette:
    async def hook(request: Request) -> Response:
        await request.body()
        return JSONResponse({"status": "ok"})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/hooks/{provider}/{token}", hook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


class _Canned(asyncio.Protocol):
    ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            at = head.find(b"\r\ncontent-length:")
            length = 0
            if at >= 0:
                end = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : end if end >= 0 else len(head)])
            if len(self.buffer) < head_end + 4 + length:
                return
            self.buffer = self.buffer[head_end + 4 + length :]
            self.transport.write(self.ANSWER)


async def serve_trivial() -> None:
    sock = bind()
    server = await asyncio.get_running_loop().create_server(_Canned, sock=sock)
    print(sock.getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["bare", "clipwire", "trivial"])
    parser.add_argument("--data-dir", type=Path, help="clipwire: the prepared data dir")
    parser.add_argument("--secret-key", help="clipwire: the key the bench tokens are signed with")
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--log-level", default="warning", help="clipwire's own log level")
    args = parser.parse_args()
    if args.kind == "trivial":
        asyncio.run(serve_trivial())
        return
    sock = bind()
    port = sock.getsockname()[1]
    if args.kind == "bare":
        app: Starlette = bare_app()
    else:
        settings = Settings(
            data_dir=args.data_dir,
            port=port,
            public_url=f"http://127.0.0.1:{port}",
            secret_key=args.secret_key,
            log_format="json",
            log_level=args.log_level,
            sim_enabled=True,  # registers the ``sim`` provider; its server stays idle
            db_synchronous=args.synchronous,
        )
        configure_logging(log_format=settings.log_format, level=settings.log_level)
        app = create_app(settings)
    config = uvicorn.Config(app, **UVICORN)
    print(port, flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
