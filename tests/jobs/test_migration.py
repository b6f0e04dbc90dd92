"""The job models moved from `agents` to `jobs` with state-only migrations: a database made
before the move keeps its tables, its rows and its content types."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from jobs.models import Job, JobApiKey, WebhookDelivery

BEFORE_MOVE = [("agents", "0002_jobs"), ("jobs", None)]


def _migrate(targets: list[tuple[str, str | None]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def _leaves() -> list[tuple[str, str | None]]:
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_a_database_at_the_old_head_migrates_to_the_jobs_app_keeping_its_rows_and_content_types() -> None:
    old = _migrate(BEFORE_MOVE)
    assert "agents_job" in connection.introspection.table_names()
    user = get_user_model().objects.create_user(username="migrating", password="x")
    old_key_model = old.get_model("agents", "JobApiKey")
    key = old_key_model.objects.create(
        id="pfx.hash", prefix="pfx", hashed_key="hash", name="legacy", owner_id=user.pk, webhook_secret="whsec_old"
    )
    old_job = old.get_model("agents", "Job").objects.create(
        owner_id=user.pk, api_key_id=key.pk, mode="lite", prompt="made before the move", status="succeeded"
    )
    old.get_model("agents", "WebhookDelivery").objects.create(
        job_id=old_job.pk, event="job.succeeded", url="https://hooks.example.com/x", body="{}"
    )
    ContentType.objects.clear_cache()
    job_type_id = ContentType.objects.get_or_create(app_label="agents", model="job")[0].pk

    _migrate(_leaves())

    job = Job.objects.get(pk=old_job.pk)
    assert (job.prompt, job.status, job.owner_id, job.api_key_id) == (
        "made before the move",
        "succeeded",
        user.pk,
        key.pk,
    )
    assert JobApiKey.objects.get(pk=key.pk).webhook_secret == "whsec_old"
    assert list(WebhookDelivery.objects.filter(job=job).values_list("event", flat=True)) == ["job.succeeded"]
    assert Job._meta.db_table == "agents_job"
    ContentType.objects.clear_cache()
    moved = ContentType.objects.get(pk=job_type_id)
    assert (moved.app_label, moved.model) == ("jobs", "job")
    assert not ContentType.objects.filter(app_label="agents", model="job").exists()
