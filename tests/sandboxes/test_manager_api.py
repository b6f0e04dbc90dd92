"""The sandbox manager API (seed 000's sandbox-manager): staff list, start and destroy real
sandboxes (local jails); everyone else finds no such URL."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from anker_project.redis_client import get_redis
from jobs.models import JobApiKey
from sandboxes.models import Sandbox
from sandboxes.services import sandbox_acquire, sandbox_create
from sandboxes.tasks import create_for_pool
from sessions.models import Session
from tests.conftest import client_for, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_client(db: None) -> APIClient:
    return client_for(make_user("operator", is_staff=True))


def _queued(queue: str) -> list[str]:
    return [json.loads(raw)["headers"]["task"] for raw in get_redis().lrange(queue, 0, -1)]


def test_staff_list_every_sandbox_with_owner_lease_and_isolation_but_no_endpoint(
    staff_client: APIClient, local_backend: str, alice: Any
) -> None:
    session = Session.objects.create(owner=alice)
    leased = sandbox_acquire(session_id=session.id)
    pooled = sandbox_create()

    response = staff_client.get("/api/v1/sandboxes?status=live")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["count"] == 2
    by_id = {s["sandbox_id"]: s for s in data["sandboxes"]}
    mine = by_id[str(leased.sandbox_id)]
    assert (mine["status"], mine["backend"], mine["session_id"], mine["owner"]) == (
        "in_use",
        "local",
        session.id,
        "alice",
    )
    assert mine["lease_expires_at"] is not None and mine["isolation"] != ""
    assert (by_id[str(pooled.pk)]["status"], by_id[str(pooled.pk)]["owner"]) == ("ready", None)
    raw = json.dumps(data)
    for secret in (pooled.token, pooled.tool_api_url or "no-url", pooled.tool_api_socket or "no-socket"):
        assert secret not in raw


def test_staff_destroy_a_live_sandbox_and_a_second_destroy_is_a_409(
    staff_client: APIClient, local_backend: str
) -> None:
    pooled = sandbox_create()

    response = staff_client.delete(f"/api/v1/sandboxes/{pooled.pk}")

    assert response.status_code == 200
    assert response.json()["data"]["status"] in ("stopping", "stopped")
    assert Sandbox.objects.get(pk=pooled.pk).status in ("stopping", "stopped")
    again = staff_client.delete(f"/api/v1/sandboxes/{pooled.pk}")
    assert again.status_code == 409
    assert staff_client.delete("/api/v1/sandboxes/not-a-uuid").status_code == 404


def test_staff_start_one_into_the_pool_on_the_sandboxes_queue(staff_client: APIClient, local_backend: str) -> None:
    get_redis().delete("sandboxes")

    response = staff_client.post("/api/v1/sandboxes")

    assert response.status_code == 202
    assert response.json()["data"]["queued"] is True
    assert _queued("sandboxes") == ["sandboxes.create_for_pool"]
    raw = get_redis().lrange("sandboxes", 0, -1)[0]
    _args, kwargs, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
    get_redis().delete("sandboxes")
    # What the worker then runs: one more ready sandbox, leased to nobody.
    sandbox_id = create_for_pool(**kwargs)
    sandbox = Sandbox.objects.get(pk=sandbox_id)
    assert (sandbox.status, sandbox.session_id) == ("ready", None)


@pytest.mark.parametrize("who", ["user", "api_key", "anonymous"])
def test_the_sandbox_manager_is_a_404_for_anyone_but_staff(who: str, local_backend: str) -> None:
    pooled = sandbox_create()
    user = make_user("tenant")
    client = APIClient()
    if who == "user":
        client = client_for(user)
    elif who == "api_key":
        _, raw = JobApiKey.objects.create_key(owner=user, name="k")
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    for method, path in [
        ("get", "/api/v1/sandboxes"),
        ("post", "/api/v1/sandboxes"),
        ("get", f"/api/v1/sandboxes/{pooled.pk}"),
        ("delete", f"/api/v1/sandboxes/{pooled.pk}"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == 404

    assert Sandbox.objects.get(pk=pooled.pk).status == "ready"


def test_a_bad_status_filter_is_a_422(staff_client: APIClient) -> None:
    response = staff_client.get("/api/v1/sandboxes?status=exploded")

    assert response.status_code == 422
    assert response.json()["msg"].startswith("status: ")


def test_the_api_docs_are_at_the_seeds_docs_path_too(anon_client: APIClient) -> None:
    for path in ("/docs", "/api/docs"):
        response = anon_client.get(path)
        assert response.status_code == 200, path
        assert b"swagger-ui" in response.content
        assert b"/api/schema" in response.content
