"""Generated requests against the webhook receiver and the job API: no 5xx, every error a JSON
``{"error": ...}``, and no change to any job except what the accepted requests did.

The app runs in-process with its real lifespan (store, simulator, worker) on an event loop
this module owns, driven through ``httpx.ASGITransport`` as a loopback client. Before and
after each run the job tables are read straight from SQLite; every row that changed must be
explained by a request that got a 2xx (an accepted event, a created or cancelled job).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import ASGIApp

from orchestrator.config import Settings
from receiver import create_app

from .snapshot import changed_rows, record_figures, snapshot

HOOK_EXAMPLES = 6000
API_EXAMPLES = 4500
MAX_BODY = 64 * 1024
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
PROVIDERS = ("sim", "minimax", "runninghub", "runware", "runcomfy", "apiinone")
STATUSES = ("queued", "running", "success", "failed", "cancelled", "", "SUCCESS", "done")
CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/problem+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "",
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
deep_json = st.integers(1, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)
huge_strings = st.integers(MAX_BODY - 64, MAX_BODY * 3).map(
    lambda n: b'{"status": "success", "x": "' + b"x" * n + b'"}'
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


def fuzz_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        public_url="http://127.0.0.1:9",
        max_body_bytes=MAX_BODY,
        body_timeout=5.0,
        db_synchronous="NORMAL",  # durability is the kill test's subject, not this one's
        callback_grace=3600.0,
    )


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Run ``app``'s ASGI lifespan, as a server would, around the block."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, to_app.get, from_app.put))  # type: ignore[arg-type]
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await task


class InProcess:
    """The app on an event loop of its own; ``run`` drives the loop until a call is done."""

    def __init__(self, tmp_path: Path) -> None:
        self.app = create_app(fuzz_settings(tmp_path))
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(self.app), base_url="http://127.0.0.1"
        )

    @property
    def clipwire(self) -> Any:
        return self.app.state.clipwire

    def run(self, call: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(call)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = self.run(self.client.request(method, path, **kwargs))
        return response

    def __enter__(self) -> InProcess:
        self.run(self.stack.enter_async_context(lifespan(self.app)))
        self.run(self.stack.enter_async_context(self.client))
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.stack.aclose())
        self.run(self.loop.shutdown_asyncgens())
        self.loop.close()

    def wait_until(self, check: Any) -> dict[str, Any]:
        """Poll /healthz until ``check(counts)``; bounded, never a pass condition by itself."""
        for _ in range(300):
            counts: dict[str, Any] = self.request("GET", "/healthz").json()
            if check(counts):
                return counts
            self.run(asyncio.sleep(0.05))
        raise AssertionError(f"the app never settled: {counts}")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[InProcess]:
    with InProcess(tmp_path) as client:
        yield client


def check_answer(response: Any, tally: Counter[str]) -> None:
    tally[f"http_{response.status_code}"] += 1
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/json"
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


def test_generated_webhooks_never_5xx_and_change_only_what_they_were_accepted_for(
    client: InProcess, tmp_path: Path
) -> None:
    clipwire = client.clipwire
    jobs = []
    for _ in range(4):
        created = client.request(
            "POST",
            "/v1/jobs",
            json={
                "prompt": "a fox",
                "provider_options": {"silent": True},
                "actions": [{"kind": "notify"}],
            },
        )
        assert created.status_code == 201, created.text
        jobs.append(created.json()["id"])
    client.wait_until(lambda counts: counts.get("jobs_submitted") == len(jobs))
    task_ids = [client.request("GET", f"/v1/jobs/{j}").json()["provider_task_id"] for j in jobs]
    signer = clipwire.signer
    valid = st.sampled_from([signer.token_for("sim", j) for j in jobs])
    tokens = st.one_of(
        valid,
        valid,
        st.sampled_from([signer.token_for("minimax", j) for j in jobs]),  # another provider's
        st.just(signer.token_for("sim", "job_0000000000000000nope")),  # a job that never was
        st.sampled_from([signer.token_for("sim", j)[:-3] + "AAA" for j in jobs]),  # forged
        st.text(max_size=60),
    )
    events = st.fixed_dictionaries(
        {"status": st.sampled_from(STATUSES)},
        optional={
            "task_id": st.sampled_from([*task_ids, "sim-other"]) | st.text(max_size=10),
            "video_url": st.sampled_from(["http://127.0.0.1:9/v.mp4", "file:///etc/passwd"])
            | json_values,
            "error": st.fixed_dictionaries({"code": json_values, "message": json_values})
            | json_values,
        },
    ).map(lambda body: json.dumps(body).encode())
    bodies = st.one_of(
        events,
        events,
        json_values.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=300),
        deep_json,
        huge_strings,
    )
    before = snapshot(clipwire.settings.db_path)
    tally: Counter[str] = Counter()
    accepted: set[int] = set()

    @settings(FUZZ, max_examples=HOOK_EXAMPLES)
    @given(
        provider=st.just("sim") | st.sampled_from(PROVIDERS) | st.text(max_size=12),
        token=tokens,
        content_type=st.just("application/json") | st.sampled_from(CONTENT_TYPES) | header_text,
        body=bodies,
    )
    def deliver(provider: str, token: str, content_type: str, body: bytes) -> None:
        path = f"/hooks/{quote(provider, safe='') or 'x'}/{quote(token, safe='') or 'x'}"
        response = client.request(
            "POST", path, content=body, headers={"Content-Type": content_type}
        )
        tally["requests"] += 1
        check_answer(response, tally)
        if response.status_code == 202:
            accepted.add(response.json()["event_id"])

    deliver()
    client.wait_until(lambda counts: counts["events_waiting"] == 0)
    after = snapshot(clipwire.settings.db_path)
    changes = changed_rows(before, after)
    new_events = set(changes.get("events", []))
    touched = {after["events"][e][2] for e in accepted}  # the job_id column
    assert new_events == accepted
    assert all(after["transitions"][t][4] in accepted for t in changes.get("transitions", []))
    assert set(changes.get("jobs", [])) <= touched
    assert {after["actions"][a][1] for a in changes.get("actions", [])} <= touched
    assert not any(k.startswith("http_5") for k in tally)
    record_figures(
        tmp_path,
        "fuzz_hooks",
        {**tally, "events_accepted": len(accepted), "jobs_changed": len(changes.get("jobs", []))},
    )


def job_requests() -> st.SearchStrategy[bytes]:
    """Job requests near the real shape (some valid), random JSON, and random bytes."""
    fields = st.fixed_dictionaries(
        {},
        optional={
            "provider": st.sampled_from(PROVIDERS) | json_values,
            "prompt": st.sampled_from(["a fox", " ", "x" * 2001]) | json_values,
            "image_url": st.sampled_from(
                ["https://example.com/a.png", "ftp://x", "data:image/png;base64,AA"]
            )
            | json_values,
            "duration": st.sampled_from([6, 10, 7, True, "6"]),
            "resolution": st.sampled_from(["768P", "1080p", "4K"]) | json_values,
            "tier": st.sampled_from(["standard", "pro", "max"]),
            "prompt_optimizer": json_values,
            "provider_options": json_values,
            "actions": st.lists(
                st.fixed_dictionaries(
                    {"kind": st.sampled_from(["mirror", "notify", "webhook", "submit", "nope"])},
                    optional={"on": json_values, "url": json_values, "max_bytes": json_values},
                ),
                max_size=3,
            )
            | json_values,
            "unknown": json_values,
        },
    )
    return st.one_of(
        fields.map(lambda body: json.dumps(body).encode()),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=200),
        deep_json,
    )


def test_generated_api_calls_never_5xx_and_change_only_what_they_were_accepted_for(
    client: InProcess, tmp_path: Path
) -> None:
    # The worker is stopped: a generated job that is valid is stored, never sent anywhere (it
    # may name any notify URL). What is under test is the API's answer and what it writes.
    client.run(client.clipwire.worker.stop())
    existing = [
        client.request("POST", "/v1/jobs", json={"prompt": "a fox"}).json()["id"] for _ in range(3)
    ]
    before = snapshot(client.clipwire.settings.db_path)
    tally: Counter[str] = Counter()
    created: set[str] = set()
    cancelled: set[str] = set()
    ids = st.sampled_from(existing) | st.text(max_size=30)
    query = st.dictionaries(
        st.sampled_from(["state", "provider", "limit", "job", "x"]),
        st.sampled_from(["pending", "succeeded", "sim", "0", "1", "1000", "1001", "-1", "1e3"])
        | st.text(max_size=10),
        max_size=4,
    )
    calls = st.one_of(
        st.tuples(st.just("POST"), st.just("/v1/jobs"), job_requests(), header_text),
        st.tuples(st.just("POST"), st.just("/v1/jobs"), job_requests(), st.just("")),
        st.tuples(st.just("GET"), st.just("/v1/jobs"), query, st.just("")),
        st.tuples(
            st.just("GET"), ids.map(lambda i: f"/v1/jobs/{quote(i, safe='')}"), query, st.just("")
        ),
        st.tuples(
            st.just("POST"),
            ids.map(lambda i: f"/v1/jobs/{quote(i, safe='')}/cancel"),
            st.just(b""),
            st.just(""),
        ),
        st.tuples(st.just("GET"), st.just("/v1/actions"), query, st.just("")),
    )

    @settings(FUZZ, max_examples=API_EXAMPLES)
    @given(call=calls, content_type=st.just("application/json") | header_text)
    def call_api(call: tuple[str, str, Any, str], content_type: str) -> None:
        method, path, payload, key = call
        headers = {"Content-Type": content_type} if method == "POST" else {}
        if key:
            headers["Idempotency-Key"] = key
        if method == "GET":
            response = client.request(method, path, params=payload, headers=headers)
        else:
            response = client.request(method, path, content=payload, headers=headers)
        tally["requests"] += 1
        check_answer(response, tally)
        if response.status_code == 201:
            created.add(response.json()["id"])
        elif method == "POST" and path.endswith("/cancel") and response.status_code == 200:
            cancelled.add(response.json()["id"])

    call_api()
    changes = changed_rows(before, snapshot(client.clipwire.settings.db_path))
    assert set(changes.get("jobs", [])) <= created | cancelled
    assert not changes.get("events")
    after = snapshot(client.clipwire.settings.db_path)
    for table, job_column in (("transitions", 1), ("actions", 1)):
        assert {after[table][k][job_column] for k in changes.get(table, [])} <= created | cancelled
    assert not any(k.startswith("http_5") for k in tally)
    record_figures(
        tmp_path,
        "fuzz_api",
        {**tally, "jobs_created": len(created), "jobs_cancelled": len(cancelled)},
    )
