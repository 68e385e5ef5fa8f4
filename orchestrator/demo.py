"""``clipwire demo``: the whole loop on the built-in simulator, shown live.

It starts the real service on a free loopback port (with the simulator beside it), subscribes
to ``/v1/stream``, submits three Hailuo 2.3 jobs over the HTTP API — text-to-video,
image-to-video, and one the simulator is told to fail — prints every transition and action as
the server pushes it, then each job's timeline and where its video was written.
No API keys, no internet.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx

from .config import Settings
from .logs import configure_logging
from .models import parse_iso
from .serving import bind, running
from .states import JobState

DEMO_TIMEOUT = 45.0


def _jobs(sim_url: str) -> dict[str, dict[str, Any]]:
    return {
        "text-to-video": {
            "prompt": "A paper boat sails across a rain puddle at dusk, macro lens",
            # The simulator sends every webhook twice: clipwire stores and applies each once.
            "provider_options": {"delay": 0.4, "duplicates": 2},
        },
        "image-to-video": {
            "prompt": "The test card slowly comes alive, camera pushes in",
            "image_url": f"{sim_url}/files/frame.png",
            "duration": 10,
            "provider_options": {"delay": 0.5},
        },
        "told-to-fail": {
            "prompt": "A scene the simulated provider will refuse to render",
            "provider_options": {
                "delay": 0.6,
                "outcome": "fail",
                "error_code": "sim_content_policy",
                "error_message": "the simulator was told to fail this job",
            },
        },
    }


def _settled(job: dict[str, Any]) -> bool:
    return JobState(job["state"]).is_terminal and all(
        action["state"] in ("done", "dead") for action in job["actions"]
    )


class Demo:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.started = time.monotonic()
        self.labels: dict[str, str] = {}
        self.jobs: dict[str, dict[str, Any]] = {}

    def say(self, job_id: str, text: str) -> None:
        label = self.labels.get(job_id, "?")
        print(f"  {time.monotonic() - self.started:6.2f}s  {label:<15} {text}", flush=True)

    async def refresh(self, job_id: str) -> dict[str, Any]:
        self.jobs[job_id] = (await self.client.get(f"/v1/jobs/{job_id}")).json()
        return self.jobs[job_id]

    async def watch(self, lines: Any) -> None:
        """Print what the server streams until every job has settled."""
        async for line in lines:
            if not line.startswith("data: "):
                continue
            message = json.loads(line[6:])
            job_id = message["job_id"]
            if job_id not in self.labels:
                continue
            if message["type"] == "transition":
                self.say(job_id, f"{message['from']} -> {message['to']}   ({message['reason']})")
            else:
                detail = message.get("error") or _action_detail(message.get("result") or {})
                self.say(job_id, f"action {message['kind']}: {message['state']}  {detail}")
            await self.refresh(job_id)
            if all(map(_settled, self.jobs.values())):
                return

    async def submit(self, label: str, body: dict[str, Any]) -> None:
        response = await self.client.post("/v1/jobs", json={"provider": "sim", **body})
        response.raise_for_status()
        job = response.json()
        self.labels[job["id"]] = label
        self.jobs[job["id"]] = job
        self.say(
            job["id"], f"submitted as {job['id']} ({job['mode']}, {job['request']['duration']}s)"
        )


def _action_detail(result: dict[str, Any]) -> str:
    if "path" in result:
        return f"{result['bytes']} bytes -> {result['path']}"
    return f"delivered to {result.get('delivered_to', '?')}"


def _report(demo: Demo) -> bool:
    print("\nTimelines")
    ok = True
    for job_id, label in demo.labels.items():
        job = demo.jobs[job_id]
        created = job["timeline"][0]["at"]
        print(f"\n  {label}: {job_id} -> {job['state']}")
        for step in job["timeline"]:
            offset = _seconds_between(created, step["at"])
            print(f"    +{offset:5.2f}s  {step['to']:<10} {step['reason']}")
        mirror = next((a for a in job["actions"] if a["kind"] == "mirror"), None)
        if mirror and mirror["result"]:
            print(
                f"    video: {mirror['result']['path']}  ({mirror['result']['bytes']} bytes,"
                f" sha256 {mirror['result']['sha256'][:16]}...)"
            )
        if job["error"]:
            print(f"    error: {job['error']['code']}: {job['error']['message']}")
        for action in job["actions"]:
            print(f"    action {action['kind']}: {action['state']}")
        expected = "failed" if label == "told-to-fail" else "succeeded"
        has_video = bool(
            mirror and mirror["state"] == "done" and Path(mirror["result"]["path"]).is_file()
        )
        ok = ok and job["state"] == expected and (expected == "failed" or has_video)
    return ok


def _seconds_between(start: str, end: str) -> float:
    return parse_iso(end) - parse_iso(start)


async def run_demo(data_dir: str | Path = "demo-data") -> int:
    configure_logging(log_format="console", level="error")
    sock = bind()
    settings = Settings(data_dir=Path(data_dir).resolve(), port=sock.getsockname()[1])
    from receiver import create_app

    app = create_app(settings)
    print("clipwire demo: the real service on loopback, the built-in simulated provider,")
    print("three Hailuo 2.3 jobs; progress below is pushed by the server as callbacks arrive.\n")
    async with running(app, sock) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        sim_url = app.state.clipwire.adapters["sim"].config.base_url
        print(f"  service   {url}   (data in {settings.data_dir})")
        print(f"  simulator {sim_url}\n")
        demo = Demo(client)
        async with client.stream("GET", "/v1/stream", timeout=None) as stream:
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith(": connected")
            for label, body in _jobs(sim_url).items():
                await demo.submit(label, body)
            try:
                await asyncio.wait_for(demo.watch(lines), DEMO_TIMEOUT)
            except TimeoutError:
                print(f"\nclipwire demo: jobs did not settle within {DEMO_TIMEOUT:.0f} s")
                return 1
        for job_id in demo.labels:
            await demo.refresh(job_id)
    ok = _report(demo)
    print(f"\n{'done' if ok else 'FAILED'} in {time.monotonic() - demo.started:.1f} s")
    return 0 if ok else 1
