"""Which base URL providers call us back on: configured, an ngrok tunnel to our port, loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from orchestrator.public_url import PublicURLResolver, tunnel_from_ngrok

PORT = 8700
LOCAL = f"http://127.0.0.1:{PORT}"
NGROK_API = "http://127.0.0.1:4040/api"


def tunnel(public_url: str, addr: str) -> dict[str, Any]:
    """One entry of ngrok's ``GET /api/tunnels`` answer."""
    proto = public_url.split(":")[0]
    return {"public_url": public_url, "proto": proto, "config": {"addr": addr, "inspect": True}}


@pytest.mark.parametrize(
    "addr", ["8700", "localhost:8700", "http://localhost:8700", "https://127.0.0.1:8700"]
)
def test_the_https_tunnel_to_our_port_is_chosen(addr: str) -> None:
    payload = {
        "tunnels": [
            tunnel("https://other.ngrok.app", "http://localhost:9000"),
            tunnel("http://ours.ngrok.app", addr),
            tunnel("https://ours.ngrok.app/", addr),
        ]
    }
    assert tunnel_from_ngrok(payload, PORT) == "https://ours.ngrok.app"


@pytest.mark.parametrize(
    "payload",
    [
        {"tunnels": [tunnel("https://other.ngrok.app", "localhost:9000")]},
        {"tunnels": [tunnel("http://ours.ngrok.app", "8700")]},
        {"tunnels": [tunnel("https://ours.ngrok.app", "localhost:87000")]},
        {"tunnels": [tunnel("https://ours.ngrok.app", "unix:///tmp/sock")]},
        {"tunnels": [{"public_url": "https://ours.ngrok.app"}]},
        {"tunnels": ["https://ours.ngrok.app"]},
        {"tunnels": []},
        {"tunnels": None},
        {},
        [],
    ],
)
def test_no_tunnel_to_our_port_means_none(payload: object) -> None:
    assert tunnel_from_ngrok(payload, PORT) is None


Handler = Callable[[httpx.Request], httpx.Response]
ClientFor = Callable[[Handler], httpx.AsyncClient]


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFor]:
    """Real httpx clients whose transport is ``handler`` (closed after the test)."""
    clients: list[httpx.AsyncClient] = []

    def make(handler: Handler) -> httpx.AsyncClient:
        clients.append(httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


def resolver(client: httpx.AsyncClient, configured: str | None = None) -> PublicURLResolver:
    return PublicURLResolver(
        configured=configured, ngrok_api=NGROK_API, local_url=LOCAL, port=PORT, client=client
    )


class FakeNgrok:
    """The ngrok agent's local API, answering ``GET /api/tunnels``."""

    def __init__(self, tunnels: list[dict[str, Any]], status: int = 200) -> None:
        self.tunnels = tunnels
        self.status = status
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        assert str(request.url) == f"{NGROK_API}/tunnels"
        return httpx.Response(self.status, json={"tunnels": self.tunnels, "uri": "/api/tunnels"})


@pytest.mark.anyio
async def test_the_ngrok_tunnel_is_used_and_asked_for_once(client_for: ClientFor) -> None:
    ngrok = FakeNgrok([tunnel("https://ours.ngrok.app", "http://localhost:8700")])
    found = resolver(client_for(ngrok))
    first, again = await found.resolve(), await found.resolve()
    assert (first.url, first.source, first.reachable_from_internet) == (
        "https://ours.ngrok.app",
        "ngrok",
        True,
    )
    assert again == first
    assert ngrok.calls == 1  # cached for its ttl


@pytest.mark.anyio
async def test_a_configured_url_wins_over_ngrok(client_for: ClientFor) -> None:
    ngrok = FakeNgrok([tunnel("https://ours.ngrok.app", "8700")])
    found = await resolver(client_for(ngrok), "https://hooks.example.com/").resolve()
    assert (found.url, found.source) == ("https://hooks.example.com", "configured")
    assert ngrok.calls == 0


@pytest.mark.anyio
async def test_without_ngrok_it_falls_back_to_loopback(client_for: ClientFor) -> None:
    def absent(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    found = await resolver(client_for(absent)).resolve()
    assert (found.url, found.source, found.reachable_from_internet) == (LOCAL, "loopback", False)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(502, text="bad gateway"),
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, json={"tunnels": [tunnel("https://x.ngrok.app", "9000")]}),
    ],
    ids=["5xx", "not-json", "other-port"],
)
@pytest.mark.anyio
async def test_an_ngrok_without_our_tunnel_means_loopback(
    client_for: ClientFor, answer: httpx.Response
) -> None:
    found = await resolver(client_for(lambda request: answer)).resolve()
    assert (found.url, found.source) == (LOCAL, "loopback")
