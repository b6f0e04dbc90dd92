"""Jobs across processes: real Celery workers run the turns and deliver signed webhooks to a
receiver on 127.0.0.1; a chat turn is not held up by a busy jobs pool."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from agents.models import Turn
from jobs.models import DeliveryStatus, Job, WebhookDelivery
from jobs.services import webhook_attempt, webhook_enqueue
from tests.conftest import client_for
from tests.jobs.conftest import Key, Receiver
from tests.support.llm_server import ScriptedLLM, slow, text, user_contains

pytestmark = pytest.mark.django_db(transaction=True)


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does: recompute the HMAC of `<timestamp>.<raw body>`, compare in constant time."""
    expected = hmac.new(secret.encode(), f"{headers['x-anker-timestamp']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(f"sha256={expected.hexdigest()}", headers["x-anker-signature"])


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_finished_job_posts_a_signed_webhook(
    alice_key: Key, llm: ScriptedLLM, receiver: Receiver, worker_factory: Any
) -> None:
    llm.set_default(text("ok", usage=(5, 1)))
    worker_factory("jobs,default", "jobs-hooks")

    job_id = alice_key.client.post(
        "/api/v1/jobs",
        {"prompt": "Say ok", "mode": "lite", "webhook_url": receiver.url, "metadata": {"order": 42}},
        format="json",
    ).json()["data"]["job_id"]
    (hook,) = receiver.wait_for(1, timeout=30)

    assert verify(alice_key.obj.webhook_secret, hook.headers, hook.body)
    assert abs(int(hook.headers["x-anker-timestamp"]) - time.time()) < 60
    assert not verify("another-secret", hook.headers, hook.body)
    body = json.loads(hook.body)
    job = Job.objects.get()
    assert {
        k: body[k] for k in ("event", "job_id", "session_id", "status", "result", "error", "usage", "metadata")
    } == {
        "event": "job.succeeded",
        "job_id": job_id,
        "session_id": job.session_id,
        "status": "succeeded",
        "result": {"message": "ok", "files": []},
        "error": None,
        "usage": {"prompt_tokens": 5, "completion_tokens": 1},
        "metadata": {"order": 42},
    }
    delivery = wait_until(
        lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).first(), 10, "the delivery"
    )
    assert [(a.number, a.status_code, a.error) for a in delivery.attempts.all()] == [(1, 200, "")]


def test_a_failing_receiver_is_retried_until_one_delivery_succeeds(
    alice_key: Key, llm: ScriptedLLM, receiver: Receiver, worker_factory: Any
) -> None:
    llm.set_default(text("ok"))
    receiver.statuses = [500, 503]
    worker_factory("jobs,default", "jobs-retry", WEBHOOK_RETRY_SCHEDULE="0.3,0.3,0.3")

    alice_key.client.post(
        "/api/v1/jobs", {"prompt": "Say ok", "mode": "lite", "webhook_url": receiver.url}, format="json"
    )
    received = receiver.wait_for(3, timeout=30)

    delivery = wait_until(
        lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).first(), 10, "the delivery"
    )
    time.sleep(1.0)  # no late duplicate arrives
    assert len(receiver.received) == 3
    assert [json.loads(r.body) == json.loads(received[0].body) for r in received] == [True] * 3
    assert WebhookDelivery.objects.count() == 1
    assert [(a.number, a.status_code) for a in delivery.attempts.all()] == [(1, 500), (2, 503), (3, 200)]
    assert delivery.attempt_count == 3


def test_delivery_checks_the_target_again_and_refuses_a_private_address(
    alice_key: Key, receiver: Receiver, settings: Any
) -> None:
    # Accepted at submission (allowed then); by delivery the address is no longer allowed,
    # as when a public name is re-pointed at an internal address (DNS rebinding).
    alice_key.client.post(
        "/api/v1/jobs", {"prompt": "Say ok", "mode": "lite", "webhook_url": receiver.url}, format="json"
    )
    job = Job.objects.get()
    job.status = "succeeded"
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    delivery = webhook_enqueue(job=job)
    assert delivery is not None

    assert webhook_attempt(delivery_id=str(delivery.id)) == "retry"

    (attempt,) = delivery.attempts.all()
    assert attempt.status_code is None
    assert "not allowed" in attempt.error
    assert receiver.received == []


def test_a_webhook_body_is_capped_and_says_where_the_full_result_is(alice_key: Key, settings: Any) -> None:
    settings.WEBHOOK_MAX_BODY_BYTES = 4000
    alice_key.client.post("/api/v1/jobs", {"prompt": "Say ok", "mode": "lite", "webhook_url": "http://127.0.0.1:9/"})
    job = Job.objects.get()
    job.status = "succeeded"
    job.result = {"message": "x" * 10_000, "files": []}

    delivery = webhook_enqueue(job=job)

    assert delivery is not None
    body = json.loads(delivery.body)
    assert len(delivery.body.encode()) <= 4000
    assert body["result"]["truncated"] is True
    assert body["result"]["message"].startswith("xxxx")
    assert body["result"]["message"].endswith(f"the full result is at GET /api/v1/jobs/{job.id}]")


def test_a_busy_jobs_pool_does_not_delay_a_chat_turn(
    alice_key: Key, alice: Any, llm: ScriptedLLM, worker_factory: Any
) -> None:
    llm.on(user_contains("batch"), slow(text("batch done"), delay_before_first_byte=2.0))
    llm.set_default(text("chat answer"))
    worker_factory("jobs", "jobs-pool", concurrency=1)
    worker_factory("turns", "turns-pool", concurrency=2)
    for i in range(5):
        alice_key.client.post("/api/v1/jobs", {"prompt": f"batch {i}", "mode": "lite"}, format="json")
    wait_until(lambda: Turn.objects.filter(status="running", message__startswith="batch").exists(), 20, "a job turn")

    chat = client_for(alice)
    session_id = chat.put("/api/v1/sessions", {"mode": "lite"}, format="json").json()["data"]["session_id"]
    chat.post(f"/api/v1/sessions/{session_id}/chat", {"message": "hi", "timestamp": 0}, format="json").close()
    wait_until(lambda: Turn.objects.filter(session_id=session_id, status="completed").exists(), 20, "the chat turn")

    # The chat did not queue behind the batch (5 jobs x 2 s on one slot): most of it is still to do.
    finished_jobs = Job.objects.filter(status="succeeded").count()
    assert finished_jobs <= 2, finished_jobs
