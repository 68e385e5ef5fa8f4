"""The webhook action: Standard Webhooks signatures, checked by the spec's reference verifier
(``standardwebhooks`` from PyPI), delivered over real HTTP to a receiver on loopback."""

from __future__ import annotations

import base64
import contextlib
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.actions.webhook import signed_headers
from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.serving import bind, running
from orchestrator.sim.server import SAMPLE_MP4
from tests.conftest import LiveApp, live_app

pytestmark = pytest.mark.anyio

SECRET = "whsec_" + base64.b64encode(b"clipwire test secret, 32 bytes!!").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the secret being rotated out....").decode()
FAST = {"delay": 0.02}


class WebhookReceiver:
    """A loopback endpoint that verifies each delivery with the reference library, records it,
    and answers with ``statuses`` in turn (then 200)."""

    def __init__(self, secret: str, statuses: list[int] | None = None) -> None:
        self.verifier = Webhook(secret)
        self.statuses = list(statuses or [])
        self.deliveries: list[dict[str, Any]] = []
        self.url = ""
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        try:
            event = self.verifier.verify(body, headers)
        except WebhookVerificationError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        self.deliveries.append({"event": event, "body": body, "headers": headers})
        status = self.statuses.pop(0) if self.statuses else 200
        return JSONResponse({"ok": status == 200}, status_code=status)

    @property
    def ids(self) -> list[str]:
        return [d["headers"]["webhook-id"] for d in self.deliveries]


@contextlib.asynccontextmanager
async def webhook_receiver(
    secret: str = SECRET, statuses: list[int] | None = None
) -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret, statuses)
    async with running(receiver.app, bind(), lifespan="off") as url:
        receiver.url = f"{url}/hook"
        yield receiver


def action(job: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [a for a in job["actions"] if a["kind"] == kind]
    return found


# signatures


def test_the_reference_verifier_accepts_what_we_sign() -> None:
    body = b'{"type":"job.succeeded","data":{"id":"job_1"}}'
    headers = signed_headers((SECRET,), "job_1:succeeded:1:webhook", body)

    assert Webhook(SECRET).verify(body, headers) == json.loads(body)
    assert headers["webhook-signature"].startswith("v1,")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, h: (body.replace(b"succeeded", b"failed"), h),
        lambda body, h: (body, {**h, "webhook-id": "another-id"}),
        lambda body, h: (body, {**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}),
    ],
    ids=["body", "id", "timestamp"],
)
def test_the_reference_verifier_rejects_a_tampered_delivery(tamper: Any) -> None:
    body = b'{"type":"job.succeeded"}'
    headers = signed_headers((SECRET,), "msg_1", body)
    body, headers = tamper(body, headers)

    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, headers)


def test_a_delivery_signed_by_another_secret_or_too_old_is_rejected() -> None:
    body = b"{}"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, signed_headers((OLD_SECRET,), "msg_1", body))
    stale = signed_headers((SECRET,), "msg_1", body, timestamp=1_000_000_000)  # in 2001
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, stale)


def test_several_secrets_sign_each_delivery_so_keys_can_rotate() -> None:
    body = b'{"type":"job.failed"}'
    headers = signed_headers((SECRET, OLD_SECRET), "msg_2", body)

    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(SECRET).verify(body, headers) == {"type": "job.failed"}
    assert Webhook(OLD_SECRET).verify(body, headers) == {"type": "job.failed"}


# configuration


def test_the_secret_comes_from_the_environment_space_separated() -> None:
    env = {"CLIPWIRE_WEBHOOK_SECRET": f"{SECRET} {OLD_SECRET}"}
    assert Settings.from_env(env).webhook_secrets == (SECRET, OLD_SECRET)
    assert SECRET not in repr(Settings.from_env(env))
    for bad in ("not-a-secret", "whsec_", "whsec_***"):
        with pytest.raises(ConfigError, match="CLIPWIRE_WEBHOOK_SECRET"):
            Settings.from_env({"CLIPWIRE_WEBHOOK_SECRET": bad})


def test_without_one_a_secret_is_made_once_and_kept_owner_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path).with_secret()
    (secret,) = settings.webhook_secrets
    path = tmp_path / "webhook_secret"

    assert secret.startswith("whsec_")
    assert path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(data_dir=tmp_path).with_secret().webhook_secrets == (secret,)
    configured = Settings(data_dir=tmp_path, webhook_secrets=(SECRET,)).with_secret()
    assert configured.webhook_secrets == (SECRET,)


