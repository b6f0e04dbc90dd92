"""`POST /jobs` with `session_id`: a job continues its session, and a job still live there is
treated by `multitask_strategy` (or the key's default). 20 submissions at once for each strategy,
through the jobs API against the real database, Redis and the Mongo-compatible event log; jobs
start through `job_start` (for the 20 at once, in a thread while they are submitted) and turns
run through `turn_run`, as the jobs worker would run them."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from agents.models import Turn
from agents.services import turn_run
from jobs.models import Job, JobStatus
from jobs.services.continuation import BUSY_MESSAGE
from sessions import eventlog
from sessions.models import Session
from tests.jobs.conftest import Key, key_client, make_key, queued, start_queued_jobs, starting_jobs_meanwhile
from tests.jobs.test_jobs_api import run_queued_job_turns, submit
from tests.support.llm_server import ScriptedLLM, text

pytestmark = pytest.mark.django_db(transaction=True)

N = 20
BUSY = {"code": 409, "msg": BUSY_MESSAGE, "data": None}


def submit_at_once(key: Key, session_id: str, strategy: str | None) -> list[tuple[int, dict[str, Any], str]]:
    barrier = threading.Barrier(N)

    def post(i: int) -> tuple[int, dict[str, Any], str]:
        client = key_client(key.raw)
        prompt = f"job {i}"
        body: dict[str, Any] = {"prompt": prompt, "mode": "lite", "session_id": session_id}
        if strategy is not None:
            body["multitask_strategy"] = strategy
        barrier.wait()
        try:
            response = client.post("/api/v1/jobs", body, format="json")
            return response.status_code, response.json(), prompt
        finally:
            connection.close()

    with ThreadPoolExecutor(N) as pool:
        return list(pool.map(post, range(N)))


def first_job(key: Key) -> Job:
    """A job on a new session, started (its turn queued) as the jobs worker would."""
    response = submit(key, {"prompt": "first"})
    assert response.status_code == 202
    assert start_queued_jobs() == ["started"]
    return Job.objects.get(pk=response.json()["data"]["job_id"])


def user_messages(session_id: str) -> list[str]:
    events = eventlog.events_after(session_id, 0)
    return [e["content"] for e in events if e["type"] == "message" and e["role"] == "user"]


def run_in_turn_order(session_id: str) -> None:
    """Run the session's queued turns oldest first, as the worker's in-order retries would."""
    queued("jobs")
    for turn in Turn.objects.filter(session_id=session_id, status="queued").order_by("created_at"):
        assert turn_run(turn_id=str(turn.id)) in ("completed", "skipped")


def test_reject_on_a_busy_session_refuses_all_20_and_creates_nothing(alice_key: Key) -> None:
    first = first_job(alice_key)
    seq_before = eventlog.last_seq(first.session_id)

    results = submit_at_once(alice_key, first.session_id, "reject")

    assert [(status, body) for status, body, _ in results] == [(409, BUSY)] * N
    assert list(Job.objects.values_list("pk", "status")) == [(first.pk, JobStatus.RUNNING)]
    assert eventlog.last_seq(first.session_id) == seq_before


def test_reject_on_an_idle_session_accepts_exactly_one_of_20(alice_key: Key, llm: ScriptedLLM) -> None:
    llm.set_default(text("ok"))
    first = first_job(alice_key)
    run_queued_job_turns()
    assert Job.objects.get(pk=first.pk).status == JobStatus.SUCCEEDED

    results = submit_at_once(alice_key, first.session_id, "reject")

    accepted = [prompt for status, _, prompt in results if status == 202]
    assert len(accepted) == 1
    assert [body for status, body, _ in results if status != 202] == [BUSY] * (N - 1)
    second = Job.objects.exclude(pk=first.pk).get()
    assert (second.prompt, second.session_id) == (accepted[0], first.session_id)
    assert start_queued_jobs() == ["dispatched"]
    assert user_messages(first.session_id) == ["first", accepted[0]]


def test_enqueue_accepts_all_20_and_runs_them_in_the_order_they_were_accepted(alice_key: Key, llm: ScriptedLLM) -> None:
    llm.set_default(text("ok"))
    first = first_job(alice_key)

    with starting_jobs_meanwhile():
        results = submit_at_once(alice_key, first.session_id, "enqueue")

    assert [status for status, _, _ in results] == [202] * N
    jobs = list(Job.objects.order_by("created_at"))
    assert len(jobs) == N + 1 and all(j.status == JobStatus.RUNNING for j in jobs)
    # Their messages are in the log in the order they were accepted.
    assert user_messages(first.session_id) == [j.prompt for j in jobs]

    run_in_turn_order(first.session_id)

    ran = Job.objects.order_by("turn__started_at").values_list("prompt", "status")
    assert list(ran) == [(j.prompt, JobStatus.SUCCEEDED) for j in jobs]


@pytest.mark.parametrize("strategy", ["interrupt", "rollback"])
def test_interrupt_and_rollback_leave_only_the_last_of_20_and_cancel_the_others(
    alice_key: Key, llm: ScriptedLLM, strategy: str
) -> None:
    llm.set_default(text("ok"))
    first = first_job(alice_key)

    with starting_jobs_meanwhile():
        results = submit_at_once(alice_key, first.session_id, strategy)

    assert [status for status, _, _ in results] == [202] * N
    jobs = list(Job.objects.order_by("created_at"))
    last = jobs[-1]
    assert [j.status for j in jobs] == [JobStatus.CANCELLED] * N + [JobStatus.RUNNING]
    assert all(j.cancel_requested_at is not None for j in jobs[:-1])
    # The first job's turn ran; a job cancelled before the worker started it has no turn.
    started = [j for j in jobs[:-1] if j.turn_id is not None]
    assert started[0] == first and last.turn_id is not None

    run_in_turn_order(first.session_id)

    last.refresh_from_db()
    assert last.status == JobStatus.SUCCEEDED and last.result["message"] == "ok"
    kept = eventlog.events_after(first.session_id, 0)
    discarded_turns = {str(j.turn_id) for j in started}
    if strategy == "interrupt":
        assert user_messages(first.session_id) == [j.prompt for j in [*started, last]]  # the history is kept
        assert not [e for e in kept if e["type"] == "rollback"]
    else:
        # The discarded jobs leave nothing in the log but the rollback events.
        assert user_messages(first.session_id) == [last.prompt]
        assert [e for e in kept if e.get("turn_id") in discarded_turns and e["type"] != "rollback"] == []
        rolled_back = [t for e in kept if e["type"] == "rollback" for t in e["turn_ids"]]
        assert sorted(rolled_back) == sorted(discarded_turns)
        # The last job's model saw only its own prompt.
        assert [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "user"] == [last.prompt]


def test_the_keys_default_strategy_applies_when_the_request_names_none(alice: Any, llm: ScriptedLLM) -> None:
    key = make_key(alice, "queueing", default_multitask_strategy="enqueue")
    first = first_job(key)

    response = submit(key, {"prompt": "second", "session_id": first.session_id})

    assert response.status_code == 202
    second = Job.objects.get(pk=response.json()["data"]["job_id"])
    assert (second.session_id, second.multitask_strategy) == (first.session_id, "enqueue")
    assert start_queued_jobs() == ["dispatched"]
    assert Job.objects.get(pk=first.pk).status == JobStatus.RUNNING  # not interrupted
    assert Turn.objects.get(pk=first.turn_id).status == "queued"
    # A key made without a default rejects.
    other = make_key(alice, "plain")
    plain_first = first_job(other)
    assert submit(other, {"prompt": "again", "session_id": plain_first.session_id}).json() == BUSY


def test_another_keys_session_or_a_chat_session_is_a_404_and_creates_nothing(
    alice: Any, alice_key: Key, bob_key: Key
) -> None:
    bobs = first_job(bob_key)
    sibling = make_key(alice, "sibling")  # same owner, another key
    alices = first_job(sibling)
    chat = Session.objects.create(owner=alice, mode="lite")
    before = Job.objects.count()

    for session_id in (bobs.session_id, alices.session_id, chat.id, "nope"):
        response = submit(alice_key, {"session_id": session_id, "multitask_strategy": "interrupt"})
        assert response.json() == {"code": 404, "msg": "Session not found", "data": None}

    assert Job.objects.count() == before
    assert Job.objects.get(pk=bobs.pk).status == JobStatus.RUNNING
    assert Job.objects.get(pk=alices.pk).cancel_requested_at is None


def test_an_unknown_strategy_is_a_422_naming_the_field(alice_key: Key) -> None:
    first = first_job(alice_key)

    response = submit(alice_key, {"session_id": first.session_id, "multitask_strategy": "later"})

    assert response.status_code == 422
    assert response.json()["msg"] == 'multitask_strategy: "later" is not a valid choice.'
    assert Job.objects.count() == 1 and Job.objects.get().status == JobStatus.RUNNING
