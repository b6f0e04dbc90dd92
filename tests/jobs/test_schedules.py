"""Schedules: the API with its refusals, beat's tick (no double fires, missed fires, overlap
policies) and the jobs each fire starts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from jobs.models import Job, Schedule, ScheduleRun
from jobs.schedules import schedules_tick
from tests.conftest import client_for
from tests.jobs.conftest import Key, start_queued_jobs
from tests.jobs.test_jobs_api import run_queued_job_turns
from tests.support.llm_server import ScriptedLLM, text

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {
    "name": "digest",
    "cron": "0 7 * * MON-FRI",
    "timezone": "Europe/Berlin",
    "job": {"prompt": "Summarise", "mode": "lite"},
}


def create(key: Key, **changes: Any) -> Any:
    return key.client.post("/api/v1/schedules", {**BODY, **changes}, format="json")


def make_due(schedule_id: str, seconds_ago: float = 1.0) -> datetime:
    fire_at = timezone.now() - timedelta(seconds=seconds_ago)
    Schedule.objects.filter(pk=schedule_id).update(next_run_at=fire_at)
    return fire_at


def test_a_schedule_is_created_with_its_next_fire_time(alice_key: Key) -> None:
    response = create(alice_key, start_at="2030-01-01T00:00:00Z")

    assert response.status_code == 201
    data = response.json()["data"]
    # 2030-01-01 is a Tuesday; 07:00 in Berlin in winter is 06:00 UTC.
    assert data["next_run_at"] == "2030-01-01T06:00:00+00:00"
    assert {k: data[k] for k in ("name", "cron", "timezone", "enabled", "overlap_policy", "last_run_at")} == {
        "name": "digest",
        "cron": "0 7 * * MON-FRI",
        "timezone": "Europe/Berlin",
        "enabled": True,
        "overlap_policy": "skip",
        "last_run_at": None,
    }
    assert data["job"]["prompt"] == "Summarise"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cron": "61 * * * *"}, "cron: minute: 61 is outside 0-59"),
        ({"cron": "* * *"}, "cron: a cron expression has 5 fields"),
        ({"timezone": "Europe/Atlantis"}, "timezone: 'Europe/Atlantis' is not an IANA timezone"),
        ({"start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"}, "end_at: must be after start_at"),
        ({"overlap_policy": "whenever"}, "overlap_policy: "),
        ({"job": {"prompt": "   "}}, "job.prompt: must not be empty"),
        ({"job": {"prompt": "x", "mode": "turbo"}}, "job.mode: "),
    ],
)
def test_a_bad_schedule_is_a_422_that_says_which_field_and_creates_nothing(
    alice_key: Key, changes: dict[str, Any], message: str
) -> None:
    response = create(alice_key, **changes)

    assert response.status_code == 422
    assert response.json()["msg"].startswith(message), response.json()["msg"]
    assert Schedule.objects.count() == 0


def test_a_schedule_webhook_to_a_private_address_is_refused(alice_key: Key, settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = create(alice_key, job={"prompt": "x", "webhook_url": "http://127.0.0.1:9/hook"})

    assert response.status_code == 422 and "webhook_url" in response.json()["msg"]
    assert Schedule.objects.count() == 0


def test_a_key_sees_only_its_schedules_and_the_owner_sees_all_of_theirs(
    alice_key: Key, bob_key: Key, alice: Any
) -> None:
    mine = create(alice_key).json()["data"]["schedule_id"]
    bobs = create(bob_key).json()["data"]["schedule_id"]

    for method in ("get", "patch", "delete"):
        response = getattr(bob_key.client, method)(f"/api/v1/schedules/{mine}", {"enabled": False}, format="json")
        assert response.status_code == 404, method
    assert bob_key.client.post(f"/api/v1/schedules/{mine}/run").status_code == 404
    assert [s["schedule_id"] for s in bob_key.client.get("/api/v1/schedules").json()["data"]["schedules"]] == [bobs]
    owner_view = client_for(alice).get("/api/v1/schedules").json()["data"]["schedules"]
    assert [s["schedule_id"] for s in owner_view] == [mine]
    assert Schedule.objects.get(pk=mine).enabled is True


def test_patch_pauses_a_schedule_and_plans_again_when_resumed(alice_key: Key) -> None:
    schedule_id = create(alice_key).json()["data"]["schedule_id"]

    paused = alice_key.client.patch(f"/api/v1/schedules/{schedule_id}", {"enabled": False}, format="json")
    assert paused.status_code == 200 and paused.json()["data"]["next_run_at"] is None
    resumed = alice_key.client.patch(
        f"/api/v1/schedules/{schedule_id}", {"enabled": True, "cron": "30 6 * * *"}, format="json"
    )
    assert resumed.json()["data"]["cron"] == "30 6 * * *"
    assert resumed.json()["data"]["next_run_at"] is not None
    bad = alice_key.client.patch(f"/api/v1/schedules/{schedule_id}", {"cron": "nope"}, format="json")
    assert bad.status_code == 422
    assert Schedule.objects.get(pk=schedule_id).cron == "30 6 * * *"


def test_a_due_schedule_fires_once_even_when_two_beats_tick_at_the_same_time(alice_key: Key) -> None:
    schedule_id = create(alice_key, cron="* * * * *").json()["data"]["schedule_id"]
    fire_at = make_due(schedule_id)
    results: list[dict[str, int]] = []

    def beat() -> None:
        try:
            results.append(schedules_tick())
        finally:
            connection.close()

    beats = [threading.Thread(target=beat) for _ in range(2)]
    for thread in beats:
        thread.start()
    for thread in beats:
        thread.join()

    assert sum(r["fired"] for r in results) == 1
    (run,) = ScheduleRun.objects.filter(schedule_id=schedule_id)
    assert (run.fire_at, run.outcome, run.manual) == (fire_at, "started", False)
    job = Job.objects.get(pk=run.job_id)
    assert job.prompt == "Summarise" and job.metadata == {"schedule_id": schedule_id}
    assert job.api_key_id == alice_key.obj.pk
    assert Schedule.objects.get(pk=schedule_id).next_run_at > timezone.now()


def test_the_same_fire_instant_cannot_be_recorded_twice(alice_key: Key) -> None:
    from django.db import IntegrityError

    schedule_id = create(alice_key).json()["data"]["schedule_id"]
    moment = datetime(2030, 1, 1, 6, tzinfo=UTC)
    ScheduleRun.objects.create(schedule_id=schedule_id, fire_at=moment, outcome="started")

    with pytest.raises(IntegrityError):
        ScheduleRun.objects.create(schedule_id=schedule_id, fire_at=moment, outcome="started")


def test_a_fire_missed_during_downtime_is_recorded_and_starts_nothing(alice_key: Key) -> None:
    schedule_id = create(alice_key, cron="*/10 * * * *").json()["data"]["schedule_id"]
    now = timezone.now()
    last_mark = now.replace(minute=now.minute - now.minute % 10, second=0, microsecond=0)
    Schedule.objects.filter(pk=schedule_id).update(next_run_at=last_mark - timedelta(minutes=50))

    assert schedules_tick()["missed"] == 1

    (run,) = ScheduleRun.objects.filter(schedule_id=schedule_id)
    assert run.outcome == "missed" and run.job_id is None
    assert run.missed_count == 6  # the fire found late and the five after it, up to now
    assert Job.objects.count() == 0
    assert Schedule.objects.get(pk=schedule_id).next_run_at > timezone.now()


def test_skip_policy_skips_a_fire_while_the_previous_job_runs(alice_key: Key) -> None:
    schedule_id = create(alice_key, cron="* * * * *").json()["data"]["schedule_id"]
    first = alice_key.client.post(f"/api/v1/schedules/{schedule_id}/run").json()["data"]
    assert start_queued_jobs() == ["started"]  # as the jobs worker would
    make_due(schedule_id)

    schedules_tick()

    runs = alice_key.client.get(f"/api/v1/schedules/{schedule_id}/runs").json()["data"]
    # Newest fire time first: the manual run fired at "now", the cron fire was due a second before.
    assert [(r["outcome"], r["manual"]) for r in runs["runs"]] == [("started", True), ("skipped", False)]
    assert runs["runs"][0]["job_id"] == first["job_id"] and runs["runs"][0]["job_status"] == "running"
    assert runs["runs"][1]["job_id"] is None and runs["count"] == 2
    assert Job.objects.count() == 1


def test_enqueue_policy_starts_the_next_job_after_the_previous_one_ends(alice_key: Key, llm: ScriptedLLM) -> None:
    llm.set_default(text("ok"))
    schedule_id = create(alice_key, cron="* * * * *", overlap_policy="enqueue").json()["data"]["schedule_id"]
    alice_key.client.post(f"/api/v1/schedules/{schedule_id}/run")
    make_due(schedule_id)

    schedules_tick()
    assert list(
        ScheduleRun.objects.filter(schedule_id=schedule_id, manual=False).values_list("outcome", flat=True)
    ) == ["pending"]
    assert Job.objects.count() == 1

    run_queued_job_turns()  # the first job ends
    assert schedules_tick()["pending_started"] == 1

    assert sorted(ScheduleRun.objects.filter(schedule_id=schedule_id).values_list("outcome", flat=True)) == [
        "started",
        "started",
    ]
    assert Job.objects.count() == 2


def test_cancel_previous_policy_cancels_the_running_job_and_starts_a_new_one(alice_key: Key) -> None:
    schedule_id = create(alice_key, cron="* * * * *", overlap_policy="cancel_previous").json()["data"]["schedule_id"]
    first = alice_key.client.post(f"/api/v1/schedules/{schedule_id}/run").json()["data"]["job_id"]
    make_due(schedule_id)

    schedules_tick()

    assert Job.objects.get(pk=first).cancel_requested_at is not None
    assert Job.objects.count() == 2


def test_a_disabled_or_ended_schedule_does_not_fire(alice_key: Key) -> None:
    ended = create(alice_key, end_at="2020-01-01T00:00:00Z", start_at="2019-01-01T00:00:00Z").json()["data"]
    assert ended["next_run_at"] is None
    paused = create(alice_key, enabled=False).json()["data"]
    assert paused["next_run_at"] is None

    assert schedules_tick() == {"fired": 0, "missed": 0, "pending_started": 0, "armed": 0}
    assert Job.objects.count() == 0


def test_a_users_own_schedule_runs_jobs_without_a_key_and_refuses_webhooks(alice: Any) -> None:
    client = client_for(alice)
    refused = client.post(
        "/api/v1/schedules", {**BODY, "job": {"prompt": "x", "webhook_url": "https://example.com/h"}}, format="json"
    )
    assert refused.status_code == 422 and "API key" in refused.json()["msg"]

    schedule_id = client.post("/api/v1/schedules", BODY, format="json").json()["data"]["schedule_id"]
    run = client.post(f"/api/v1/schedules/{schedule_id}/run").json()["data"]
    assert start_queued_jobs() == ["started"]  # as the jobs worker would

    job = Job.objects.get(pk=run["job_id"])
    assert job.api_key_id is None and job.owner_id == alice.pk and job.status == "running"


def test_deleting_a_schedule_keeps_the_jobs_it_started(alice_key: Key) -> None:
    schedule_id = create(alice_key).json()["data"]["schedule_id"]
    job_id = alice_key.client.post(f"/api/v1/schedules/{schedule_id}/run").json()["data"]["job_id"]

    assert alice_key.client.delete(f"/api/v1/schedules/{schedule_id}").status_code == 200

    assert not Schedule.objects.filter(pk=schedule_id).exists()
    assert Job.objects.filter(pk=job_id).exists()
