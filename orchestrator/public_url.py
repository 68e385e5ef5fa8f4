"""Which base URL providers should call us back on.

In order: ``CLIPWIRE_PUBLIC_URL`` if set; else the https tunnel of a local ngrok agent whose
``config.addr`` points at our port; else loopback, which only the simulator can reach.
URLs are never rebuilt from a request's Host header.
"""

from __future__ import annotations

import dataclasses
import time
from urllib.parse import urlsplit

import httpx
import structlog

log = structlog.get_logger("clipwire.public_url")


@dataclasses.dataclass(frozen=True)
class PublicURL:
    url: str
    source: str  # "configured", "ngrok" or "loopback"

    @property
    def reachable_from_internet(self) -> bool:
        return self.source != "loopback"


def _addr_port(addr: str) -> int | None:
    """The port of an ngrok ``config.addr``: ``8700``, ``localhost:8700``, ``http://x:8700``."""
    if addr.isdigit():
        return int(addr)
    parts = urlsplit(addr if "//" in addr else f"//{addr}")
    try:
        return parts.port
    except ValueError:
        return None


def tunnel_from_ngrok(payload: object, port: int) -> str | None:
    """The https public URL of the tunnel in an ngrok ``GET /api/tunnels`` answer for ``port``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("tunnels"), list):
        return None
    for tunnel in payload["tunnels"]:
        if not isinstance(tunnel, dict):
            continue
        url = tunnel.get("public_url")
        config = tunnel.get("config")
        config = config if isinstance(config, dict) else {}
        addr = str(config.get("addr", ""))
        if isinstance(url, str) and url.startswith("https://") and _addr_port(addr) == port:
            return url.rstrip("/")
    return None


class PublicURLResolver:
    """Resolves the public base URL, asking ngrok at most every ``ttl`` seconds."""

    def __init__(
        self,
        *,
        configured: str | None,
        ngrok_api: str,
        local_url: str,
        port: int,
        client: httpx.AsyncClient,
        ttl: float = 30.0,
    ) -> None:
        self.configured = configured.rstrip("/") if configured else None
        self.ngrok_api = ngrok_api.rstrip("/")
        self.local_url = local_url
        self.port = port
        self.client = client
        self.ttl = ttl
        self._cached: PublicURL | None = None
        self._cached_at = 0.0

    async def resolve(self) -> PublicURL:
        if self.configured:
            return PublicURL(self.configured, "configured")
        if self._cached is not None and time.monotonic() - self._cached_at < self.ttl:
            return self._cached
        found = await self._ask_ngrok()
        current = PublicURL(found, "ngrok") if found else PublicURL(self.local_url, "loopback")
        if current != self._cached:
            if current.reachable_from_internet:
                log.info("public_url.chosen", url=current.url, source=current.source)
            else:
                log.warning(
                    "public_url.loopback",
                    url=current.url,
                    hint="real providers cannot reach this address; set CLIPWIRE_PUBLIC_URL"
                    " or run `ngrok http <port>` (the simulator works as is)",
                )
        self._cached, self._cached_at = current, time.monotonic()
        return current

    async def _ask_ngrok(self) -> str | None:
        try:
            response = await self.client.get(f"{self.ngrok_api}/tunnels", timeout=1.0)
            response.raise_for_status()
            return tunnel_from_ngrok(response.json(), self.port)
        except (httpx.HTTPError, ValueError):
            return None
