"""Signed callback URLs: ``{public_url}/hooks/{provider}/{token}``.

No provider signs its webhooks, so a callback is authenticated by what only clipwire and the
provider know: an unguessable token in the URL, signed with our secret key (itsdangerous,
HMAC-SHA1 over the payload and a timestamp, compared in constant time), bound to one
provider and one job, and valid for ``max_age`` seconds.
"""

from __future__ import annotations

import dataclasses
import re

import itsdangerous

from .errors import InvalidCallbackToken

_SALT = "clipwire.callback.v1"
# A callback URL's token, also when the URL was JSON-escaped (\/) or percent-encoded (%2F).
_TOKEN_IN_PATH = re.compile(
    r"((?:/|\\/|%2[fF])hooks(?:/|\\/|%2[fF])[^/?#\\%\s]+(?:/|\\/|%2[fF]))[^/?#\\%\s\"'&]+"
)


@dataclasses.dataclass(frozen=True)
class CallbackSigner:
    secret_key: str
    max_age: int

    @property
    def _serializer(self) -> itsdangerous.URLSafeTimedSerializer:
        return itsdangerous.URLSafeTimedSerializer(self.secret_key, salt=_SALT)

    def token_for(self, provider: str, job_id: str) -> str:
        token: str = self._serializer.dumps({"p": provider, "j": job_id})
        return token

    def url_for(self, public_url: str, provider: str, job_id: str) -> str:
        return f"{public_url.rstrip('/')}/hooks/{provider}/{self.token_for(provider, job_id)}"

    def job_for(self, provider: str, token: str) -> str:
        """The job id ``token`` was issued for; raise ``InvalidCallbackToken`` otherwise."""
        try:
            payload = self._serializer.loads(token, max_age=self.max_age)
        except itsdangerous.SignatureExpired:
            raise InvalidCallbackToken("callback token expired", code="token_expired") from None
        except itsdangerous.BadData:
            raise InvalidCallbackToken("callback token is not valid") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("j"), str):
            raise InvalidCallbackToken("callback token is not valid")
        if payload.get("p") != provider:
            raise InvalidCallbackToken("callback token was issued for another provider")
        job_id: str = payload["j"]
        return job_id


def redact_callback_urls(text: str) -> str:
    """Replace the token of every callback URL in ``text`` so it can be logged or shown."""
    return _TOKEN_IN_PATH.sub(r"\1***", text)
