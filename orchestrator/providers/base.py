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
from collections.abc import Mapping
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
    """How to reach one provider: ``CLIPWIRE_<NAME>_BASE_URL`` and ``CLIPWIRE_<NAME>_API_KEY``;
    ``options`` holds any other ``CLIPWIRE_<NAME>_*`` variable, lower-cased, prefix removed
    (e.g. ``CLIPWIRE_APIINONE_WEBHOOK_FIELD`` -> ``options["webhook_field"]``)."""

    base_url: str
    api_key: str | None = None
    options: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_env(cls, name: str, default_base_url: str, env: Mapping[str, str]) -> ProviderConfig:
        prefix = f"CLIPWIRE_{name.upper()}_"
        options = {
            key[len(prefix) :].lower(): value
            for key, value in env.items()
            if key.startswith(prefix) and key not in (f"{prefix}BASE_URL", f"{prefix}API_KEY")
        }
        return cls(
            base_url=env.get(f"{prefix}BASE_URL") or default_base_url,
            api_key=env.get(f"{prefix}API_KEY") or None,
            options=options,
        )


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


def error_for_status(
    status: int,
    message: str,
    *,
    provider_code: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """The ``ProviderError`` an HTTP-like status means: 401/403 auth, 408/425/429/5xx
    transient, any other rejected. Also for providers that put such a status in the body."""
    code = provider_code or str(status)
    if status in (401, 403):
        return ProviderAuthError(message, provider_code=code)
    if status in (408, 425, 429) or status >= 500:
        return ProviderUnavailable(message, provider_code=code, retry_after=retry_after)
    return ProviderRejected(message, provider_code=code)


def check_http_status(
    response: httpx.Response,
    provider: str,
    *,
    provider_code: str | None = None,
    provider_message: str | None = None,
) -> None:
    """Raise the ``ProviderError`` a non-2xx answer means; the provider's words are kept
    (``provider_code``/``provider_message`` when the adapter read them from the body)."""
    if response.is_success:
        return
    status = response.status_code
    words = provider_message or response.text[:300]
    raise error_for_status(
        status,
        f"{provider} answered HTTP {status}: {words}",
        provider_code=provider_code,
        retry_after=retry_after_seconds(response),
    )


def json_body(response: httpx.Response, provider: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProviderError(f"{provider} answered with a body that is not JSON") from None


class ProviderAdapter(abc.ABC):
    """Submit Hailuo 2.3 jobs to one provider and read what it says back."""

    name: ClassVar[str]
    default_base_url: ClassVar[str] = ""
    # False: the provider never calls back, so the worker polls ``status`` on a backoff schedule.
    has_webhooks: ClassVar[bool] = True
    requires_api_key: ClassVar[bool] = True
    # How long a task usually takes; past this plus the grace, the reconciler asks for status.
    expected_seconds: ClassVar[float] = 300.0

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    def validate(self, request: JobRequest) -> None:  # noqa: B027 - most providers take all
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

    @property
    def expected_duration(self) -> float:
        """``expected_seconds``, or ``CLIPWIRE_<NAME>_EXPECTED_SECONDS`` when set."""
        try:
            return float(self.config.options.get("expected_seconds", self.expected_seconds))
        except ValueError:
            return self.expected_seconds

    async def reconcile(  # noqa: B027 - most providers need nothing more than a status poll
        self, client: httpx.AsyncClient, job: Job, callback_url: str
    ) -> None:
        """Extra repair when a job's callback is overdue (RunningHub: ask for a resend)."""

    async def locate(self, client: httpx.AsyncClient, job: Job) -> ProviderEvent | None:
        """After a submit whose answer was lost: the task it created, if the provider can say
        (Runware, whose task ids are ours to choose); ``None`` when it cannot or there is none.
        A job the provider cannot locate is held for a person to decide."""
        return None

    def build_cancel(self, job: Job) -> httpx.Request | None:
        """The request that cancels a task at the provider, if it can be cancelled."""
        return None

    async def complete(self, client: httpx.AsyncClient, event: ProviderEvent) -> ProviderEvent:
        """Finish reading a success event that needs another call (MiniMax: ``file_id`` to a
        download URL). The worker calls this before applying any event; most adapters keep
        the default, which returns ``event`` as it is."""
        return event

    async def submit(self, client: httpx.AsyncClient, job: Job, callback_url: str) -> ProviderEvent:
        return self.parse_submit(await self.send(client, self.build_submit(job, callback_url)))

    async def status(self, client: httpx.AsyncClient, job: Job) -> ProviderEvent | None:
        request = self.build_status(job)
        if request is None:
            return None
        return self.parse_status(await self.send(client, request))

    async def cancel(self, client: httpx.AsyncClient, job: Job) -> bool:
        """Cancel at the provider; ``False`` when this provider or task cannot be cancelled."""
        request = self.build_cancel(job)
        if request is None:
            return False
        await self.send(client, request)
        return True

    async def send(self, client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
        """Send ``request``; network failures become ``ProviderUnavailable``."""
        try:
            response = await client.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # Nothing reached the provider: safe to send again.
            raise ProviderUnavailable(f"{self.name} unreachable: {type(error).__name__}") from None
        except httpx.HTTPError as error:
            # The request may have arrived: a resend could create a second (paid) task.
            raise ProviderUnavailable(
                f"{self.name} gave no answer: {type(error).__name__}", ambiguous=True
            ) from None
        if not response.is_success:
            code, message = self.error_detail(response)
            check_http_status(response, self.name, provider_code=code, provider_message=message)
        return response

    def error_detail(self, response: httpx.Response) -> tuple[str | None, str | None]:
        """The provider's own error code and message in a non-2xx answer, if its body has
        them; ``send`` puts them in the raised error. Must not raise."""
        return None, None

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}

    def url(self, path: str) -> str:
        return f"{self.config.base_url.rstrip('/')}/{path.lstrip('/')}"

    @staticmethod
    def refuse(message: str) -> None:
        raise InvalidJobRequest(message, code="unsupported_combination")
