"""Runs beyond submit/cancel: Standard Webhooks, event filters, delayed start, bulk cancel,
delete and retention, wait/join — against the real database, Redis and Mongo-compatible server."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from agents.models import Turn
from jobs.models import Job, WebhookDelivery
from jobs.services import jobs_retention_sweep, jobs_tick, webhook_attempt, webhook_enqueue
from sessions.models import Session
from tests.conftest import client_for
from tests.jobs.conftest import Key, Receiver, make_key, queued, start_queued_jobs
from tests.jobs.test_jobs_api import job_of, run_queued_job_turns, submit
from tests.support.llm_server import ScriptedLLM, text

pytestmark = pytest.mark.django_db(transaction=True)


# --- Standard Webhooks ----------------------------------------------------------------------


def test_a_webhook_verifies_with_the_standardwebhooks_library_and_keeps_the_anker_signature(
    alice_key: Key, llm: ScriptedLLM, receiver: Receiver
) -> None:
    llm.push(text("ok"))
    job_id = submit(alice_key, {"webhook_url": receiver.url}).json()["data"]["job_id"]
    run_queued_job_turns()
    delivery = WebhookDelivery.objects.get(job_id=job_id)

    assert webhook_attempt(delivery_id=str(delivery.pk)) == "delivered"
    (hook,) = receiver.wait_for(1, timeout=10)

    payload = Webhook(alice_key.obj.webhook_secret).verify(hook.body, hook.headers)
    assert payload["event"] == "job.succeeded" and payload["job_id"] == job_id
    assert hook.headers["webhook-id"] == f"msg_{delivery.pk.hex}"
    assert hook.headers["x-anker-signature"].startswith("sha256=")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 11).verify(hook.body, hook.headers)
    tampered = hook.body.replace(b"succeeded", b"failed")
    with pytest.raises(WebhookVerificationError):
        Webhook(alice_key.obj.webhook_secret).verify(tampered, hook.headers)


def test_a_retry_keeps_the_webhook_id_so_receivers_can_drop_duplicates(
    alice_key: Key, llm: ScriptedLLM, receiver: Receiver, settings: Any
) -> None:
    settings.WEBHOOK_COUNTDOWN_MAX_SECONDS = 0  # retries left to the test, not to Celery
    llm.push(text("ok"))
    receiver.statuses = [500]
    job_id = submit(alice_key, {"webhook_url": receiver.url}).json()["data"]["job_id"]
    run_queued_job_turns()
    delivery = WebhookDelivery.objects.get(job_id=job_id)

    assert webhook_attempt(delivery_id=str(delivery.pk)) == "retry"
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert webhook_attempt(delivery_id=str(delivery.pk)) == "delivered"

    first, second = receiver.wait_for(2, timeout=10)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"msg_{delivery.pk.hex}"


def test_a_keys_event_filter_decides_which_webhooks_are_recorded(alice: Any, receiver: Receiver) -> None:
    only_failures = make_key(alice, "failures", webhook_events=["job.failed", "job.started"])
    everything_default = make_key(alice, "default")
    for key in (only_failures, everything_default):
        job = Job.objects.create(
            owner=alice, api_key=key.obj, mode="lite", prompt="x", webhook_url=receiver.url, status="succeeded"
        )
        webhook_enqueue(job=job)
        webhook_enqueue(job=job, event="job.started")

    assert sorted(WebhookDelivery.objects.values_list("job__api_key__name", "event")) == [
        ("default", "job.succeeded"),
        ("failures", "job.started"),
    ]


def test_a_job_start_is_announced_to_a_key_that_asks_for_it(alice: Any, receiver: Receiver, llm: ScriptedLLM) -> None:
    key = make_key(alice, "starts", webhook_events=["job.started", "job.succeeded"])
    llm.push(text("ok"))
    job_id = submit(key, {"webhook_url": receiver.url}).json()["data"]["job_id"]
    run_queued_job_turns()

    events = list(WebhookDelivery.objects.filter(job_id=job_id).order_by("created_at").values_list("event", flat=True))
    assert events == ["job.started", "job.succeeded"]


# --- delayed start --------------------------------------------------------------------------


def test_a_delayed_job_is_scheduled_until_its_time_then_runs(alice_key: Key, llm: ScriptedLLM) -> None:
    llm.push(text("later"))
    response = submit(alice_key, {"after_seconds": 3600})

    assert response.status_code == 202
    job_id = response.json()["data"]["job_id"]
    assert job_of(alice_key, job_id)["status"] == "scheduled"
    jobs_tick()
    assert queued("jobs") == [] and Turn.objects.count() == 0

    Job.objects.filter(pk=job_id).update(not_before=timezone.now() - timedelta(seconds=1))
    counts = jobs_tick()

    assert counts["due"] == 1 and counts["started"] == 1
    assert run_queued_job_turns() == ["completed"]
    assert job_of(alice_key, job_id)["result"]["message"] == "later"


@pytest.mark.parametrize("after", [-1, 10**9, "soon"])
def test_a_bad_delay_is_a_422_naming_the_field_and_creates_nothing(alice_key: Key, after: Any) -> None:
    response = submit(alice_key, {"after_seconds": after})

    assert response.status_code == 422
    assert response.json()["msg"].startswith("after_seconds: ")
    assert Job.objects.count() == 0 and Session.objects.count() == 0


def test_a_scheduled_job_can_be_cancelled_before_it_starts(alice_key: Key) -> None:
    job_id = submit(alice_key, {"after_seconds": 60}).json()["data"]["job_id"]

    response = alice_key.client.post(f"/api/v1/jobs/{job_id}/cancel")

    assert response.status_code == 200 and response.json()["data"]["status"] == "cancelled"
    Job.objects.filter(pk=job_id).update(not_before=timezone.now())
    jobs_tick()
    assert Turn.objects.count() == 0


# --- bulk cancel, delete, retention ---------------------------------------------------------


def test_bulk_cancel_by_status_ends_only_this_keys_queued_jobs(alice: Any, bob_key: Key) -> None:
    key = make_key(alice, max_concurrent_jobs=1)
    running = submit(key).json()["data"]["job_id"]
    assert start_queued_jobs() == ["dispatched"]  # it takes the key's one slot
    waiting_line = [submit(key).json()["data"]["job_id"] for _ in range(2)]
    delayed = submit(key, {"after_seconds": 600}).json()["data"]["job_id"]
    bobs = submit(bob_key, {"after_seconds": 600}).json()["data"]["job_id"]

    response = key.client.post("/api/v1/jobs/cancel", {"status": "queued"}, format="json")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["count"] == 3
    assert sorted(j["job_id"] for j in data["cancelled"]) == sorted([*waiting_line, delayed])
    assert {j["status"] for j in data["cancelled"]} == {"cancelled"}
    assert Job.objects.get(pk=running).status == "running"
    assert Job.objects.get(pk=bobs).status == "scheduled"


def test_bulk_cancel_by_id_ignores_another_keys_job(alice_key: Key, bob_key: Key) -> None:
    mine = submit(alice_key, {"after_seconds": 600}).json()["data"]["job_id"]
    bobs = submit(bob_key, {"after_seconds": 600}).json()["data"]["job_id"]

    response = alice_key.client.post("/api/v1/jobs/cancel", {"job_ids": [mine, bobs]}, format="json")

    assert [j["job_id"] for j in response.json()["data"]["cancelled"]] == [mine]
    assert Job.objects.get(pk=bobs).status == "scheduled"


def test_bulk_cancel_without_ids_or_status_is_a_422_and_cancels_nothing(alice_key: Key) -> None:
    job_id = submit(alice_key, {"after_seconds": 600}).json()["data"]["job_id"]

    for body in ({}, {"status": "everything"}, {"job_ids": ["not-a-uuid"]}):
        response = alice_key.client.post("/api/v1/jobs/cancel", body, format="json")
        assert response.status_code == 422, body

    assert Job.objects.get(pk=job_id).status == "scheduled"


def test_an_ended_job_is_deleted_with_its_session_but_a_live_one_is_a_409(alice_key: Key, llm: ScriptedLLM) -> None:
    llm.push(text("ok"))
    job_id = submit(alice_key).json()["data"]["job_id"]
    session_id = Job.objects.get(pk=job_id).session_id

    assert alice_key.client.delete(f"/api/v1/jobs/{job_id}").status_code == 409
    assert Job.objects.filter(pk=job_id).exists()

    run_queued_job_turns()
    response = alice_key.client.delete(f"/api/v1/jobs/{job_id}")

    assert response.status_code == 200
    assert not Job.objects.filter(pk=job_id).exists()
    assert not Session.objects.filter(pk=session_id).exists()
    assert alice_key.client.get(f"/api/v1/jobs/{job_id}").status_code == 404


def test_another_key_cannot_delete_a_job(alice_key: Key, bob_key: Key) -> None:
    job_id = submit(alice_key, {"after_seconds": 60}).json()["data"]["job_id"]
    alice_key.client.post(f"/api/v1/jobs/{job_id}/cancel")

    assert bob_key.client.delete(f"/api/v1/jobs/{job_id}").status_code == 404
    assert Job.objects.filter(pk=job_id).exists()


def test_the_retention_sweep_deletes_only_jobs_ended_before_the_cutoff(alice_key: Key, settings: Any) -> None:
    old, recent, live = (submit(alice_key, {"after_seconds": 60}).json()["data"]["job_id"] for _ in range(3))
    for job_id in (old, recent):
        alice_key.client.post(f"/api/v1/jobs/{job_id}/cancel")
    Job.objects.filter(pk=old).update(finished_at=timezone.now() - timedelta(days=8))

    settings.JOB_RETENTION_DAYS = 0
    assert jobs_retention_sweep() == 0
    settings.JOB_RETENTION_DAYS = 7
    assert jobs_retention_sweep() == 1

    assert sorted(map(str, Job.objects.values_list("pk", flat=True))) == sorted([recent, live])


# --- wait / join ----------------------------------------------------------------------------


def _run_jobs_later(delay: float) -> threading.Thread:
    def run() -> None:
        from django.db import connection

        time.sleep(delay)
        try:
            run_queued_job_turns()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_wait_answers_the_job_when_it_ends(alice_key: Key, llm: ScriptedLLM) -> None:
    llm.push(text("done"))
    job_id = submit(alice_key).json()["data"]["job_id"]
    worker = _run_jobs_later(0.5)

    response = alice_key.client.get(f"/api/v1/jobs/{job_id}/wait?timeout=30")
    worker.join()

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "succeeded" and data["result"]["message"] == "done"


def test_wait_past_its_timeout_answers_the_job_as_it_is(alice_key: Key) -> None:
    job_id = submit(alice_key).json()["data"]["job_id"]
    assert start_queued_jobs() == ["started"]  # its turn stays queued: no worker runs it

    response = alice_key.client.get(f"/api/v1/jobs/{job_id}/wait?timeout=1")

    assert response.status_code == 200
    assert response.json()["data"]["status"] == "running"


@pytest.mark.parametrize("timeout", ["-1", "100000", "soon"])
def test_a_bad_wait_timeout_is_a_422(alice_key: Key, timeout: str) -> None:
    job_id = submit(alice_key).json()["data"]["job_id"]

    response = alice_key.client.get(f"/api/v1/jobs/{job_id}/wait?timeout={timeout}")

    assert response.status_code == 422
    assert response.json()["msg"].startswith("timeout: ")


def test_wait_on_another_keys_job_is_a_404_and_without_a_key_a_401(alice_key: Key, bob_key: Key, alice: Any) -> None:
    job_id = submit(alice_key).json()["data"]["job_id"]

    assert bob_key.client.get(f"/api/v1/jobs/{job_id}/wait?timeout=0").status_code == 404
    assert client_for(alice).get(f"/api/v1/jobs/{job_id}/wait?timeout=0").status_code == 401
    assert bob_key.client.get("/api/v1/jobs/0/wait?timeout=0").status_code == 404


def test_submit_with_wait_answers_the_finished_job(alice_key: Key, llm: ScriptedLLM) -> None:
    llm.push(text("waited"))
    worker = _run_jobs_later(0.5)

    response = submit(alice_key, {"wait": True, "wait_timeout": 30})
    worker.join()

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "succeeded" and data["result"]["message"] == "waited"


def test_submit_with_wait_past_the_timeout_is_the_usual_202(alice_key: Key) -> None:
    response = submit(alice_key, {"wait": True, "wait_timeout": 1})

    assert response.status_code == 202
    body = response.json()["data"]
    assert body["status"] == "queued" and set(body) == {"job_id", "session_id", "status", "links"}
    assert json.loads(json.dumps(body))["links"]["self"].endswith(body["job_id"])
