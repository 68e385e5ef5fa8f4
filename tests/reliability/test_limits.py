"""Hostile input at the edge: slow bodies, big bodies, deep JSON, wrong content types, huge
headers. Each is refused with a clear status, none changes a job, and the server stays up.

The real app is served by uvicorn on a loopback port; the hostile requests are written on raw
sockets, so that nothing in a client library tidies them up first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import LiveApp, live_app

from .snapshot import changed_rows, snapshot

pytestmark = pytest.mark.anyio

BODY_TIMEOUT = 0.5
MAX_BODY = 64 * 1024
SILENT_JOB = {"provider_options": {"silent": True}, "actions": []}


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[tuple[LiveApp, str]]:
    """The live app with short limits, and the hook path of one submitted (silent) job."""
    async with live_app(
        tmp_path / "data", body_timeout=BODY_TIMEOUT, max_body_bytes=MAX_BODY
    ) as live:
        job = await live.submit(**SILENT_JOB)
        await live.wait_for(job["id"], lambda j: j["state"] == "submitted")
        token = live.clipwire.signer.token_for("sim", job["id"])
        yield live, f"/hooks/sim/{token}"


class RawResponse:
    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines)
        }

    def json(self) -> Any:
        return json.loads(self.body)


async def exchange(
    url: str, head: bytes, chunks: Sequence[bytes] = (), pause: float = 0.0
) -> RawResponse:
    """Write ``head``, then each chunk ``pause`` seconds apart until the server starts to
    answer, and read the answer until the server closes the connection.

    A server that closes with unread bytes in its socket resets the connection; what had
    arrived before the reset is kept, so the answer is still seen.
    """
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    received: list[bytes] = []
    answering = asyncio.Event()

    async def read_all() -> None:
        with contextlib.suppress(ConnectionResetError):
            while data := await reader.read(65536):
                received.append(data)
                answering.set()

    reading = asyncio.create_task(read_all())
    try:
        writer.write(head)
        await writer.drain()
        for chunk in chunks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answering.wait(), pause)
            if answering.is_set():
                break
            writer.write(chunk)
            await writer.drain()
        await asyncio.wait_for(reading, 10)
    finally:
        reading.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    if not received:
        raise ConnectionResetError("the server closed the connection without an answer")
    return RawResponse(b"".join(received))


def request_head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def still_serving(live: LiveApp) -> None:
    assert (await live.client.get("/healthz")).json()["status"] == "ok"


@pytest.mark.parametrize("route", ["hook", "api"])
async def test_a_trickled_body_is_cut_off_with_408(route: str, edge: tuple[LiveApp, str]) -> None:
    live, hook = edge
    path = hook if route == "hook" else "/v1/jobs"
    before = snapshot(live.settings.db_path)
    body = json.dumps({"status": "success", "prompt": "x"}).encode()
    head = request_head(
        path, {"Content-Type": "application/json", "Content-Length": str(len(body) + 50)}
    )
    head += body[:10]
    # then a byte every 0.2 s: an idle timeout would never fire; the body's deadline does
    response = await exchange(live.url, head, [b" "] * 50, pause=0.2)
    assert response.status == 408
    assert response.json()["error"]["code"] == "request_timeout"
    assert response.headers["connection"] == "close"
    assert changed_rows(before, snapshot(live.settings.db_path)) == {}
    await still_serving(live)


def post_head(path: str, body: bytes, **extra: str) -> bytes:
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), **extra}
    return request_head(path, headers) + body


@pytest.mark.parametrize("route", ["hook", "api"])
async def test_a_body_over_the_cap_is_refused_with_413(
    route: str, edge: tuple[LiveApp, str]
) -> None:
    live, hook = edge
    path = hook if route == "hook" else "/v1/jobs"
    before = snapshot(live.settings.db_path)
    big = b'{"prompt": "' + b"x" * MAX_BODY + b'"}'
    # declared: refused on the header alone, before any of the body is sent
    declared = await exchange(
        live.url,
        request_head(path, {"Content-Type": "application/json", "Content-Length": str(len(big))}),
    )
    # chunked: refused once the chunks read so far pass the cap
    chunked = await exchange(
        live.url,
        request_head(path, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}),
        [b"%x\r\n%s\r\n" % (len(part), part) for part in (big[:40_000], big[40_000:])]
        + [b"0\r\n\r\n"],
        pause=0.05,
    )
    for response in (declared, chunked):
        assert response.status == 413
        assert response.json()["error"]["code"] == "payload_too_large"
    assert changed_rows(before, snapshot(live.settings.db_path)) == {}
    await still_serving(live)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[" * 33 + b"]" * 33, "malformed_json"),  # not an object at all
        (b'{"a":' * 33 + b"1" + b"}" * 33, "too_deep"),
        (b'{"a":' + b"[" * 30_000 + b"]" * 30_000 + b"}", "malformed_json"),  # past recursion
        (b"", "empty_body"),
        (b"\xff\xfe{", "malformed_json"),
        (b'{"status": "success", "status": NaN', "malformed_json"),
    ],
)
async def test_bad_json_is_refused_with_400(
    body: bytes, code: str, edge: tuple[LiveApp, str]
) -> None:
    live, hook = edge
    before = snapshot(live.settings.db_path)
    for path in (hook, "/v1/jobs"):
        response = await live.client.post(
            path, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == code
    assert changed_rows(before, snapshot(live.settings.db_path)) == {}


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "json",
        "application/xml",
        "*/*",
    ],
)
async def test_a_body_that_is_not_declared_json_is_refused_with_415(
    content_type: str | None, edge: tuple[LiveApp, str]
) -> None:
    live, hook = edge
    before = snapshot(live.settings.db_path)
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps({"status": "success", "prompt": "a red fox"}).encode()
    for path in (hook, "/v1/jobs"):
        response = await live.client.post(path, content=body, headers=headers)
        assert response.status_code == 415, response.text
        assert response.json()["error"]["code"] == "unsupported_media_type"
    assert changed_rows(before, snapshot(live.settings.db_path)) == {}


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Big": "a" * 20_000},  # one long header
        {"X-Big": "a" * 100_000},
        {f"X-H{i}": "b" * 100 for i in range(300)},  # many ordinary ones
    ],
    ids=["20k", "100k", "300x100"],
)
async def test_headers_over_16k_are_refused_with_431(
    headers: dict[str, str], edge: tuple[LiveApp, str]
) -> None:
    """uvicorn lets these through when the block arrives in one read; ``HeaderLimit`` does not."""
    live, hook = edge
    before = snapshot(live.settings.db_path)
    for path in (hook, "/v1/jobs"):
        response = await exchange(live.url, post_head(path, b"{}", **headers))
        assert response.status == 431
        assert response.json()["error"]["code"] == "headers_too_large"
    assert changed_rows(before, snapshot(live.settings.db_path)) == {}
    await still_serving(live)


async def test_a_header_block_past_a_socket_read_gets_uvicorns_plain_400(
    edge: tuple[LiveApp, str],
) -> None:
    """Past what one read brings in (256 KiB), h11 sees an incomplete block over its 16 KiB
    cap: uvicorn answers a plain-text 400 (not JSON) and closes; a client still writing may
    see only the reset."""
    live, hook = edge
    before = snapshot(live.settings.db_path)
    head = request_head(hook, {"Content-Type": "application/json", "X-Big": "a" * 1024 * 1024})
    try:
        response = await exchange(live.url, head)
    except ConnectionResetError:
        pass
    else:
        assert response.status == 400
        assert response.headers["content-type"].startswith("text/plain")
    assert changed_rows(before, snapshot(live.settings.db_path)) == {}
    await still_serving(live)


async def test_headers_under_the_cap_still_pass(edge: tuple[LiveApp, str]) -> None:
    live, _ = edge
    response = await exchange(
        live.url, request_head("/healthz", {"X-Some": "a" * 8000}).replace(b"POST", b"GET", 1)
    )
    assert response.status == 200
