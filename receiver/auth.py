"""Who may use the job API.

With ``CLIPWIRE_API_TOKEN`` set: whoever sends ``Authorization: Bearer <token>`` (compared in
constant time). Unset: only clients on this machine, and never a request that came through a
proxy or tunnel (ngrok connects from loopback but adds forwarding headers).
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.requests import Request

from .errors import Forbidden, Unauthorized

FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


def is_loopback_client(request: Request) -> bool:
    if request.client is None or any(h in request.headers for h in FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def authorize(request: Request, api_token: str | None) -> None:
    if api_token is None:
        if not is_loopback_client(request):
            raise Forbidden("the API accepts only local clients while CLIPWIRE_API_TOKEN is unset")
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), api_token.encode()):
        raise Unauthorized("send Authorization: Bearer <CLIPWIRE_API_TOKEN>")
