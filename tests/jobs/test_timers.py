"""Time in jobs is event-driven: a delayed start and a timeout are Celery tasks with a countdown,
so they happen with no beat at all; beat's slow tick only catches what was lost. Real worker
processes, the real broker and database; only the model is scripted."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from anker_project.redis_client import get_redis
from jobs.models import Job
from jobs.services import job_timeout, job_wake, jobs_tick
from tests.jobs.conftest import Key, queued
from tests.jobs.test_jobs_api import job_of, run_queued_job_turns, submit
from tests.support.llm_server import ScriptedLLM, text

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def timers(name: str) -> list[dict[str, Any]]:
    return [m for m in queued("default") if m["task"] == name]


def test_a_delayed_job_starts_when_due_with_no_beat_running(
    alice_key: Key, llm: ScriptedLLM, worker_factory: Any
) -> None:
    llm.set_default(text("later"))
    worker_factory("jobs,default", "jobs-timers")  # no beat: nothing ticks

    job_id = submit(alice_key, {"after_seconds": 2}).json()["data"]["job_id"]

    assert job_of(alice_key, job_id)["status"] == "scheduled"
    wait_until(lambda: job_of(alice_key, job_id)["status"] == "succeeded", 30, "the delayed job to run")
    job = Job.objects.get(pk=job_id)
    assert job.not_before is not None and job.started_at is not None and job.started_at >= job.not_before
    assert job_of(alice_key, job_id)["result"]["message"] == "later"


def test_a_timeout_stops_a_running_job_with_no_beat_running(
    alice_key: Key, llm: ScriptedLLM, worker_factory: Any
) -> None:
    # An answer that streams for a minute: only the timeout ends it.
    llm.set_default(text("word " * 120, chunk_size=1, delay_per_chunk=0.1))
    worker_factory("jobs,default", "jobs-timeout")

    job_id = submit(alice_key, {"timeout_s": 2}).json()["data"]["job_id"]

    view = wait_until(
        lambda: (v := job_of(alice_key, job_id))["status"] in ("failed", "succeeded", "cancelled") and v,
        40,
        "the job to end",
    )
    assert (view["status"], view["error"]) == ("failed", "The job ran longer than its timeout of 2 s.")


def test_a_lost_wake_is_caught_by_the_safety_net_tick(alice_key: Key, llm: ScriptedLLM) -> None:
    llm.push(text("caught"))
    job_id = submit(alice_key, {"after_seconds": 1}).json()["data"]["job_id"]
    (wake,) = timers("jobs.wake")
    assert wake["kwargs"] == {"job_id": job_id}

    get_redis().delete("default")  # the broker lost the timer
    time.sleep(1.1)
    counts = jobs_tick()

    assert counts["due"] == 1 and counts["started"] == 1
    assert run_queued_job_turns() == ["completed"]
    assert job_of(alice_key, job_id)["status"] == "succeeded"


def test_a_far_off_timer_is_armed_by_the_tick_when_it_comes_near(
    alice_key: Key, llm: ScriptedLLM, settings: Any
) -> None:
    settings.JOB_TIMER_MAX_SECONDS = 10
    settings.JOBS_TICK_SECONDS = 60
    job_id = submit(alice_key, {"after_seconds": 3600}).json()["data"]["job_id"]
    assert timers("jobs.wake") == []  # too far off for a countdown task

    assert jobs_tick()["armed"] == 0  # not near yet
    Job.objects.filter(pk=job_id).update(not_before=timezone.now() + timedelta(seconds=90))
    assert jobs_tick()["armed"] == 1

    (wake,) = timers("jobs.wake")
    assert wake["kwargs"] == {"job_id": job_id}
    assert job_wake(job_id=job_id) == "early"  # a wake before its time leaves the job scheduled
    assert Job.objects.get(pk=job_id).status == "scheduled"


def test_timers_are_idempotent(alice_key: Key, llm: ScriptedLLM) -> None:
    llm.push(text("once"))
    job_id = submit(alice_key, {"after_seconds": 1, "timeout_s": 600}).json()["data"]["job_id"]
    Job.objects.filter(pk=job_id).update(not_before=timezone.now())

    assert job_wake(job_id=job_id) == "queued"
    assert job_wake(job_id=job_id) == "not_scheduled"  # a duplicate timer does nothing
    assert Job.objects.get(pk=job_id).status == "running"
    assert job_timeout(job_id=job_id) == "early"  # its timeout is ten minutes off
    assert run_queued_job_turns() == ["completed"]
    assert job_timeout(job_id=job_id) == "not_running"
    assert job_of(alice_key, job_id)["status"] == "succeeded"


def test_a_cancelled_scheduled_job_is_not_woken(alice_key: Key) -> None:
    job_id = submit(alice_key, {"after_seconds": 1}).json()["data"]["job_id"]
    alice_key.client.post(f"/api/v1/jobs/{job_id}/cancel")
    Job.objects.filter(pk=job_id).update(not_before=timezone.now())

    assert job_wake(job_id=job_id) == "not_scheduled"
    assert Job.objects.get(pk=job_id).status == "cancelled"


def _beat_schedule(**env: str) -> dict[str, float]:
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json; from anker_project.settings import CELERY_BEAT_SCHEDULE as s; "
        "print(json.dumps({k: v['schedule'] for k, v in s.items()}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("JOBS_TICK_SECONDS", "JOB_DISPATCH_SECONDS")}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, timeout=60, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_beat_runs_slow_safety_nets_and_no_pool_refill_without_a_pool() -> None:
    schedule = _beat_schedule(SANDBOX_POOL_SIZE="0")
    assert schedule["jobs-tick"] >= 60 and schedule["schedules-tick"] >= 60
    assert "sandbox-pool-refill" not in schedule
    assert "sandbox-pool-refill" in _beat_schedule(SANDBOX_POOL_SIZE="2")


# --- schedules ------------------------------------------------------------------------------


def test_a_schedule_arms_a_timer_for_its_next_fire_and_the_timer_fires_it_once(alice_key: Key) -> None:
    from jobs.models import Schedule, ScheduleRun
    from jobs.schedules import schedule_due
    from tests.jobs.test_schedules import create, make_due

    schedule_id = create(alice_key, cron="* * * * *").json()["data"]["schedule_id"]
    next_run_at = Schedule.objects.get(pk=schedule_id).next_run_at
    assert next_run_at is not None
    (armed,) = timers("jobs.schedule_due")
    assert armed["kwargs"] == {"schedule_id": schedule_id, "fire_at": next_run_at.isoformat()}
    get_redis().delete("default")

    fire_at = make_due(schedule_id)
    assert schedule_due(schedule_id=schedule_id, fire_at=next_run_at.isoformat()) == "stale"  # not its fire any more
    assert schedule_due(schedule_id=schedule_id, fire_at=fire_at.isoformat()) == "fired"
    assert schedule_due(schedule_id=schedule_id, fire_at=fire_at.isoformat()) == "stale"  # a duplicate timer

    (run,) = ScheduleRun.objects.filter(schedule_id=schedule_id)
    assert run.outcome == "started" and Job.objects.filter(pk=run.job_id).exists()
    following = Schedule.objects.get(pk=schedule_id).next_run_at
    assert following is not None and following > timezone.now()
    (armed,) = timers("jobs.schedule_due")  # the next fire is armed at once
    assert armed["kwargs"] == {"schedule_id": schedule_id, "fire_at": following.isoformat()}


def test_an_enqueued_run_starts_when_the_previous_job_ends_without_a_tick(alice_key: Key, llm: ScriptedLLM) -> None:
    from jobs.models import ScheduleRun
    from jobs.schedules import schedule_job_ended, schedules_tick
    from tests.jobs.test_schedules import create, make_due

    llm.set_default(text("ok"))
    schedule_id = create(alice_key, cron="* * * * *", overlap_policy="enqueue").json()["data"]["schedule_id"]
    alice_key.client.post(f"/api/v1/schedules/{schedule_id}/run")
    make_due(schedule_id)
    schedules_tick()  # the cron fire meets the running manual one: pending
    get_redis().delete("default")

    run_queued_job_turns()  # the first job ends

    (ended,) = timers("jobs.schedule_job_ended")
    assert ended["kwargs"] == {"schedule_id": schedule_id}
    assert schedule_job_ended(schedule_id=schedule_id) is True
    outcomes = ScheduleRun.objects.filter(schedule_id=schedule_id).values_list("outcome", flat=True)
    assert sorted(outcomes) == ["started", "started"]


def test_a_far_off_webhook_retry_is_sent_by_the_tick_when_it_comes_near(alice_key: Key, settings: Any) -> None:
    from jobs.models import WebhookDelivery

    settings.WEBHOOK_RETRY_SCHEDULE = [1, 3600]
    settings.WEBHOOK_COUNTDOWN_MAX_SECONDS = 300
    job = Job.objects.create(owner=alice_key.obj.owner, api_key=alice_key.obj, mode="lite", prompt="x")
    near = WebhookDelivery.objects.create(
        job=job, event="job.succeeded", url="http://127.0.0.1:9/", body="{}", attempt_count=2
    )
    WebhookDelivery.objects.filter(pk=near.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=30))
    sent_with_countdown = WebhookDelivery.objects.create(
        job=job, event="job.failed", url="http://127.0.0.1:9/", body="{}", attempt_count=1
    )
    WebhookDelivery.objects.filter(pk=sent_with_countdown.pk).update(
        next_attempt_at=timezone.now() + timedelta(seconds=30)
    )

    assert jobs_tick()["armed"] == 1
    assert [m["kwargs"] for m in timers("jobs.webhook_deliver")] == [{"delivery_id": str(near.pk)}]