# end to end


async def test_a_finished_job_posts_a_signed_event_with_its_mirrored_video(
    tmp_path: Path,
) -> None:
    async with (
        webhook_receiver() as receiver,
        live_app(tmp_path / "data", webhook_secrets=(SECRET,)) as live,
    ):
        job = await live.submit(
            provider="sim",
            provider_options=FAST,
            actions=[{"kind": "mirror"}, {"kind": "webhook", "url": receiver.url}],
        )
        job = await live.wait_for(job["id"])

    (delivery,) = receiver.deliveries
    event = delivery["event"]
    mirror, webhook = action(job, "mirror"), action(job, "webhook")
    assert webhook["state"] == "done"
    assert event["type"] == "job.succeeded"
    assert event["timestamp"] == job["finished_at"]
    assert event["data"]["id"] == job["id"]
    assert event["data"]["outputs"] == job["outputs"]
    assert event["data"]["video"] == mirror["result"]
    assert event["data"]["video"]["sha256"] == mirror["result"]["sha256"]
    assert Path(event["data"]["video_path"]).read_bytes() == SAMPLE_MP4
    assert receiver.ids == [webhook["idempotency_key"]]
    assert webhook["result"]["webhook_id"] == webhook["idempotency_key"]


async def test_a_failed_job_posts_job_failed_to_the_configured_url(tmp_path: Path) -> None:
    async with webhook_receiver() as receiver:
        settings = {"webhook_secrets": (SECRET,), "webhook_url": receiver.url}
        async with live_app(tmp_path / "data", **settings) as live:
            options = {**FAST, "outcome": "fail", "error_code": "E_NSFW", "error_message": "no"}
            job = await live.submit(
                provider="sim", provider_options=options, actions=[{"kind": "webhook"}]
            )
            job = await live.wait_for(job["id"])

    (delivery,) = receiver.deliveries
    assert delivery["event"]["type"] == "job.failed"
    assert delivery["event"]["data"]["error"] == {"code": "E_NSFW", "message": "no"}
    assert delivery["event"]["data"]["video"] is None


async def test_retries_keep_the_same_webhook_id_and_body(tmp_path: Path) -> None:
    async with (
        webhook_receiver(statuses=[503, 500]) as receiver,
        live_app(tmp_path / "data", webhook_secrets=(SECRET,), action_retry_base=0.01) as live,
    ):
        job = await live.submit(
            provider="sim",
            provider_options=FAST,
            actions=[{"kind": "webhook", "url": receiver.url}],
        )
        job = await live.wait_for(job["id"])

    webhook = action(job, "webhook")
    assert (webhook["state"], webhook["attempts"]) == ("done", 3)
    assert receiver.ids == [webhook["idempotency_key"]] * 3
    assert len({d["body"] for d in receiver.deliveries}) == 1


async def test_a_receiver_with_another_secret_refuses_and_the_action_dies(
    tmp_path: Path,
) -> None:
    async with (
        webhook_receiver(secret=OLD_SECRET) as receiver,
        live_app(tmp_path / "data", webhook_secrets=(SECRET,)) as live,
    ):
        job = await live.submit(
            provider="sim",
            provider_options=FAST,
            actions=[{"kind": "webhook", "url": receiver.url}],
        )
        job = await live.wait_for(job["id"])

    webhook = action(job, "webhook")
    assert webhook["state"] == "dead"
    assert "HTTP 400" in webhook["last_error"]
    assert receiver.deliveries == []


async def test_a_webhook_needs_a_url_from_the_job_or_the_environment(live: LiveApp) -> None:
    answer = await live.client.post(
        "/v1/jobs", json={"prompt": "a red fox", "actions": [{"kind": "webhook"}]}
    )
    assert answer.status_code == 422
    assert "CLIPWIRE_WEBHOOK_URL" in answer.json()["error"]["message"]
    answer = await live.client.post(
        "/v1/jobs",
        json={"prompt": "a red fox", "actions": [{"kind": "webhook", "url": "ftp://x", "a": 1}]},
    )
    assert answer.status_code == 422
