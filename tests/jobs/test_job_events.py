"""`GET /jobs/{id}/events`: the job's events as SSE, and `on_disconnect`. Served by Django's real
ASGI handler in this process (its own disconnect handling), against real Redis, the database and
the Mongo-compatible event log; the job's turn runs in a thread as a jobs worker would run it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.core.asgi import get_asgi_application
from django.db import connection

from agents.models import Turn, TurnStatus
from jobs.models import Job, JobStatus
from jobs.services import job_cancel
from tests.jobs.conftest import Key, queued, start_queued_jobs
from tests.jobs.test_jobs_api import submit
from tests.support.llm_server import ScriptedLLM, slow, text

pytestmark = pytest.mark.django_db(transaction=True)


def scope(key: Key, path: str, query: str = "") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Api-Key {key.raw}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


async def follow_then_disconnect(key: Key, job_id: str, query: str) -> tuple[int, bytes]:
    """Open the stream, read until the first event frame, then go away; wait for the handler to end."""
    app = ApplicationCommunicator(get_asgi_application(), scope(key, f"/api/v1/jobs/{job_id}/events", query))
    await app.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await app.receive_output(timeout=10)
    body = b""
    while b"event: " not in body:
        body += (await app.receive_output(timeout=10)).get("body", b"")
    await app.send_input({"type": "http.disconnect"})
    await app.wait(timeout=10)
    return int(start["status"]), body


async def read_to_end(key: Key, job_id: str, query: str, last_event_id: str) -> tuple[int, str]:
    app_scope = scope(key, f"/api/v1/jobs/{job_id}/events", query)
    app_scope["headers"].append((b"last-event-id", last_event_id.encode()))
    app = ApplicationCommunicator(get_asgi_application(), app_scope)
    await app.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await app.receive_output(timeout=10)
    body = b""
    while True:
        message = await app.receive_output(timeout=10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            return int(start["status"]), body.decode()


@pytest.fixture
def running_job(alice_key: Key, llm: ScriptedLLM) -> Iterator[tuple[str, threading.Thread]]:
    """A job whose turn is running: inside a model call that answers only after 30 s."""
    from agents.services import turn_run

    llm.push(slow(text("late"), 30))
    job_id = submit(alice_key).json()["data"]["job_id"]
    assert start_queued_jobs() == ["started"]
    (message,) = queued("jobs")

    def work() -> None:
        try:
            turn_run(turn_id=message["kwargs"]["turn_id"])
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    llm.wait_for_requests(1, timeout=10)
    yield job_id, worker
    worker.join(timeout=20)


def test_a_client_that_disconnects_with_on_disconnect_cancel_cancels_the_running_job(
    alice_key: Key, running_job: tuple[str, threading.Thread]
) -> None:
    job_id, worker = running_job

    status, body = asyncio.run(follow_then_disconnect(alice_key, job_id, "on_disconnect=cancel"))

    assert status == 200 and b"event: message" in body
    worker.join(timeout=20)  # the turn stops at the cancel, long before its model answers
    assert not worker.is_alive()
    job = Job.objects.get(pk=job_id)
    assert job.status == JobStatus.CANCELLED and job.cancel_requested_at is not None
    assert Turn.objects.get(pk=job.turn_id).status == TurnStatus.CANCELLED


@pytest.mark.parametrize("query", ["on_disconnect=continue", ""])
def test_a_client_that_disconnects_otherwise_leaves_the_job_running(
    alice_key: Key, running_job: tuple[str, threading.Thread], query: str
) -> None:
    job_id, worker = running_job

    status, _ = asyncio.run(follow_then_disconnect(alice_key, job_id, query))

    assert status == 200
    time.sleep(0.5)  # the handler has ended; give a stray cancel time to show (there must be none)
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.cancel_requested_at) == (JobStatus.RUNNING, None)
    assert worker.is_alive()  # still inside its model call
    job_cancel(job_id=job_id)  # end it for the fixture


def test_the_stream_of_an_ended_job_replays_its_events_and_ends(alice_key: Key, llm: ScriptedLLM) -> None:
    from tests.jobs.test_jobs_api import run_queued_job_turns

    llm.push(text("ok"))
    job_id = submit(alice_key).json()["data"]["job_id"]
    run_queued_job_turns()

    status, body = asyncio.run(read_to_end(alice_key, job_id, "on_disconnect=cancel", last_event_id="0"))

    assert status == 200
    kinds = [line[len("event: ") :] for line in body.splitlines() if line.startswith("event: ")]
    assert kinds[0] == "message" and kinds[-1] == "done" and "message_delta" in kinds
    assert Job.objects.get(pk=job_id).status == JobStatus.SUCCEEDED  # a stream that ends cancels nothing

    # Resuming after the last seq the client had gives only what follows it.
    ids = [int(line[len("id: ") :]) for line in body.splitlines() if line.startswith("id: ")]
    _, rest = asyncio.run(read_to_end(alice_key, job_id, "", last_event_id=str(ids[-2])))
    assert [line for line in rest.splitlines() if line.startswith("id: ")] == [f"id: {ids[-1]}"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("on_disconnect=abort", "on_disconnect"), ("after=-1", "after"), ("on_disconnect=", "on_disconnect")],
)
def test_a_bad_parameter_is_a_422_naming_it(alice_key: Key, query: str, field: str) -> None:
    job_id = submit(alice_key).json()["data"]["job_id"]

    response = alice_key.client.get(f"/api/v1/jobs/{job_id}/events?{query}")

    assert response.status_code == 422
    assert response.json()["msg"].startswith(f"{field}: ")
    assert list(response.json()["data"]["errors"]) == [field]
    assert Job.objects.get(pk=job_id).cancel_requested_at is None


def test_another_keys_job_stream_is_a_404_and_without_a_key_a_401(alice_key: Key, bob_key: Key, alice: Any) -> None:
    job_id = submit(alice_key).json()["data"]["job_id"]

    assert bob_key.client.get(f"/api/v1/jobs/{job_id}/events?on_disconnect=cancel").json() == {
        "code": 404,
        "msg": "Job not found",
        "data": None,
    }
    from rest_framework.test import APIClient

    assert APIClient().get(f"/api/v1/jobs/{job_id}/events").status_code == 401
    assert Job.objects.get(pk=job_id).cancel_requested_at is None


def test_following_a_queued_jobs_session_waits_for_its_turn_and_streams_it_to_the_end(
    alice_key: Key, llm: ScriptedLLM
) -> None:
    """POST /jobs answers `queued` before a worker made its turn: the `events_sse` link (the
    session's chat stream, resumed from event 0) waits for that turn instead of ending at once."""
    llm.push(text("the answer"))
    job = submit(alice_key, {"prompt": "hello", "mode": "lite"}).json()["data"]
    assert job["status"] == "queued"

    def worker() -> None:
        from agents.services import turn_run

        time.sleep(1.0)  # the reader is waiting by now
        try:
            start_queued_jobs()
            turn_run(turn_id=queued("jobs")[0]["kwargs"]["turn_id"])
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    response = alice_key.client.post(
        f"/api/v1/sessions/{job['session_id']}/chat", {"message": "", "event_id": "0"}, format="json"
    )

    async def read_all() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    body = async_to_sync(read_all)().decode()
    thread.join(timeout=30)

    assert response.status_code == 200
    types = [line.removeprefix("event: ") for line in body.splitlines() if line.startswith("event: ")]
    assert types[0] == "message" and types[-1] == "done"
    assert '"content":"the answer"' in body
    assert Job.objects.get(pk=job["job_id"]).status == JobStatus.SUCCEEDED
