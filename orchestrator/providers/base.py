"""What every provider adapter does, and the helpers they share.

An adapter is mostly pure: it builds an ``httpx.Request`` from a job and reads an
``httpx.Response`` or a webhook body into a normalised ``ProviderEvent``. The one shared
``httpx.AsyncClient`` is passed in, so tests hand it a ``MockTransport`` or point the adapter's
base URL at a real local fake server.
"""

from __future__ import annotations

import abc
import dataclasses
import email.utils
import time
from typing import Any, ClassVar

import httpx

from ..errors import (
    InvalidJobRequest,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from ..models import Job, JobRequest, ProviderEvent


@dataclasses.dataclass(frozen=True)
class ProviderConfig:
    base_url: str
    api_key: str | None = None


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds, whether given as seconds or as an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        moment = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, moment.timestamp() - time.time()) if moment else None


def check_http_status(response: httpx.Response, provider: str) -> None:
    """Raise the ``ProviderError`` a non-2xx answer means; the provider's words are kept."""
    if response.is_success:
        return
    status = response.status_code
    message = f"{provider} answered HTTP {status}: {response.text[:300]}"
    if status in (401, 403):
        raise ProviderAuthError(message, provider_code=str(status))
    if status in (408, 425, 429) or status >= 500:
        raise ProviderUnavailable(
            message, provider_code=str(status), retry_after=retry_after_seconds(response)
        )
    raise ProviderRejected(message, provider_code=str(status))


def json_body(response: httpx.Response, provider: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProviderError(f"{provider} answered with a body that is not JSON") from None


class ProviderAdapter(abc.ABC):
    """Submit Hailuo 2.3 jobs to one provider and read what it says back."""

    name: ClassVar[str]
    has_webhooks: ClassVar[bool] = True

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    def validate(self, request: JobRequest) -> None:
        """Refuse a combination this provider does not offer (raise ``InvalidJobRequest``)."""

    @abc.abstractmethod
    def build_submit(self, job: Job, callback_url: str) -> httpx.Request: ...

    @abc.abstractmethod
    def parse_submit(self, response: httpx.Response) -> ProviderEvent:
        """Read the submit answer: an event with the provider's task id, or raise."""

    @abc.abstractmethod
    def parse_webhook(self, payload: Any) -> ProviderEvent:
        """Read a webhook body; a body it cannot read is an ``UNKNOWN`` event, not an error."""

    def handshake_reply(self, payload: Any) -> dict[str, Any] | None:
        """The answer to a provider's callback handshake, if ``payload`` is one."""
        return None

    def build_status(self, job: Job) -> httpx.Request | None:
        """The request that asks for a task's status, if the provider has one."""
        return None

    def parse_status(self, response: httpx.Response) -> ProviderEvent:
        raise NotImplementedError

    async def submit(self, client: httpx.AsyncClient, job: Job, callback_url: str) -> ProviderEvent:
        return self.parse_submit(await self.send(client, self.build_submit(job, callback_url)))

    async def status(self, client: httpx.AsyncClient, job: Job) -> ProviderEvent | None:
        request = self.build_status(job)
        if request is None:
            return None
        return self.parse_status(await self.send(client, request))

    async def send(self, client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
        """Send ``request``; network failures become ``ProviderUnavailable``."""
        try:
            response = await client.send(request)
        except httpx.TimeoutException as error:
            raise ProviderUnavailable(f"{self.name} timed out: {type(error).__name__}") from None
        except httpx.HTTPError as error:
            raise ProviderUnavailable(f"{self.name} unreachable: {type(error).__name__}") from None
        check_http_status(response, self.name)
        return response

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}

    def url(self, path: str) -> str:
        return f"{self.config.base_url.rstrip('/')}/{path.lstrip('/')}"

    @staticmethod
    def refuse(message: str) -> None:
        raise InvalidJobRequest(message, code="unsupported_combination")
