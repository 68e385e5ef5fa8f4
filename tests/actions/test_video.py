"""The mirrored video: the mirror action keeps only videos, and the API serves the copy back at
``GET /v1/jobs/{id}/video`` to its authorised user, over real HTTP with the real app."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orchestrator.actions.mirror import sniff_video
from orchestrator.serving import bind, running
from orchestrator.sim.server import SAMPLE_MP4
from tests.conftest import LiveApp, live_app

pytestmark = pytest.mark.anyio

FAST = {"delay": 0.02}
HTML = b"<!doctype html><title>502 Bad Gateway</title>"
# what the video host answers per path: (content type or None, body)
FILES: dict[str, tuple[str | None, bytes]] = {
    "error.mp4": ("text/html; charset=utf-8", HTML),
    "data.json": ("application/json", b'{"error": "expired"}'),
    "generic.mp4": ("application/octet-stream", SAMPLE_MP4),
    "generic.bin": ("application/octet-stream", HTML),
    "untyped.webm": (None, b"\x1a\x45\xdf\xa3" + b"\x00" * 64),
}


@contextlib.asynccontextmanager
async def video_host() -> AsyncIterator[str]:
    async def serve(request: Request) -> Response:
        content_type, body = FILES[request.path_params["name"]]
        response = Response(body)
        if content_type:
            response.headers["content-type"] = content_type
        return response

    app = Starlette(routes=[Route("/{name}", serve)])
    async with running(app, bind(), lifespan="off") as url:
        yield url


def action(job: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [a for a in job["actions"] if a["kind"] == kind]
    return found


async def succeed_with(live: LiveApp, video_url: str) -> dict[str, Any]:
    """A simulator job whose success webhook (posted here, as the provider would) names
    ``video_url``; returns it settled."""
    job = await live.submit(provider="sim", provider_options={"silent": True})
    job = await live.wait_for(job["id"], lambda j: j["state"] == "submitted")
    callback = live.clipwire.signer.url_for(live.url, "sim", job["id"])
    body = {"task_id": job["provider_task_id"], "status": "success", "video_url": video_url}
    assert (await live.client.post(callback, json=body)).status_code == 202
    return await live.wait_for(job["id"])


async def test_the_mirrored_video_is_served_back_byte_for_byte(live: LiveApp) -> None:
    job = await live.wait_for((await live.submit(provider="sim", provider_options=FAST))["id"])
    mirror = action(job, "mirror")["result"]

    answer = await live.client.get(f"/v1/jobs/{job['id']}/video")

    assert answer.status_code == 200
    assert answer.content == SAMPLE_MP4
    assert answer.headers["content-type"] == "video/mp4"
    assert (mirror["bytes"], mirror["content_type"]) == (len(SAMPLE_MP4), "video/mp4")
    assert mirror["sha256"] == hashlib.sha256(SAMPLE_MP4).hexdigest()
    digest = base64.b64encode(hashlib.sha256(SAMPLE_MP4).digest()).decode()
    assert answer.headers["repr-digest"] == f"sha-256=:{digest}:"


async def test_no_mirrored_video_is_a_404_in_json(live: LiveApp) -> None:
    job = await live.submit(provider="sim", provider_options={"silent": True})
    await live.wait_for(job["id"], lambda j: j["state"] == "submitted")

    before = await live.client.get(f"/v1/jobs/{job['id']}/video")
    unknown = await live.client.get("/v1/jobs/job_nope/video")

    assert before.status_code == 404
    assert before.json()["error"]["code"] == "video_not_found"
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "job_not_found"


async def test_a_deleted_copy_is_a_404_too(live: LiveApp) -> None:
    job = await live.wait_for((await live.submit(provider="sim", provider_options=FAST))["id"])
    Path(action(job, "mirror")["result"]["path"]).unlink()

    answer = await live.client.get(f"/v1/jobs/{job['id']}/video")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "video_not_found"


async def test_the_video_is_for_the_api_user_only(tmp_path: Path) -> None:
    async with live_app(tmp_path / "data", api_token="s3cret") as live:
        live.client.headers["Authorization"] = "Bearer s3cret"
        job = await live.wait_for((await live.submit(provider="sim", provider_options=FAST))["id"])
        path = f"/v1/jobs/{job['id']}/video"
        granted = await live.client.get(path)
        anonymous = await live.client.get(path, headers={"Authorization": ""})
        wrong = await live.client.get(path, headers={"Authorization": "Bearer nope"})

    assert (granted.status_code, granted.content) == (200, SAMPLE_MP4)
    for refused in (anonymous, wrong):
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"


async def test_without_a_token_only_local_clients_not_tunnelled_ones(live: LiveApp) -> None:
    job = await live.wait_for((await live.submit(provider="sim", provider_options=FAST))["id"])
    answer = await live.client.get(
        f"/v1/jobs/{job['id']}/video", headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("error.mp4", "the video host sent text/html, not a video"),
        ("data.json", "the video host sent application/json, not a video"),
        ("generic.bin", "application/octet-stream that is not a video"),
    ],
)
async def test_what_is_not_a_video_is_refused_and_not_kept(
    tmp_path: Path, name: str, error: str
) -> None:
    async with (
        video_host() as host,
        live_app(tmp_path / "data", mirror_allow_origins=(host,)) as live,
    ):
        job = await succeed_with(live, f"{host}/{name}")
        media = live.settings.media_dir

        mirror = action(job, "mirror")
        assert (mirror["state"], mirror["attempts"]) == ("dead", 1)
        assert error in mirror["last_error"]
        assert list(media.iterdir()) == []
        assert (await live.client.get(f"/v1/jobs/{job['id']}/video")).status_code == 404


@pytest.mark.parametrize(
    ("name", "content_type", "suffix"),
    [("generic.mp4", "video/mp4", ".mp4"), ("untyped.webm", "video/webm", ".webm")],
)
async def test_a_generic_answer_is_kept_when_its_bytes_are_a_video(
    tmp_path: Path, name: str, content_type: str, suffix: str
) -> None:
    async with (
        video_host() as host,
        live_app(tmp_path / "data", mirror_allow_origins=(host,)) as live,
    ):
        job = await succeed_with(live, f"{host}/{name}")
        answer = await live.client.get(f"/v1/jobs/{job['id']}/video")

    result = action(job, "mirror")["result"]
    assert result["content_type"] == content_type
    assert Path(result["path"]).suffix == suffix
    assert answer.headers["content-type"] == content_type
    assert answer.content == FILES[name][1]


def test_sniffing_knows_mp4_quicktime_and_webm_and_nothing_else() -> None:
    assert sniff_video(SAMPLE_MP4[:12]) == "video/mp4"
    assert sniff_video(b"\x00\x00\x00\x14ftypqt  ") == "video/quicktime"
    assert sniff_video(b"\x1a\x45\xdf\xa3\x01\x00") == "video/webm"
    assert sniff_video(HTML[:12]) is None
    assert sniff_video(b"") is None
