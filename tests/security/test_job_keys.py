"""An API key is its own principal in the jobs API too: idempotency keys, attachments and
usage are the key's own; staff cannot mint a key that acts for someone else."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from agents.models import Turn
from jobs.models import Job, JobApiKey, WebhookDelivery
from sessions.models import Session
from tests.conftest import make_user
from tests.security.keys import Key, job_session, make_key
from tests.support.llm_server import ScriptedLLM, text

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key_a(alice: Any) -> Key:
    return make_key(alice, "billing")


@pytest.fixture
def key_b(alice: Any) -> Key:
    return make_key(alice, "crm")


def submit(key: Key, prompt: str, idempotency_key: str, **extra: Any) -> Any:
    return key.client.post(
        "/api/v1/jobs",
        {"prompt": prompt, "mode": "lite", **extra},
        format="json",
        HTTP_IDEMPOTENCY_KEY=idempotency_key,
    )


def test_an_idempotency_key_of_one_api_key_is_neither_visible_nor_claimable_by_another(key_a: Key, key_b: Key) -> None:
    first_b = submit(key_b, "pay invoice 2291", "invoice-2291")
    # Key A probes B's predictable key with another body: no 409 tells it B used it.
    probe = submit(key_a, "anything", "invoice-2291")
    # B's retry still finds B's own job, not A's.
    retry_b = submit(key_b, "pay invoice 2291", "invoice-2291")

    assert (first_b.status_code, probe.status_code, retry_b.status_code) == (202, 202, 200)
    assert retry_b.json()["data"]["job_id"] == first_b.json()["data"]["job_id"]
    assert probe.json()["data"]["job_id"] != first_b.json()["data"]["job_id"]
    jobs = {(str(j.api_key_id), j.idempotency_key, j.prompt) for j in Job.objects.all()}
    assert jobs == {
        (str(key_b.obj.pk), "invoice-2291", "pay invoice 2291"),
        (str(key_a.obj.pk), "invoice-2291", "anything"),
    }


def test_the_same_api_key_reusing_an_idempotency_key_with_another_body_is_still_a_conflict(key_a: Key) -> None:
    submit(key_a, "pay invoice 2291", "invoice-2291")

    again = submit(key_a, "pay invoice 9999", "invoice-2291")

    assert again.status_code == 409
    assert again.json() == {
        "code": 409,
        "msg": "This Idempotency-Key was already used with a different request",
        "data": None,
    }
    assert Job.objects.count() == 1


def test_an_api_key_cannot_attach_its_owners_personal_files_to_a_job(alice_client: APIClient, key_a: Key) -> None:
    upload = SimpleUploadedFile("salary.pdf", b"private numbers", content_type="application/pdf")
    personal = alice_client.post("/api/v1/files", {"file": upload}, format="multipart").json()["data"]["file_id"]

    response = key_a.client.post(
        "/api/v1/jobs", {"prompt": "read it aloud", "mode": "lite", "attachments": [personal]}, format="json"
    )

    assert response.status_code == 404
    assert response.json() == {"code": 404, "msg": "File not found", "data": None}
    assert (Job.objects.count(), Session.objects.count(), Turn.objects.count()) == (0, 0, 0)


def test_an_api_keys_usage_counts_only_its_own_jobs(
    alice_client: APIClient, key_a: Key, key_b: Key, llm: ScriptedLLM
) -> None:
    llm.push(text("a", usage=(10, 1)))
    job_session(key_a)
    llm.push(text("b", usage=(200, 20)))
    job_session(key_b)

    mine = key_a.client.get("/api/v1/usage?days=1").json()["data"]["days"][0]
    owners = alice_client.get("/api/v1/usage?days=1").json()["data"]["days"][0]

    assert (mine["turns"], mine["jobs"], mine["prompt_tokens"], mine["completion_tokens"]) == (1, 1, 10, 1)
    assert (owners["turns"], owners["jobs"], owners["prompt_tokens"], owners["completion_tokens"]) == (2, 2, 210, 21)


def key_minter(*, superuser: bool = False) -> tuple[Client, Any]:
    user = make_user("keymaster", is_staff=True, is_superuser=superuser)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["add_jobapikey", "view_jobapikey", "change_jobapikey"])
    )
    client = Client()
    client.force_login(user)
    return client, user


def mint(client: Client, owner: Any) -> Any:
    # The admin's form posts every field it shows (the strategy comes preselected with its default).
    form = {"name": "minted", "owner": owner.pk, "default_multitask_strategy": "reject", "_save": "Save"}
    return client.post("/admin/jobs/jobapikey/add/", form)


def test_staff_cannot_mint_an_api_key_that_acts_for_a_superuser_or_another_user(alice: Any) -> None:
    root = make_user("root", is_staff=True, is_superuser=True)
    client, clerk = key_minter()

    for victim in (root, alice):
        response = mint(client, victim)
        assert response.status_code == 200  # the form again, with the error
        assert "Select a valid choice" in response.content.decode()
    assert JobApiKey.objects.count() == 0

    assert mint(client, clerk).status_code == 302
    assert list(JobApiKey.objects.values_list("owner_id", flat=True)) == [clerk.pk]


def test_staff_cannot_move_an_existing_api_key_to_another_owner(alice: Any) -> None:
    root = make_user("root", is_staff=True, is_superuser=True)
    client, clerk = key_minter()
    key = make_key(clerk, "mine").obj

    response = client.post(
        f"/admin/jobs/jobapikey/{key.pk}/change/",
        {"name": "mine", "owner": root.pk, "default_multitask_strategy": "enqueue", "_save": "Save"},
    )

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.owner_id == clerk.pk
    assert key.default_multitask_strategy == "enqueue"  # what staff may change, they did


def test_a_superuser_may_mint_an_api_key_for_another_user(alice: Any) -> None:
    client, _root = key_minter(superuser=True)

    assert mint(client, alice).status_code == 302
    assert list(JobApiKey.objects.values_list("owner_id", flat=True)) == [alice.pk]


def test_view_only_staff_cannot_redeliver_webhooks(key_a: Key) -> None:
    job = Job.objects.get(session_id=job_session(key_a))
    delivery = WebhookDelivery.objects.create(job=job, event="job.succeeded", url="https://example.com/h", body="{}")
    clerk = make_user("clerk", is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(codename="view_webhookdelivery"))
    client = Client()
    client.force_login(clerk)

    client.post("/admin/jobs/webhookdelivery/", {"action": "redeliver", "_selected_action": [str(delivery.pk)]})

    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [delivery.pk]
    assert 'value="redeliver"' not in client.get("/admin/jobs/webhookdelivery/").content.decode()
