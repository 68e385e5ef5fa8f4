"""The exceptions the orchestrator raises, one tree under one root.

    ClipwireError
    ├── ConfigError             bad or missing configuration
    ├── InvalidJobRequest       a job request that cannot be run (the API answers 422)
    ├── JobNotFound             no job with that id (404)
    ├── ActionNotFound          no action with that id (404)
    ├── IdempotencyConflict     an Idempotency-Key reused with another request (409)
    ├── InvalidCallbackToken    a callback token that is forged, expired or for another job (401)
    ├── EventLimitReached       a job has as many unreadable deliveries stored as it may (429)
    ├── StoreError              the database failed; sqlite3 errors are translated into it
    │   └── StateConflict       a compare-and-set lost against a concurrent writer
    ├── ProviderError           a provider call failed
    │   ├── ProviderAuthError   the provider refused our credentials (never retried)
    │   ├── ProviderRejected    the provider refused the request itself (never retried)
    │   └── ProviderUnavailable a transient failure: network, 429, 5xx (retried with backoff);
    │                           ``ambiguous`` when the request may have arrived all the same
    └── ActionError             a downstream action failed
        └── ActionRejected      it cannot succeed by retrying (e.g. too large, 4xx)

Foreign exceptions (httpx, sqlite3, itsdangerous) are translated where they are caught;
only the receiver's exception handlers turn these into HTTP responses.
"""

from __future__ import annotations


class ClipwireError(Exception):
    """The root of every error clipwire raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(ClipwireError):
    code = "config_error"


class InvalidJobRequest(ClipwireError):
    code = "invalid_request"


class JobNotFound(ClipwireError):
    code = "job_not_found"


class ActionNotFound(ClipwireError):
    code = "action_not_found"


class IdempotencyConflict(ClipwireError):
    code = "idempotency_conflict"


class InvalidCallbackToken(ClipwireError):
    code = "invalid_token"


class EventLimitReached(ClipwireError):
    code = "too_many_unreadable"


class StoreError(ClipwireError):
    code = "store_error"


class StateConflict(StoreError):
    code = "state_conflict"


class ProviderError(ClipwireError):
    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        provider_code: str | None = None,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message, code=code)
        self.provider_code = provider_code
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class ProviderAuthError(ProviderError):
    code = "provider_auth"


class ProviderRejected(ProviderError):
    code = "provider_rejected"


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"


class ActionError(ClipwireError):
    code = "action_error"

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ActionRejected(ActionError):
    code = "action_rejected"
