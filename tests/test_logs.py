"""Secrets never reach the logs: no callback token, no API token, no full callback URL."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from orchestrator.callbacks import CallbackSigner
from orchestrator.logs import configure_logging
from tests.conftest import live_app
from tests.test_callbacks import token_signed_at
from tests.test_e2e import notify_sink

pytestmark = pytest.mark.anyio

API_TOKEN = "s3cret-api-token-do-not-log"
CALLBACK_PATH = re.compile(r"/hooks/[^/\s\"']+/([^/?#\s\"']+)")


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """clipwire's real logging pipeline (redaction included), writing JSON lines to a buffer
    that stands in for stderr."""
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    configure_logging(log_format="json", level="debug")
    yield stderr
    structlog.reset_defaults()


async def test_a_job_run_logs_no_secret(tmp_path: Path, json_logs: io.StringIO) -> None:
    async with (
        notify_sink() as sink,
        live_app(tmp_path / "data", api_token=API_TOKEN) as live,
    ):
        live.client.headers["Authorization"] = f"Bearer {API_TOKEN}"
        actions = [{"kind": "mirror"}, {"kind": "notify", "url": sink.url}]
        ok = await live.submit(provider="sim", provider_options={"delay": 0.02}, actions=actions)
        failing = {"delay": 0.02, "outcome": "fail", "duplicates": 2}
        failed = await live.submit(provider="sim", provider_options=failing, actions=actions)
        jobs = [await live.wait_for(ok["id"]), await live.wait_for(failed["id"])]
        signer = live.clipwire.signer
        secret_key = signer.secret_key
        token = signer.token_for("sim", ok["id"])
        # Refused deliveries and API calls are logged too: with their tokens, they must not be.
        await live.client.post(f"/hooks/sim/{token}x", json={"status": "running"})
        expired = token_signed_at(time.time() - 90 * 24 * 3600, key=secret_key)
        await live.client.post(f"/hooks/sim/{expired}", json={"status": "running"})
        await live.client.post(f"/hooks/nope/{token}", json={"status": "running"})
        await live.client.get("/v1/jobs", headers={"Authorization": "Bearer wrong-token"})

    output = json_logs.getvalue()
    events = [json.loads(line)["event"] for line in output.splitlines() if line.startswith("{")]
    assert {"job.transitioned", "webhook.received", "webhook.rejected", "action.done"} <= set(
        events
    ), events  # the run was logged, so the checks below look at something
    assert [job["state"] for job in jobs] == ["succeeded", "failed"]

    assert API_TOKEN not in output
    assert "wrong-token" not in output
    assert secret_key not in output
    for job in jobs:
        # A token starts with its signed payload, the same for every token of that job.
        assert signer.token_for("sim", job["id"]).split(".")[0] not in output
    assert token not in output and expired not in output
    assert set(CALLBACK_PATH.findall(output)) <= {"***"}


def test_the_pipeline_redacts_what_a_careless_call_passes(json_logs: io.StringIO) -> None:
    url = CallbackSigner("k", max_age=60).url_for("https://x.ngrok.app", "sim", "job_1")
    token = url.rsplit("/", 1)[1]
    structlog.get_logger("clipwire").warning(
        "provider.echoed",
        error=f"400 Bad Request: callback {url} is not https",
        callback_url=url,
        api_key="sk-live-1",
        Authorization="Bearer sk-live-2",
        job_id="job_1",
    )
    (line,) = json_logs.getvalue().splitlines()
    logged = json.loads(line)
    assert token not in line and "sk-live" not in line
    assert (
        logged["error"]
        == "400 Bad Request: callback https://x.ngrok.app/hooks/sim/*** is not https"
    )
    assert logged["callback_url"] == logged["api_key"] == logged["Authorization"] == "***"
    assert logged["job_id"] == "job_1"


def test_stdlib_lines_are_redacted_for_callback_tokens_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """httpx's request lines (the simulator's callbacks among them) pass the same redaction."""
    caplog.set_level(logging.INFO)
    logging.getLogger("httpx").info(
        'HTTP Request: POST %s "HTTP/1.1 202 Accepted"', "http://127.0.0.1:1/hooks/sim/eyJ.a.b"
    )
    assert "/hooks/sim/***" in caplog.text and "eyJ.a.b" not in caplog.text
