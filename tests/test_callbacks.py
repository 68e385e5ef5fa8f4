"""Signed callback tokens: valid, forged, expired, for another provider or another job."""

from __future__ import annotations

import time

import itsdangerous
import pytest

from orchestrator.callbacks import _SALT, CallbackSigner, redact_callback_urls
from orchestrator.errors import InvalidCallbackToken
from tests.conftest import LiveApp

KEY = "test-secret-key"
DAY = 24 * 3600


@pytest.fixture
def signer() -> CallbackSigner:
    return CallbackSigner(KEY, max_age=DAY)


def token_signed_at(moment: float, *, key: str = KEY, payload: object = None) -> str:
    """A token as clipwire would have issued it at ``moment`` (itsdangerous reads the clock
    through ``get_timestamp``, so a signer with a fixed clock makes a past-dated token)."""

    class FixedClockSigner(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(moment)

    serializer = itsdangerous.URLSafeTimedSerializer(key, salt=_SALT, signer=FixedClockSigner)
    token: str = serializer.dumps(payload if payload is not None else {"p": "sim", "j": "job_a"})
    return token


def test_a_token_names_its_job(signer: CallbackSigner) -> None:
    assert signer.job_for("sim", signer.token_for("sim", "job_a")) == "job_a"


def test_the_callback_url_carries_the_token(signer: CallbackSigner) -> None:
    url = signer.url_for("https://example.ngrok.app/", "sim", "job_a")
    prefix = "https://example.ngrok.app/hooks/sim/"
    assert url.startswith(prefix)
    assert signer.job_for("sim", url.removeprefix(prefix)) == "job_a"


def test_a_token_signed_a_moment_ago_by_our_key_is_valid(signer: CallbackSigner) -> None:
    assert signer.job_for("sim", token_signed_at(time.time() - 60)) == "job_a"


def tampered(token: str) -> str:
    """``token`` with the first character of its signature changed. (Not the last: its low
    bits are base64 padding, so changing only them can leave the signature as it was.)"""
    signed, signature = token.rsplit(".", 1)
    return f"{signed}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def test_a_tampered_token_is_refused(signer: CallbackSigner) -> None:
    with pytest.raises(InvalidCallbackToken) as raised:
        signer.job_for("sim", tampered(signer.token_for("sim", "job_a")))
    assert raised.value.code == "invalid_token"


def test_a_token_whose_payload_was_swapped_is_refused(signer: CallbackSigner) -> None:
    mine = signer.token_for("sim", "job_a").split(".")
    theirs = signer.token_for("sim", "job_b").split(".")
    with pytest.raises(InvalidCallbackToken):
        signer.job_for("sim", ".".join([theirs[0], *mine[1:]]))


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "*" * 300])
def test_junk_is_refused(signer: CallbackSigner, token: str) -> None:
    with pytest.raises(InvalidCallbackToken):
        signer.job_for("sim", token)


def test_a_token_signed_with_another_key_is_refused(signer: CallbackSigner) -> None:
    other = CallbackSigner("another-key", max_age=DAY).token_for("sim", "job_a")
    with pytest.raises(InvalidCallbackToken) as raised:
        signer.job_for("sim", other)
    assert raised.value.code == "invalid_token"


def test_an_expired_token_is_refused(signer: CallbackSigner) -> None:
    with pytest.raises(InvalidCallbackToken) as raised:
        signer.job_for("sim", token_signed_at(time.time() - DAY - 60))
    assert raised.value.code == "token_expired"


def test_a_token_for_another_provider_is_refused(signer: CallbackSigner) -> None:
    with pytest.raises(InvalidCallbackToken, match="another provider"):
        signer.job_for("minimax", signer.token_for("sim", "job_a"))


@pytest.mark.parametrize("payload", [["sim", "job_a"], {"p": "sim"}, {"p": "sim", "j": 7}])
def test_a_well_signed_token_with_a_foreign_payload_is_refused(
    signer: CallbackSigner, payload: object
) -> None:
    with pytest.raises(InvalidCallbackToken):
        signer.job_for("sim", token_signed_at(time.time(), payload=payload))


@pytest.mark.parametrize(
    "template",
    [
        "{url}",
        "posting to {url}?attempt=2 now",
        '{{"callback_url": "{url}"}}',
        "callback_url={url} status=ok",
    ],
)
def test_redact_callback_urls_hides_the_token(signer: CallbackSigner, template: str) -> None:
    url = signer.url_for("https://example.ngrok.app", "sim", "job_a")
    token = url.rsplit("/", 1)[1]
    redacted = redact_callback_urls(template.format(url=url))
    assert token not in redacted
    assert "https://example.ngrok.app/hooks/sim/***" in redacted


def test_redact_leaves_other_text_alone() -> None:
    text = "GET /v1/jobs/job_1 took 3 ms"
    assert redact_callback_urls(text) == text


@pytest.mark.anyio
async def test_a_token_of_one_job_cannot_report_on_another(live: LiveApp) -> None:
    """The HTTP-level check: job A's token with a body about job B's task is a 401."""
    silent = {"provider": "sim", "provider_options": {"silent": True}}
    first, second = await live.submit(**silent), await live.submit(**silent)

    def submitted(job: dict[str, object]) -> bool:
        return job["state"] == "submitted"

    first = await live.wait_for(first["id"], submitted)
    second = await live.wait_for(second["id"], submitted)
    url = live.clipwire.signer.url_for(live.url, "sim", first["id"])
    body = {"task_id": second["provider_task_id"], "status": "success", "video_url": "x"}

    answer = await live.client.post(url, json=body)

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "token_mismatch"
    for job in (first, second):
        after = (await live.client.get(f"/v1/jobs/{job['id']}")).json()
        assert after["state"] == "submitted"
        assert after["timeline"] == job["timeline"]
    assert (await live.clipwire.store.rejections())[0]["reason"] == "token_mismatch"
