"""Which URLs clipwire will fetch on a provider's say-so (the mirror action).

A provider's webhook names the video URL, so a forged or compromised payload could point
clipwire at its own loopback services or the private network (SSRF). Only ``https`` URLs whose
host resolves to public addresses are fetched, unless the URL's origin is trusted: the
embedded simulator's, a provider base URL the operator configured, or one listed in
``CLIPWIRE_MIRROR_ALLOW_ORIGINS``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeURL(ValueError):
    """A URL the guard refuses to fetch."""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def check_fetchable(url: str, *, trusted_origins: frozenset[str] = frozenset()) -> None:
    """Raise ``UnsafeURL`` unless ``url`` may be fetched."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("only http(s) URLs with a host")
    if origin_of(url) in trusted_origins:
        return
    if parts.scheme != "https":
        raise UnsafeURL("only https URLs outside trusted origins")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
        )
    except OSError:
        raise UnsafeURL(f"cannot resolve {parts.hostname}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise UnsafeURL(f"{parts.hostname} resolves to a non-public address ({address})")
