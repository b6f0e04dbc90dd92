"""`/api/v1/health`: up/down for everyone, the report for staff, one worker broadcast per cache period."""

from __future__ import annotations

import json
from base64 import b64decode
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from anker_project import mongo
from anker_project.health import worker_check
from tests.conftest import client_for, make_user


@pytest.fixture
def mongo_down(settings: Any) -> Iterator[None]:
    settings.MONGODB_URL = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300"
    mongo.reset()
    yield
    mongo.reset()


@pytest.fixture(autouse=True)
def fresh_worker_answer() -> Iterator[None]:
    worker_check.forget()
    yield
    worker_check.forget()


@pytest.mark.django_db
def test_the_public_learns_only_that_anker_is_down_not_which_hosts_failed(
    anon_client: APIClient, mongo_down: None
) -> None:
    response = anon_client.get("/api/v1/health")

    assert response.status_code == 503
    assert response.json() == {"code": 503, "msg": "unhealthy", "data": {"status": "down"}}
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.django_db
def test_a_logged_in_non_staff_user_gets_no_report_either(alice_client: APIClient, mongo_down: None) -> None:
    response = alice_client.get("/api/v1/health")

    assert response.status_code == 503
    assert response.json()["data"] == {"status": "down"}


@pytest.mark.django_db
def test_staff_get_the_report_of_every_component(mongo_down: None) -> None:
    staff = client_for(make_user("ops", is_staff=True))

    response = staff.get("/api/v1/health")

    assert response.status_code == 503
    data = response.json()["data"]
    assert (data["status"], data["database"], data["redis"]) == ("down", "ok", "ok")
    assert data["mongo"].startswith("error: ServerSelectionTimeoutError")
    assert data["worker"] == "error: RuntimeError: no Celery worker answered"


def _pings(pubsub: redis.client.PubSub) -> int:
    """Celery control broadcasts seen on the pidbox channel that are `ping`s."""
    count = 0
    while (message := pubsub.get_message(timeout=0.5)) is not None:
        if message["type"] != "pmessage":
            continue
        body = json.loads(b64decode(json.loads(message["data"])["body"]))
        count += body["method"] == "ping"
    return count


@pytest.mark.django_db
def test_repeated_health_calls_broadcast_one_worker_ping_per_cache_period(
    anon_client: APIClient, settings: Any
) -> None:
    settings.HEALTH_WORKER_CACHE_SECONDS = 600
    connection = redis.Redis.from_url(django_settings.REDIS_URL)
    db = connection.connection_pool.connection_kwargs.get("db", 0)
    pubsub = connection.pubsub()
    pubsub.psubscribe(f"/{db}.celery.pidbox*")
    pubsub.get_message(timeout=1)  # the subscription's confirmation
    try:
        statuses = [anon_client.get("/api/v1/health").status_code for _ in range(4)]
        pings = _pings(pubsub)
    finally:
        pubsub.close()
        connection.close()

    assert statuses == [503, 503, 503, 503]  # no worker runs in this test
    assert pings == 1


@pytest.mark.django_db
def test_an_api_key_of_a_staff_member_gets_no_report(mongo_down: None) -> None:
    from jobs.models import JobApiKey

    _, raw = JobApiKey.objects.create_key(owner=make_user("ops-bot", is_staff=True), name="monitor")
    key_client = APIClient()
    key_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    response = key_client.get("/api/v1/health")

    assert response.status_code == 503
    assert response.json()["data"] == {"status": "down"}
