"""The jobs API in-process: submit, idempotency (also racing), quotas, authz, reply, cancel,
usage. A submission answers `queued` and sends `jobs.start`; starts and turns run through
`job_start` and `turn_run` like a worker would, against real Redis, the Mongo-compatible
server and the scripted model."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from agents.models import Turn, TurnStatus
from agents.services import turn_run, turns_watchdog
from anker_project.redis_client import get_redis
from jobs.models import Job, JobStatus
from sessions.live import key_sessions_group, user_sessions_group
from tests.agents.conftest import ToolApiServer
from tests.agents.test_agent_turn import call, plan
from tests.conftest import client_for
from tests.jobs.conftest import Key, key_client, make_key, queued, start_queued_jobs
from tests.support.llm_server import ScriptedLLM, slow, text

pytestmark = pytest.mark.django_db(transaction=True)


def submit(key: Key, body: dict[str, Any] | None = None, **headers: str) -> Any:
    body = {"prompt": "Say ok", "mode": "lite", **(body or {})}
    return key.client.post("/api/v1/jobs", body, format="json", **headers)


def run_queued_job_turns() -> list[str]:
    """Start the jobs waiting on the `jobs` queue, then take every turn waiting there and run
    it, as the jobs worker would."""
    start_queued_jobs()
    messages = queued("jobs")
    get_redis().delete("jobs")
    return [turn_run(turn_id=m["kwargs"]["turn_id"]) for m in messages]


def job_of(key: Key, job_id: str) -> dict[str, Any]:
    response = key.client.get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200, response.json()
    return response.json()["data"]


def test_a_submitted_job_answers_202_queued_is_started_by_the_worker_runs_on_the_jobs_queue_and_succeeds(
    alice_key: Key, llm: ScriptedLLM
) -> None:
    llm.push(text("ok", usage=(11, 2)))

    response = submit(alice_key, {"metadata": {"ticket": 7}, "priority": 3})

    assert response.status_code == 202
    data = response.json()["data"]
    job = Job.objects.get()
    assert data == {
        "job_id": str(job.id),
        "session_id": job.session_id,
        "status": "queued",
        "links": {
            "self": f"/api/v1/jobs/{job.id}",
            "events_ws": f"/api/v1/ws/sessions/{job.session_id}",
            "events_sse": f"/api/v1/sessions/{job.session_id}/chat",
            "cancel": f"/api/v1/jobs/{job.id}/cancel",
            "reply": f"/api/v1/jobs/{job.id}/reply",
        },
    }
    assert job.session is not None and job.session.owner_id == alice_key.obj.owner_id
    # The request made the job and its session only: the turn and its events are the worker's.
    assert (job.status, job.turn_id, job.started_at) == ("queued", None, None)
    assert Turn.objects.count() == 0
    assert queued("jobs") == [{"task": "jobs.start", "kwargs": {"job_id": str(job.id)}}]

    assert start_queued_jobs() == ["started"]

    job.refresh_from_db()
    assert job.status == "running" and job.started_at is not None
    assert queued("jobs") == [
        {"task": "agents.run_turn", "kwargs": {"turn_id": str(job.turn_id), "session_id": job.session_id}}
    ]
    assert queued("turns") == []
    assert start_queued_jobs() == []  # a job starts once

    assert run_queued_job_turns() == ["completed"]

    view = job_of(alice_key, str(job.id))
    assert {k: view[k] for k in ("status", "queue_position", "result", "usage", "error", "metadata", "priority")} == {
        "status": "succeeded",
        "queue_position": None,
        "result": {"message": "ok", "files": []},
        "usage": {"prompt_tokens": 11, "completion_tokens": 2},
        "error": None,
        "metadata": {"ticket": 7},
        "priority": 3,
    }
    assert view["started_at"] is not None and view["finished_at"] is not None


def test_the_same_idempotency_key_and_body_return_the_same_job_and_start_nothing(alice_key: Key) -> None:
    first = submit(alice_key, HTTP_IDEMPOTENCY_KEY="order-1")
    again = submit(alice_key, HTTP_IDEMPOTENCY_KEY="order-1")

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["data"] == first.json()["data"]
    assert Job.objects.count() == 1
    assert len(queued("jobs")) == 1  # one start
    assert start_queued_jobs() == ["started"]
    assert Turn.objects.count() == 1
    assert len(queued("jobs")) == 1  # its one turn


def test_the_same_idempotency_key_with_another_body_is_a_conflict(alice_key: Key) -> None:
    submit(alice_key, HTTP_IDEMPOTENCY_KEY="order-1")

    response = submit(alice_key, {"prompt": "Something else"}, HTTP_IDEMPOTENCY_KEY="order-1")

    assert response.status_code == 409
    assert response.json() == {
        "code": 409,
        "msg": "This Idempotency-Key was already used with a different request",
        "data": None,
    }
    assert Job.objects.count() == 1
    assert queued("jobs") == [{"task": "jobs.start", "kwargs": {"job_id": str(Job.objects.get().id)}}]


def test_racing_identical_submissions_make_one_job_and_one_run(alice_key: Key) -> None:
    barrier = threading.Barrier(8)

    def post(_: int) -> tuple[int, str]:
        barrier.wait()
        try:
            response = submit(Key(alice_key.obj, alice_key.raw, key_client(alice_key.raw)), HTTP_IDEMPOTENCY_KEY="race")
            return response.status_code, response.json()["data"]["job_id"]
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(post, range(8)))

    job = Job.objects.get()
    assert sorted(code for code, _ in results) == [200] * 7 + [202]
    assert {job_id for _, job_id in results} == {str(job.id)}
    assert start_queued_jobs() == ["started"]
    job.refresh_from_db()
    assert Turn.objects.count() == 1
    assert [m["kwargs"]["turn_id"] for m in queued("jobs")] == [str(job.turn_id)]


def test_a_private_webhook_target_is_refused_at_submission(alice_key: Key, settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://169.254.169.254/", "ftp://example.com/"):
        response = submit(alice_key, {"webhook_url": url})
        assert response.status_code == 422, url
        assert response.json()["code"] == 422
    assert Job.objects.count() == 0
    assert queued("jobs") == []


def test_over_the_concurrency_limit_jobs_wait_queued_in_priority_order_then_run(alice: Any, llm: ScriptedLLM) -> None:
    key = make_key(alice, max_concurrent_jobs=1)
    llm.set_default(text("ok"))
    first = submit(key, {"prompt": "first"}).json()["data"]["job_id"]
    # A limited key's start dispatches its line under the key's lock: it fills the one slot.
    assert start_queued_jobs() == ["dispatched"]
    low = submit(key, {"prompt": "low", "priority": -5}).json()["data"]["job_id"]
    high = submit(key, {"prompt": "high", "priority": 5}).json()["data"]["job_id"]
    assert start_queued_jobs() == ["dispatched", "dispatched"]  # the slot is taken: both stay queued

    assert [(job_of(key, j)["status"], job_of(key, j)["queue_position"]) for j in (first, low, high)] == [
        ("running", None),
        ("queued", 2),
        ("queued", 1),
    ]
    assert Turn.objects.count() == 1  # queued jobs have no turn yet
    assert len(queued("jobs")) == 1

    order = []
    for _ in range(3):
        (message,) = queued("jobs")
        order.append(Turn.objects.get(pk=message["kwargs"]["turn_id"]).message)
        assert run_queued_job_turns() == ["completed"]

    assert order == ["first", "high", "low"]
    assert [job_of(key, j)["status"] for j in (first, low, high)] == ["succeeded"] * 3


def test_without_a_concurrency_limit_a_jobs_end_leaves_the_keys_queued_jobs_to_their_own_starts(
    alice_key: Key, llm: ScriptedLLM
) -> None:
    llm.set_default(text("ok"))
    first = submit(alice_key, {"prompt": "first"}).json()["data"]["job_id"]
    assert start_queued_jobs() == ["started"]
    (first_turn,) = queued("jobs")
    get_redis().delete("jobs")  # the first's turn, taken by this test's worker
    second = submit(alice_key, {"prompt": "second"}).json()["data"]["job_id"]

    # When the first job's turn ends, no slot was freed: the second waits for its own jobs.start.
    assert turn_run(turn_id=first_turn["kwargs"]["turn_id"]) == "completed"

    assert [job_of(alice_key, j)["status"] for j in (first, second)] == ["succeeded", "queued"]
    assert [m["task"] for m in queued("jobs")] == ["jobs.start"]
    assert start_queued_jobs() == ["started"]
    assert job_of(alice_key, second)["status"] == "running"


def _session_list_upserts(channel: str) -> list[tuple[str, str]]:
    """(session_id, status) of every session-list upsert the channel received so far."""

    async def drain() -> list[tuple[str, str]]:
        layer = get_channel_layer()
        assert layer is not None
        got = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=1)
            except TimeoutError:
                return got
            payload = message["payload"]
            got.append((payload["session"]["session_id"], payload["session"]["status"]))

    return async_to_sync(drain)()


def test_a_jobs_session_reaches_the_session_lists_when_the_worker_takes_the_job_even_if_it_waits_for_a_slot(
    alice: Any, llm: ScriptedLLM
) -> None:
    llm.set_default(text("ok"))
    key = make_key(alice, max_concurrent_jobs=1)
    layer = get_channel_layer()
    assert layer is not None
    channels = {}
    for name, group in (("owner", user_sessions_group(alice.pk)), ("key", key_sessions_group(str(key.obj.pk)))):
        channels[name] = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(group, channels[name])
    first = submit(key, {"prompt": "first"}).json()["data"]["session_id"]
    second = submit(key, {"prompt": "second"}).json()["data"]["session_id"]

    assert start_queued_jobs() == ["dispatched", "dispatched"]  # the second waits for the one slot

    for name in ("owner", "key"):
        upserts = _session_list_upserts(channels[name])
        assert (first, "pending") in upserts, name  # announced, then its turn's events
        assert (first, "running") in upserts, name
        assert [u for u in upserts if u[0] == second] == [(second, "pending")], name


def test_over_the_rate_limit_a_submission_gets_429_with_retry_after(alice: Any) -> None:
    key = make_key(alice, rate_limit_per_minute=2)
    assert [submit(key).status_code for _ in range(2)] == [202, 202]

    response = submit(key)

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["code"] == 429
    assert Job.objects.count() == 2


def test_a_chat_turn_goes_to_the_turns_queue_while_twenty_jobs_sit_in_jobs(alice_key: Key, alice: Any) -> None:
    for i in range(20):
        assert submit(alice_key, {"prompt": f"batch {i}"}).status_code == 202
    assert start_queued_jobs() == ["started"] * 20
    chat = client_for(alice)
    session_id = chat.put("/api/v1/sessions", {"mode": "lite"}, format="json").json()["data"]["session_id"]

    response = chat.post(f"/api/v1/sessions/{session_id}/chat", {"message": "hi", "timestamp": 0}, format="json")
    response.close()

    chat_turn = Turn.objects.get(session_id=session_id)
    assert queued("turns") == [
        {"task": "agents.run_turn", "kwargs": {"turn_id": str(chat_turn.id), "session_id": session_id}}
    ]
    assert [m["task"] for m in queued("jobs")] == ["agents.run_turn"] * 20


def test_a_key_cannot_see_or_cancel_another_keys_job(alice_key: Key, bob_key: Key) -> None:
    job_id = submit(alice_key).json()["data"]["job_id"]

    for response in (
        bob_key.client.get(f"/api/v1/jobs/{job_id}"),
        bob_key.client.post(f"/api/v1/jobs/{job_id}/cancel"),
        bob_key.client.post(f"/api/v1/jobs/{job_id}/reply", {"message": "x"}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json() == {"code": 404, "msg": "Job not found", "data": None}
    assert bob_key.client.get("/api/v1/jobs").json()["data"] == {"jobs": [], "count": 0, "limit": 20, "offset": 0}
    assert Job.objects.get().status == JobStatus.QUEUED  # as submitted: no worker started it here
    assert Job.objects.get().cancel_requested_at is None


def test_a_revoked_or_unknown_key_is_401(alice_key: Key) -> None:
    alice_key.obj.revoked = True
    alice_key.obj.save()

    for client in (alice_key.client, key_client("nope.nope")):
        response = client.post("/api/v1/jobs", {"prompt": "x", "mode": "lite"}, format="json")
        assert response.status_code == 401
        assert response.json() == {"code": 401, "msg": "Invalid or revoked API key.", "data": None}
    assert Job.objects.count() == 0


def test_a_jwt_user_cannot_use_the_jobs_api_and_an_api_key_reads_only_its_jobs_sessions(
    alice: Any, alice_key: Key, bob_key: Key
) -> None:
    assert client_for(alice).get("/api/v1/jobs").status_code == 403
    personal = client_for(alice).put("/api/v1/sessions", {"mode": "lite"}, format="json").json()["data"]["session_id"]
    session_id = submit(alice_key).json()["data"]["session_id"]
    start_queued_jobs()

    listed = alice_key.client.get("/api/v1/sessions").json()["data"]["sessions"]
    detail = alice_key.client.get(f"/api/v1/sessions/{session_id}")

    assert [(s["session_id"], s["origin"]) for s in listed] == [(session_id, "job")]
    assert detail.status_code == 200
    assert [e["event"] for e in detail.json()["data"]["events"]] == ["message", "status"]
    assert alice_key.client.get(f"/api/v1/sessions/{personal}").status_code == 404  # the owner's own chat
    assert bob_key.client.get(f"/api/v1/sessions/{session_id}").status_code == 404


def test_a_job_list_pages_newest_first_and_filters_by_status(alice_key: Key, llm: ScriptedLLM) -> None:
    llm.set_default(text("ok"))
    ids = [submit(alice_key, {"prompt": f"p{i}"}).json()["data"]["job_id"] for i in range(3)]
    start_queued_jobs()
    turn_run(turn_id=queued("jobs")[0]["kwargs"]["turn_id"])  # the first job succeeds

    page = alice_key.client.get("/api/v1/jobs?limit=2&offset=0").json()["data"]
    rest = alice_key.client.get("/api/v1/jobs?limit=2&offset=2").json()["data"]
    done = alice_key.client.get("/api/v1/jobs?status=succeeded").json()["data"]

    assert [j["job_id"] for j in page["jobs"]] == [ids[2], ids[1]]
    assert (page["count"], rest["count"]) == (3, 3)
    assert [j["job_id"] for j in rest["jobs"]] == [ids[0]]
    assert [j["job_id"] for j in done["jobs"]] == [ids[0]]


def test_a_job_that_asks_waits_and_a_reply_makes_it_succeed(
    alice_key: Key, llm: ScriptedLLM, sandbox: ToolApiServer
) -> None:
    llm.push(plan("Ask which anchor"), call("message_ask_user", {"text": "Which anchor do you mean?"}, "call_ask"))
    job_id = submit(alice_key, {"prompt": "Tell me about the anchor", "mode": "agent"}).json()["data"]["job_id"]
    early = alice_key.client.post(f"/api/v1/jobs/{job_id}/reply", {"message": "too early"}, format="json")
    assert early.status_code == 409

    assert run_queued_job_turns() == ["waiting"]
    waiting = job_of(alice_key, job_id)
    assert (waiting["status"], waiting["result"]) == (
        "waiting",
        {"message": "Which anchor do you mean?", "files": []},
    )

    llm.push(
        call("complete_step", {"success": True, "result": "The Danforth"}, "call_done"),
        call("deliver_result", {"message": "The Danforth anchor."}, "call_result"),
    )
    replied = alice_key.client.post(f"/api/v1/jobs/{job_id}/reply", {"message": "The Danforth"}, format="json")
    assert replied.status_code == 200
    assert replied.json()["data"]["status"] == "running"
    assert run_queued_job_turns() == ["completed"]

    done = job_of(alice_key, job_id)
    assert (done["status"], done["result"], done["error"]) == (
        "succeeded",
        {"message": "The Danforth anchor.", "files": []},
        None,
    )
    assert Turn.objects.filter(session_id=done["session_id"]).count() == 2


def test_cancelling_a_running_job_stops_its_turn(alice_key: Key, llm: ScriptedLLM) -> None:
    llm.push(slow(text("never seen"), delay_before_first_byte=30))
    job_id = submit(alice_key).json()["data"]["job_id"]
    assert start_queued_jobs() == ["started"]
    turn_id = queued("jobs")[0]["kwargs"]["turn_id"]
    outcome: list[str] = []
    runner = threading.Thread(target=lambda: (outcome.append(turn_run(turn_id=turn_id)), connection.close()))
    runner.start()
    deadline = time.monotonic() + 10
    while Turn.objects.get(pk=turn_id).status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)

    response = alice_key.client.post(f"/api/v1/jobs/{job_id}/cancel")
    runner.join(timeout=20)

    assert response.status_code == 200
    answered = response.json()["data"]
    # A running job stops at its turn's next safe point: the answer may still say `running`,
    # and always says the cancel was taken.
    assert answered["status"] in ("running", "cancelled") and answered["cancel_requested_at"] is not None
    assert outcome == ["cancelled"]
    view = job_of(alice_key, job_id)
    assert (view["status"], view["result"], view["error"]) == ("cancelled", None, None)
    again = alice_key.client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409


def test_cancelling_a_queued_job_ends_it_at_once_without_a_turn(alice: Any) -> None:
    key = make_key(alice, max_concurrent_jobs=1)
    submit(key)
    waiting_id = submit(key, {"prompt": "second"}).json()["data"]["job_id"]
    assert start_queued_jobs() == ["dispatched", "dispatched"]  # the first takes the one slot

    response = key.client.post(f"/api/v1/jobs/{waiting_id}/cancel")

    assert response.status_code == 200
    assert (response.json()["data"]["status"], response.json()["data"]["queue_position"]) == ("cancelled", None)
    assert Job.objects.get(pk=waiting_id).turn_id is None
    assert Turn.objects.count() == 1


def test_cancelling_a_job_before_the_worker_starts_it_ends_it_and_its_start_does_nothing(alice_key: Key) -> None:
    job = submit(alice_key).json()["data"]

    response = alice_key.client.post(f"/api/v1/jobs/{job['job_id']}/cancel")

    assert response.status_code == 200
    assert (response.json()["data"]["status"], response.json()["data"]["started_at"]) == ("cancelled", None)
    assert start_queued_jobs() == ["not_queued"]
    assert Job.objects.get().turn_id is None
    assert Turn.objects.count() == 0
    assert queued("jobs") == []
    assert alice_key.client.get(f"/api/v1/sessions/{job['session_id']}").json()["data"]["events"] == []


def test_a_job_past_its_timeout_is_stopped_and_fails(alice_key: Key, llm: ScriptedLLM) -> None:
    from jobs.services import jobs_tick

    job_id = submit(alice_key, {"timeout_s": 1}).json()["data"]["job_id"]
    assert start_queued_jobs() == ["started"]  # the timeout counts from the start
    time.sleep(1.1)

    assert jobs_tick()["timed_out"] == 1  # its turn was still queued: cancelled right here

    view = job_of(alice_key, job_id)
    assert (view["status"], view["error"]) == ("failed", "The job ran longer than its timeout of 1 s.")


def test_usage_counts_turns_jobs_and_tokens_per_day(alice_key: Key, alice: Any, llm: ScriptedLLM) -> None:
    llm.push(text("ok", usage=(30, 4)))
    submit(alice_key)
    run_queued_job_turns()

    response = alice_key.client.get("/api/v1/usage?days=2")

    assert response.status_code == 200
    yesterday, today = response.json()["data"]["days"]
    assert {k: v for k, v in today.items() if k != "date"} == {
        "turns": 1,
        "jobs": 1,
        "prompt_tokens": 30,
        "completion_tokens": 4,
        "sandbox_minutes": 0.0,
        "models": [{"model": "scripted-model", "turns": 1, "prompt_tokens": 30, "completion_tokens": 4}],
    }
    assert (yesterday["turns"], yesterday["jobs"], yesterday["models"]) == (0, 0, [])


def test_create_api_key_prints_one_json_line_with_a_working_key(alice: Any) -> None:
    out = io.StringIO()
    call_command("create_api_key", "--owner", "alice", "--name", "etl", "--max-concurrent", "3", stdout=out)

    line = json.loads(out.getvalue().strip())
    assert sorted(line) == ["key", "webhook_secret"]
    assert key_client(line["key"]).get("/api/v1/jobs").status_code == 200
    stored = alice.job_api_keys.get()
    assert (stored.name, stored.max_concurrent_jobs, stored.webhook_secret) == ("etl", 3, line["webhook_secret"])
    assert line["key"] not in stored.hashed_key  # hashed at rest
    assert stored.default_multitask_strategy == "reject"


def test_create_api_key_sets_the_keys_default_multitask_strategy(alice: Any) -> None:
    call_command(
        "create_api_key", "--owner", "alice", "--name", "q", "--multitask-strategy", "enqueue", stdout=io.StringIO()
    )

    assert alice.job_api_keys.get().default_multitask_strategy == "enqueue"


def test_the_watchdog_resumes_a_job_turn_on_the_jobs_queue_and_a_chat_turn_on_turns(
    alice_key: Key, alice: Any, settings: Any
) -> None:
    assert submit(alice_key).status_code == 202
    start_queued_jobs()
    job_turn = Turn.objects.get(pk=Job.objects.get().turn_id)
    chat = client_for(alice)
    session_id = chat.put("/api/v1/sessions", {"mode": "lite"}, format="json").json()["data"]["session_id"]
    chat.post(f"/api/v1/sessions/{session_id}/chat", {"message": "hi", "timestamp": 0}, format="json").close()
    chat_turn = Turn.objects.get(session_id=session_id)
    get_redis().delete("jobs", "turns")
    # Both turns were taken by a worker that then died: running, heartbeat stale, no session lock.
    stale = timezone.now() - timedelta(seconds=settings.TURN_STALE_SECONDS + 5)
    Turn.objects.filter(pk__in=[job_turn.pk, chat_turn.pk]).update(status=TurnStatus.RUNNING, heartbeat_at=stale)

    assert turns_watchdog() == {"cancelled": 0, "resumed": 2, "failed": 0}

    assert queued("jobs") == [
        {"task": "agents.run_turn", "kwargs": {"turn_id": str(job_turn.id), "session_id": job_turn.session_id}}
    ]
    assert queued("turns") == [
        {"task": "agents.run_turn", "kwargs": {"turn_id": str(chat_turn.id), "session_id": session_id}}
    ]
